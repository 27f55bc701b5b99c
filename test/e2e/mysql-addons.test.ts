import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removePlatformData } from '../support/data-dir.ts';
import { client } from '../support/http.ts';
import { mariadbRows } from '../support/mariadb-cli.ts';
import { backUpAndWait, operationEnded } from '../support/operations.ts';
import {
  type PlatformProcess,
  restartUntilRunning,
  startPlatformProcess,
} from '../support/platform-process.ts';

/**
 * MySQL addons on the local target, as a user meets them: the API over HTTP, a real MariaDB
 * server per addon, and the real `mariadb` client. Backups of both kinds restore every table to
 * its CHECKSUM TABLE at backup time, and objects created since are gone.
 */
const TOKEN = 'e2e-mysql-token-0123456789';
const PROJECT = 'mysql-e2e';
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;
let addonId: string;
let credentials: {
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
  uri: string;
};
const base = () => `/v1/projects/${PROJECT}/addons/${addonId}`;

/** Runs statements on the addon with the `mariadb` command-line client; rows as tab-separated fields. */
const mariadb = (statements: string, database = credentials.database): string[][] =>
  mariadbRows(credentials, statements, database);

/** CHECKSUM TABLE of every base table, and the names of the other objects in the database. */
const fingerprint = () => {
  const tables = mariadb(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
  ).map(([name]) => name as string);
  const sums: Record<string, string> = {};
  for (const table of tables) {
    const [row] = mariadb(`CHECKSUM TABLE \`${table}\` EXTENDED`);
    sums[table] = row?.[1] ?? '';
  }
  const objects = mariadb(`
    SELECT CONCAT('view ', table_name) FROM information_schema.views WHERE table_schema = DATABASE()
    UNION ALL SELECT CONCAT('trigger ', trigger_name) FROM information_schema.triggers WHERE trigger_schema = DATABASE()
    UNION ALL SELECT CONCAT('routine ', routine_name) FROM information_schema.routines WHERE routine_schema = DATABASE()
    ORDER BY 1`).map(([name]) => name as string);
  return { sums, objects };
};

const waitForOperation = (operationId: string) => operationEnded(api, PROJECT, operationId);

const backUp = async (body: Record<string, unknown>) => {
  const { backupId, operation } = await backUpAndWait(api, PROJECT, base(), body);
  expect(operation.error).toBeNull();
  return (await api('GET', `${base()}/backups/${backupId}`)).body;
};

const restore = async (backupId: string) => {
  const response = await api('POST', `${base()}/backups/${backupId}/restore`);
  expect(response.status).toBe(202);
  return waitForOperation(response.body.operation.id);
};

const mutate = () =>
  mariadb(`
    UPDATE accounts SET balance = 0 WHERE id % 3 = 0;
    DELETE FROM entries WHERE id % 2 = 0;
    DROP VIEW rich_accounts;
    DROP TABLE entries;
    CREATE TABLE created_after_backup (id int PRIMARY KEY);
    INSERT INTO created_after_backup VALUES (1);
    CREATE VIEW created_view AS SELECT id FROM created_after_backup;`);

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-mysql-'));
  platform = await startPlatformProcess({ ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN });
  api = client(platform.url, TOKEN);
}, 120_000);

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await removePlatformData(dataDir);
});

