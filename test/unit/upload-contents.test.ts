import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { partSizeFor } from '#shared/providers/import-multipart.ts';
import { MAX_PART_BYTES, MAX_UPLOAD_PARTS, MIN_PART_BYTES } from '#shared/schemas/import.ts';
import { detectUpload } from '#shared/services/import-contents.ts';

/** Upload detection by content: the compression by magic bytes, the format by what it decompresses to. */
const zstd = (data: Buffer) => spawnSync('zstd', ['-q', '-c'], { input: data }).stdout;
const PLAIN = Buffer.from(
  '--\n-- PostgreSQL database dump\n--\nSET statement_timeout = 0;\nCREATE TABLE t (id int);\n',
);
const MYSQL = Buffer.from(
  '-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE `t` (`id` int) ENGINE=InnoDB;\n',
);
const CUSTOM = Buffer.concat([Buffer.from('PGDMP'), Buffer.from([1, 14, 0, 4, 8, 1, 1])]);

describe('detectUpload', () => {
  it.each([
    ['a custom archive, zstd', 'postgresql', zstd(CUSTOM), 'zstd', 'pg-custom'],
    ['a custom archive, gzip', 'postgresql', gzipSync(CUSTOM), 'gzip', 'pg-custom'],
    ['a custom archive, uncompressed', 'postgresql', CUSTOM, null, 'pg-custom'],
    ['a plain script, gzip', 'postgresql', gzipSync(PLAIN), 'gzip', 'pg-plain'],
    ['a plain script, uncompressed', 'postgresql', PLAIN, null, 'pg-plain'],
    ['a MySQL script, zstd', 'mysql', zstd(MYSQL), 'zstd', 'mysql-sql'],
    ['a MySQL script, uncompressed', 'mysql', MYSQL, null, 'mysql-sql'],
  ] as const)('tells %s', async (_what, engine, file, compression, contents) => {
    await expect(detectUpload(engine, file)).resolves.toEqual({ compression, contents });
  });

  it.each([
    ['a MySQL dump into PostgreSQL', 'postgresql', gzipSync(MYSQL), /MySQL dump/],
    ['a PostgreSQL archive into MySQL', 'mysql', zstd(CUSTOM), /PostgreSQL dump/],
    ['a PostgreSQL script into MySQL', 'mysql', PLAIN, /PostgreSQL dump/],
    ['a binary file', 'postgresql', Buffer.from([0x50, 0x4b, 3, 4, 0, 0, 8]), /binary/],
    ['an empty file', 'mysql', gzipSync(Buffer.alloc(0)), /empty/],
    [
      'a gzip file corrupted at its start',
      'postgresql',
      Buffer.concat([gzipSync(PLAIN).subarray(0, 10), Buffer.alloc(50, 0xff)]),
      /corrupted/,
    ],
    [
      'a zstd file corrupted at its start',
      'postgresql',
      Buffer.concat([zstd(PLAIN).subarray(0, 4), Buffer.alloc(50, 0xff)]),
      /corrupted/,
    ],
  ] as const)('refuses %s, naming the upload', async (_what, engine, file, reason) => {
    const refused = detectUpload(engine, file);
    await expect(refused).rejects.toMatchObject({
      message: expect.stringMatching(reason),
      issues: [{ path: 'upload' }],
    });
  });
});

describe('partSizeFor', () => {
  it('keeps the preferred size while the file fits in the part limit, then grows in whole MiB', () => {
    expect(partSizeFor(12 * 1024 ** 2, 64 * 1024 ** 2)).toBe(64 * 1024 ** 2);
    expect(partSizeFor(12 * 1024 ** 2, 1)).toBe(MIN_PART_BYTES);
    const huge = 500 * 1024 ** 3;
    const part = partSizeFor(huge, 64 * 1024 ** 2);
    expect(part % 1024 ** 2).toBe(0);
    expect(Math.ceil(huge / part)).toBeLessThanOrEqual(MAX_UPLOAD_PARTS);
    expect(partSizeFor(MAX_UPLOAD_PARTS * MAX_PART_BYTES, 64 * 1024 ** 2)).toBe(MAX_PART_BYTES);
  });
});
