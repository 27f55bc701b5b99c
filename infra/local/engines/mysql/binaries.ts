import { execFile } from 'node:child_process';
import { MissingToolError, ProviderError } from '#shared/errors.ts';
import { engineEnv, findExecutable } from '../system.ts';

/** The MariaDB programs the local MySQL engine runs, and the Debian package of each. */
const PACKAGES = {
  mariadbd: 'mariadb-server',
  'mariadb-install-db': 'mariadb-server',
  'mariadb-backup': 'mariadb-backup',
} as const;

export type MariaDbTool = keyof typeof PACKAGES;

/** A MariaDB program from the system (Debian puts the server in /usr/sbin, which PATH may lack). */
export const tool = async (name: MariaDbTool): Promise<string> => {
  const found = await findExecutable(name, [`/usr/sbin/${name}`, `/usr/bin/${name}`]);
  if (!found) {
    throw new MissingToolError(`${name} (MariaDB)`, `install it (Debian: apt-get install ${PACKAGES[name]})`);
  }
  return found;
};

/** `10.11` of `10.11.19-MariaDB-0+deb12u1`: MariaDB's majors are two numbers. */
export const majorOf = (version: string): string | undefined => /^(\d+\.\d+)\.\d+/.exec(version.trim())?.[1];

let majorPromise: Promise<string> | undefined;

/** The major version of the local server, from `mariadbd --version` ("mariadbd  Ver 10.11.19-MariaDB-..."). */
export const serverMajor = (): Promise<string> => {
  majorPromise ??= tool('mariadbd')
    .then(
      (mariadbd) =>
        new Promise<string>((resolve, reject) => {
          execFile(mariadbd, ['--version'], { encoding: 'utf8', env: engineEnv() }, (error, stdout) =>
            error ? reject(error) : resolve(stdout),
          );
        }),
    )
    .then((output) => {
      const match = /\bVer\s+(\S+)/.exec(output);
      const major = match?.[1] && /MariaDB/i.test(match[1]) ? majorOf(match[1]) : undefined;
      if (!major) throw new ProviderError(`Unexpected output from mariadbd --version: ${output.trim()}`);
      return major;
    });
  majorPromise.catch(() => {
    majorPromise = undefined;
  });
  return majorPromise;
};