describe('MySQL addons on the local target (MariaDB)', () => {
  let atBackup: ReturnType<typeof fingerprint>;
  let dump: { id: string; sha256: string; sizeBytes: number };
  let snapshot: { id: string };

  it('says in the catalog that the local target runs MariaDB 10.11', async () => {
    const types = (await api('GET', '/v1/addon-types')).body.items;
    const mysql = types.find((type: { engine: string }) => type.engine === 'mysql');
    expect(mysql).toMatchObject({ defaultVersion: '10.11', defaultTls: false });
    expect(mysql.capabilities).toMatchObject({
      provision: true,
      dumpBackup: true,
      snapshotBackup: true,
      snapshotDownload: false,
    });
    expect(`${mysql.service} ${mysql.notes.join(' ')}`).toMatch(/MariaDB/);
  });

  it('refuses what the local target cannot do, each a 422 naming the field', async () => {
    const refused = async (body: Record<string, unknown>, path: string) => {
      const response = await api('POST', `/v1/projects/${PROJECT}/addons`, {
        body: { name: 'refused', engine: 'mysql', ...body },
      });
      expect(response.status).toBe(422);
      expect(response.headers.get('content-type')).toMatch(/problem\+json/);
      expect(response.body.errors.map((issue: { path: string }) => issue.path)).toContain(path);
    };
    await refused({ version: '8.4' }, 'body.version');
    await refused({ plan: 'huge' }, 'body.plan');
    await refused({ publicAccess: true }, 'body.publicAccess');
    await refused({ replicas: 6 }, 'body.replicas');
  });

  it('creates an addon whose customer user has every privilege on its database and nothing global', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'shop', engine: 'mysql' },
    });
    expect(created.status).toBe(202);
    addonId = created.body.addon.id;
    expect((await waitForOperation(created.body.operation.id)).status).toBe('completed');
    expect((await api('GET', base())).body).toMatchObject({
      status: 'running',
      engine: 'mysql',
      version: '10.11',
    });
    credentials = (await api('GET', `${base()}/credentials`)).body;
    expect(credentials.uri).toMatch(/^mysql:\/\//);
    expect(credentials.host).toBe('127.0.0.1');
    const [version] = mariadb('SELECT VERSION()');
    expect(version?.[0]).toMatch(/^10\.11\..*MariaDB/);
    const grants = mariadb('SHOW GRANTS').map(([grant]) => grant as string);
    expect(grants.filter((grant) => / ON \*\.\* /.test(grant))).toEqual([
      expect.stringMatching(/^GRANT USAGE ON \*\.\* TO/),
    ]);
    expect(grants.some((grant) => grant.includes(`ALL PRIVILEGES ON \`${credentials.database}\`.*`))).toBe(
      true,
    );
    expect(() => mariadb('CREATE DATABASE someone_elses')).toThrow(/denied/);
    expect(() => mariadb('SELECT user FROM mysql.user')).toThrow(/denied/);
  });

  it('takes a zstd dump and a snapshot of real data, with the size, version and SHA-256 recorded', async () => {
    mariadb(`
      CREATE TABLE accounts (id int PRIMARY KEY, owner varchar(64), balance decimal(12,2));
      INSERT INTO accounts SELECT seq, CONCAT('owner ', seq), seq * 10.5 FROM seq_1_to_5000;
      CREATE TABLE entries (id bigint AUTO_INCREMENT PRIMARY KEY, account int, amount decimal(12,2), note text,
        FOREIGN KEY (account) REFERENCES accounts (id));
      INSERT INTO entries (account, amount, note) SELECT 1 + seq % 5000, seq, REPEAT('x', seq % 50) FROM seq_1_to_20000;
      CREATE VIEW rich_accounts AS SELECT id, owner FROM accounts WHERE balance > 1000;
      CREATE TRIGGER entries_note BEFORE INSERT ON entries FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'none');
      CREATE PROCEDURE total_balance() SELECT SUM(balance) FROM accounts;`);
    atBackup = fingerprint();
    expect(Object.keys(atBackup.sums)).toEqual(['accounts', 'entries']);
    expect(atBackup.objects).toEqual(['routine total_balance', 'trigger entries_note', 'view rich_accounts']);
    dump = await backUp({ type: 'dump', compression: 'zstd' });
    expect(dump).toMatchObject({
      status: 'completed',
      type: 'dump',
      engine: 'mysql',
      engineVersion: '10.11',
    });
    expect(dump.sha256).toMatch(/^[0-9a-f]{64}$/);
    snapshot = await backUp({ type: 'snapshot' });
    expect(snapshot).toMatchObject({ status: 'completed', type: 'snapshot', engine: 'mysql' });
  });

  it('serves the dump as an SQL script named .sql.zst whose SHA-256 matches', async () => {
    const link = await api('POST', `${base()}/backups/${dump.id}/download`);
    expect(link.status).toBe(200);
    const response = await fetch(link.body.url);
    expect(response.headers.get('content-disposition') ?? '').toMatch(/\.sql\.zst/);
    const file = Buffer.from(await response.arrayBuffer());
    expect(createHash('sha256').update(file).digest('hex')).toBe(dump.sha256);
    const script = spawnSync('zstd', ['-dc'], { input: file, maxBuffer: 1 << 30 }).stdout.toString();
    expect(script).toMatch(/CREATE TABLE `accounts`/);
    expect(script).not.toMatch(/^CREATE DATABASE|^USE /m);
  });

  it('restores the dump: every table has its CHECKSUM TABLE of backup time, and what came after is gone', async () => {
    mutate();
    expect(fingerprint()).not.toEqual(atBackup);
    expect(await restore(dump.id)).toMatchObject({ status: 'completed', error: null });
    expect(fingerprint()).toEqual(atBackup);
    expect((await api('GET', base())).body).toMatchObject({ status: 'running', currentOperationId: null });
  });

  it('restores the snapshot: the same', async () => {
    mutate();
    expect(await restore(snapshot.id)).toMatchObject({ status: 'completed', error: null });
    expect(fingerprint()).toEqual(atBackup);
  });

  it('a corrupted dump fails its restore and leaves the data exactly as it was', async () => {
    mutate();
    const before = fingerprint();
    const file = await findArtifact(dump.id);
    const bytes = await readFile(file);
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    await writeFile(file, bytes);
    const operation = await restore(dump.id);
    expect(operation.status).toBe('failed');
    expect(operation.error.message).toMatch(/SHA-256|checksum|corrupt/i);
    expect(fingerprint()).toEqual(before);
    const databases = mariadb('SHOW DATABASES').map(([name]) => name);
    expect(databases).not.toContain('addons_restore');
    expect((await api('GET', base())).body).toMatchObject({ status: 'running', currentOperationId: null });
  });

  it('refuses a MySQL backup restored into a PostgreSQL addon (422 naming backupId)', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'other-engine', engine: 'postgresql' },
    });
    expect((await waitForOperation(created.body.operation.id)).status).toBe('completed');
    const response = await api(
      'POST',
      `/v1/projects/${PROJECT}/addons/${created.body.addon.id}/backups/${snapshot.id}/restore`,
    );
    expect(response.status).toBe(422);
    expect(response.body.errors.map((issue: { path: string }) => issue.path)).toContain('backupId');
  });

  it('keeps its data across a platform restart, and its connection details', async () => {
    const before = fingerprint();
    ({ platform, api } = await restartUntilRunning(
      platform,
      { ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN },
      TOKEN,
      base(),
    ));
    expect((await api('GET', `${base()}/credentials`)).body.port).toBe(credentials.port);
    expect(fingerprint()).toEqual(before);
  }, 120_000);

  it('deletes the addon: its server stops and nothing answers on its port', async () => {
    const deleted = await api('DELETE', base());
    expect(deleted.status).toBe(202);
    expect((await waitForOperation(deleted.body.operation.id)).status).toBe('completed');
    expect(() => mariadb('SELECT 1')).toThrow();
  });
});

/** The S3 emulator's file holding a backup's artifact. */
const findArtifact = async (backupId: string): Promise<string> => {
  const walk = async (dir: string): Promise<string[]> => {
    const entries = await readdir(dir, { withFileTypes: true });
    const nested = await Promise.all(
      entries.map((entry) => (entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)])),
    );
    return nested.flat();
  };
  const files = await walk(join(dataDir, 's3'));
  const file = files.find(
    (path) => path.includes(backupId) && path.endsWith('._S3rver_object') && !path.includes('result.json'),
  );
  if (!file) throw new Error(`no artifact file for ${backupId} among ${files.length} files`);
  return file;
};
