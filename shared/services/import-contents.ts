import { spawn } from 'node:child_process';
import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { mysqlUploadFormat } from '../engines/mysql/upload-format.ts';
import { postgresUploadFormat } from '../engines/postgresql/upload-format.ts';
import type { UploadVerdict } from '../engines/upload-contents.ts';
import { UnsupportedError } from '../errors.ts';
import type { Compression } from '../schemas/backup.ts';
import type { Engine } from '../schemas/catalog.ts';
import type { DumpContents } from '../schemas/import.ts';

/**
 * How much of an upload is read to tell what it is: more than a zstd block (128 KiB at most, and a
 * decompressor outputs nothing before a block is whole), then the start of what it decompresses to.
 */
export const SNIFF_BYTES = 512 * 1024;
const DECOMPRESSED_BYTES = 16 * 1024;

/** Which dump formats an engine's uploads may hold, judged by content. */
const VERDICTS: Partial<Record<Engine, (head: Buffer) => UploadVerdict>> = {
  postgresql: postgresUploadFormat,
  mysql: mysqlUploadFormat,
};

/** The compression a file's first bytes show (zstd and gzip frames have magic numbers). */
export const sniffCompression = (head: Buffer): Compression | undefined => {
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  return undefined;
};

/**
 * Collects what a decompressor makes of the first bytes of a file. The file is cut, so a
 * decompressor complaining about its end is expected once it has produced output; one that
 * produced nothing found a corrupted header.
 */
const drain = (stream: Transform, input: Buffer): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => resolve(Buffer.concat(chunks).subarray(0, DECOMPRESSED_BYTES));
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= DECOMPRESSED_BYTES) {
        stream.destroy();
        done();
      }
    });
    stream.on('end', done);
    stream.on('error', (error) => (size > 0 ? done() : reject(error)));
    stream.end(input);
  });

/** The zstd CLI, where the runtime's zlib has no zstd (Node < 22.15): the local target has it. */
const zstdCli = (input: Buffer): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const child = spawn('zstd', ['-d', '-q', '-c'], { stdio: ['pipe', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    child.on('error', reject);
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stdin.on('error', () => undefined);
    child.on('close', () => {
      const output = Buffer.concat(chunks);
      if (output.length > 0) resolve(output.subarray(0, DECOMPRESSED_BYTES));
      else reject(new Error('zstd could not decompress the start of the file'));
    });
    child.stdin.end(input);
  });

const decompressHead = (head: Buffer, compression: Compression | undefined): Promise<Buffer> => {
  if (!compression) return Promise.resolve(head.subarray(0, DECOMPRESSED_BYTES));
  if (compression === 'gzip') return drain(zlib.createGunzip(), head);
  const zstd = (zlib as { createZstdDecompress?: () => Transform }).createZstdDecompress;
  return zstd ? drain(zstd(), head) : zstdCli(head);
};

/**
 * What an uploaded dump is, from its first bytes: its compression (gzip, zstd, or none) and the
 * format inside. A file that is none of the engine's formats, or whose compressed start does not
 * decompress, is refused naming `upload` (a 422 before anything is locked or changed). A file
 * corrupted or cut further on gets past this and fails in the restore job, which loads nothing
 * unless the whole file decompresses and loads.
 */
export const detectUpload = async (
  engine: Engine,
  head: Buffer,
): Promise<{ compression: Compression | null; contents: DumpContents }> => {
  const judge = VERDICTS[engine];
  if (!judge) {
    throw new UnsupportedError(`${engine} uploads are not dumps`, [
      { path: 'upload', message: 'not a dump' },
    ]);
  }
  const compression = sniffCompression(head);
  const inner = await decompressHead(head, compression).catch(() => {
    throw new UnsupportedError(
      `The uploaded file starts like ${compression} but does not decompress: it is corrupted`,
      [{ path: 'upload', message: `is not valid ${compression} data` }],
    );
  });
  const verdict = judge(inner);
  if (!verdict.ok) {
    throw new UnsupportedError(`The uploaded file cannot be imported: ${verdict.reason}`, [
      { path: 'upload', message: verdict.reason },
    ]);
  }
  return { compression: compression ?? null, contents: verdict.format };
};
