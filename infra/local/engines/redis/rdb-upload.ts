import fs from 'node:fs/promises';
import path from 'node:path';
import { ProviderError } from '#shared/errors.ts';
import { compareVersions } from '#shared/util/versions.ts';
import { chownTo, type RunAs, replaceFile } from '../system.ts';
import { serverMajor } from './binaries.ts';

/**
 * The newest RDB format each Redis release reads (`RDB_VERSION` in its rdb.h): a server refuses a
 * file of a newer format, so an upload is checked against it before anything is replaced.
 */
const RDB_FORMAT_OF: Record<string, number> = {
  '6.0': 9,
  '6.2': 9,
  '7.0': 10,
  '7.2': 11,
  '7.4': 12,
};

/** The RDB format version and the `redis-ver` of the server that wrote the file, from its header. */
export const rdbHeader = (
  bytes: Buffer,
): { format: number; redisVersion: string | undefined } | undefined => {
  const magic = /^REDIS(\d{4})$/.exec(bytes.toString('latin1', 0, 9));
  if (!magic) return undefined;
  const redisVersion = /redis-ver[\s\S](\d+\.\d+\.\d+)/.exec(bytes.toString('latin1', 9, 512))?.[1];
  return { format: Number(magic[1]), redisVersion };
};

const invalid = (message: string) => new ProviderError(message, 'ImportInvalid');

/**
 * Makes an uploaded RDB file a snapshot's `backup/` content, as `RedisSnapshots.take` leaves it
 * (`dump.rdb` and `redis-version`, owned by the engine user), after checking it is an RDB this
 * server can load: the `REDIS` magic, a format no newer than the server reads, and a `redis-ver`
 * (Redis >= 3.2 writes it; the restore reads the version from it) no newer than the server.
 * Returns the server's major, which the snapshot records: the data is loaded by this server.
 */
export const adoptRdb = async (
  file: string,
  backupDir: string,
  runAs: RunAs | undefined,
): Promise<string> => {
  const handle = await fs.open(file, 'r');
  const bytes = Buffer.alloc(512);
  try {
    await handle.read(bytes, 0, bytes.length, 0);
  } finally {
    await handle.close();
  }
  const header = rdbHeader(bytes);
  if (!header)
    throw invalid('The uploaded file is not an RDB file: it does not start with REDIS and a format version');
  const server = await serverMajor();
  const readable = RDB_FORMAT_OF[server];
  if (readable !== undefined && header.format > readable) {
    throw invalid(
      `The uploaded RDB file has format ${header.format}, newer than Redis ${server} reads (${readable}): it was written by a newer Redis`,
    );
  }
  if (!header.redisVersion) {
    throw invalid(
      'The uploaded RDB file names no redis-ver (Redis before 3.2 wrote such files): save it with a newer Redis',
    );
  }
  const written = header.redisVersion.split('.').slice(0, 2).join('.');
  if (compareVersions(written, server) > 0) {
    throw invalid(
      `The uploaded RDB file was written by Redis ${header.redisVersion}, newer than this Redis ${server}`,
    );
  }
  const target = path.join(backupDir, 'dump.rdb');
  await fs.copyFile(file, target);
  await fs.chmod(target, 0o600);
  await chownTo(target, runAs);
  await replaceFile(path.join(backupDir, 'redis-version'), `${header.redisVersion}\n`, runAs, 0o600);
  return server;
};
