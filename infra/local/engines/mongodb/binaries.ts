import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TargetOffer } from '#shared/catalog/engines.ts';
import {
  localOfferWith,
  localUnavailable,
  MONGOD_INSTALL_HINT,
  MONGOD_VARIABLE,
  MONGODB_BIN_DIR_VARIABLE,
} from '#shared/engines/mongodb/local-offer.ts';
import { errorMessage, MissingToolError, ProviderError } from '#shared/errors.ts';
import { engineEnv, findExecutable } from '../system.ts';

/**
 * MongoDB's server is user-installed (not packaged for Debian 12, and nothing may be downloaded
 * at run time). Where it is: `ADDONS_MONGOD` names the binary (and only that one is tried, so a
 * typo is not hidden by another mongod on PATH); else `mongod` in `ADDONS_MONGODB_BIN_DIR`; else PATH.
 */
export const findServerBinary = async (env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> => {
  const named = env[MONGOD_VARIABLE];
  if (named) {
    try {
      await fs.access(named, fs.constants.X_OK);
      return (await fs.stat(named)).isFile() ? path.resolve(named) : undefined;
    } catch {
      return undefined;
    }
  }
  const binDir = env[MONGODB_BIN_DIR_VARIABLE];
  return findExecutable('mongod', binDir ? [path.join(binDir, 'mongod')] : []);
};

export const serverBinary = async (): Promise<string> => {
  const found = await findServerBinary();
  if (!found) throw new MissingToolError('mongod (MongoDB Community Server)', MONGOD_INSTALL_HINT);
  return found;
};

/** `7.0` of `db version v7.0.14` (the first line of `mongod --version`): the catalog names majors so. */
export const majorOf = (versionOutput: string): string | undefined =>
  /\bdb version v(\d+\.\d+)\.\d+/.exec(versionOutput)?.[1];

let found: Promise<{ binary: string; major: string }> | undefined;

/** The server binary and its major, from `mongod --version` (asked once per process). */
export const serverVersion = (): Promise<{ binary: string; major: string }> => {
  found ??= serverBinary().then(
    (binary) =>
      new Promise((resolve, reject) => {
        execFile(
          binary,
          ['--version'],
          { encoding: 'utf8', env: engineEnv(), timeout: 15_000 },
          (error, stdout, stderr) => {
            if (error) {
              reject(new ProviderError(`${binary} --version failed: ${(stderr || error.message).trim()}`));
              return;
            }
            const major = majorOf(stdout);
            if (major) resolve({ binary, major });
            else reject(new ProviderError(`Unexpected output from ${binary} --version: ${stdout.trim()}`));
          },
        );
      }),
  );
  found.catch(() => {
    found = undefined;
  });
  return found;
};

export const serverMajor = async (): Promise<string> => (await serverVersion()).major;

/** The local catalog's MongoDB entry on this machine: offered with the found mongod's major, or not at all. */
export const mongodOffer = async (): Promise<TargetOffer> => {
  try {
    const { binary, major } = await serverVersion();
    return localOfferWith(major, binary);
  } catch (error) {
    return localUnavailable(error instanceof MissingToolError ? undefined : errorMessage(error));
  }
};
