import { chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { isRoot } from './engines/system.ts';

/** The platform's own state: readable by the platform's OS user only. */
const PRIVATE_TREES = ['dynamodb', 's3', 'secrets'];
const PRIVATE_FILES = ['token', 'platform.pid'];
/** Where engines' directories live: as root, engine users walk through them (search, no listing). */
const ENGINE_TREES = ['engines', 'snapshots'];

const chmodIfNeeded = async (target: string, mode: number): Promise<void> => {
  const stat = await lstat(target).catch(() => undefined);
  if (stat && !stat.isSymbolicLink() && (stat.mode & 0o7777) !== mode) await chmod(target, mode);
};

/** Directories 0700 and files 0600 under `dir` (symbolic links are left alone, never followed). */
const makePrivate = async (dir: string): Promise<void> => {
  const stat = await lstat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) return;
  await chmodIfNeeded(dir, 0o700);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const target = join(dir, entry.name);
    if (entry.isDirectory()) await makePrivate(target);
    else if (entry.isFile()) await chmodIfNeeded(target, 0o600);
  }
};

/**
 * Every start: 0700 directories and 0600 files for DynamoDB (dynalite), S3 (s3rver), the secrets
 * and the token, whatever an older version or a permissive umask left. The data directory itself
 * and the engines' folders are 0700 too, but 0711 when the platform runs as root, because each
 * engine's own OS user must walk through them to its data directory (0700, its own).
 *
 * From here on the process creates files 0600 and directories 0700 (umask 077): LevelDB and
 * s3rver create theirs with the default modes otherwise. Worker threads cannot set the umask.
 */
export const securePlatformState = async (dataDir: string): Promise<void> => {
  if (isMainThread) process.umask(0o077);
  const traversable = isRoot() ? 0o711 : 0o700;
  await chmodIfNeeded(dataDir, traversable);
  for (const name of PRIVATE_TREES) await makePrivate(join(dataDir, name));
  for (const name of PRIVATE_FILES) await chmodIfNeeded(join(dataDir, name), 0o600);
  for (const name of ENGINE_TREES) await chmodIfNeeded(join(dataDir, name), traversable);
};
