import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { CliError, EXIT } from './exit-codes.ts';

/**
 * Streams `url` to `path` through SHA-256: the bytes land in `<path>.part`, which becomes `path`
 * only when its digest is `sha256`; a mismatch removes it and fails (EXIT.local).
 * Returns the byte count.
 */
export const downloadVerified = async (url: string, path: string, sha256: string): Promise<number> => {
  const response = await fetch(url);
  if (!response.ok || !response.body) {
    throw new CliError(`Download failed: HTTP ${response.status} ${response.statusText}`, EXIT.api);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const digest = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const partial = `${path}.part`;
  try {
    await pipeline(Readable.fromWeb(response.body as WebReadableStream), digest, createWriteStream(partial));
  } catch (error) {
    await rm(partial, { force: true });
    throw new CliError(`Download failed: ${(error as Error).message}`, EXIT.local);
  }
  const actual = hash.digest('hex');
  if (actual !== sha256) {
    await rm(partial, { force: true });
    throw new CliError(`SHA-256 mismatch: expected ${sha256}, got ${actual}; nothing was kept`, EXIT.local);
  }
  await rename(partial, path);
  return bytes;
};
