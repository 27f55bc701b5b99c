import { execFile } from 'node:child_process';
import { MissingToolError, ProviderError } from '#shared/errors.ts';
import { engineEnv, findExecutable } from '../system.ts';

/** The Redis server from the system's packages (Debian 12: `redis-server` 7.0, package `redis-server`). */
export const serverBinary = async (): Promise<string> => {
  const found = await findExecutable('redis-server', ['/usr/bin/redis-server', '/usr/sbin/redis-server']);
  if (!found) {
    throw new MissingToolError('redis-server (Redis)', 'install it (Debian: apt-get install redis-server)');
  }
  return found;
};

/** `7.0` of `Redis server v=7.0.15 sha=...`: the catalog names Redis versions by major.minor. */
export const majorOf = (versionOutput: string): string | undefined =>
  /\bv=(\d+\.\d+)\.\d+/.exec(versionOutput)?.[1];

let majorPromise: Promise<string> | undefined;

/** The major.minor of the local server, from `redis-server --version` (asked once per process). */
export const serverMajor = (): Promise<string> => {
  majorPromise ??= serverBinary()
    .then(
      (binary) =>
        new Promise<string>((resolve, reject) => {
          execFile(binary, ['--version'], { encoding: 'utf8', env: engineEnv() }, (error, stdout) =>
            error ? reject(error) : resolve(stdout),
          );
        }),
    )
    .then((output) => {
      const major = majorOf(output);
      if (!major) throw new ProviderError(`Unexpected output from redis-server --version: ${output.trim()}`);
      return major;
    });
  majorPromise.catch(() => {
    majorPromise = undefined;
  });
  return majorPromise;
};
