import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adoptRdb, rdbHeader } from '#infra/local/engines/redis/rdb-upload.ts';

/** An RDB header as Redis writes it: magic, format, then the `redis-ver` aux field. */
const rdb = (format: string, version?: string) =>
  Buffer.concat([
    Buffer.from(`REDIS${format}`, 'latin1'),
    ...(version
      ? [
          Buffer.from([0xfa, 0x09]),
          Buffer.from('redis-ver'),
          Buffer.from([version.length]),
          Buffer.from(version),
        ]
      : []),
    Buffer.from([0xff]),
  ]);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rdb-upload-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const adopt = async (name: string, content: Buffer) => {
  const file = join(dir, name);
  await writeFile(file, content);
  const target = await mkdtemp(join(dir, 'backup-'));
  return { major: await adoptRdb(file, target, undefined), target };
};

describe('uploaded RDB files (local Redis imports)', () => {
  it('reads the format and the writing version from the header', () => {
    expect(rdbHeader(rdb('0010', '7.0.15'))).toEqual({ format: 10, redisVersion: '7.0.15' });
    expect(rdbHeader(rdb('0009'))).toEqual({ format: 9, redisVersion: undefined });
    expect(rdbHeader(Buffer.from('PK\u0003\u0004 a zip file'))).toBeUndefined();
  });

  it('places a file this server reads as a snapshot would hold it, recording the server major', async () => {
    const { major, target } = await adopt('ok.rdb', rdb('0009', '6.2.14'));
    expect(major).toBe('7.0');
    expect(await readFile(join(target, 'dump.rdb'))).toEqual(rdb('0009', '6.2.14'));
    expect((await readFile(join(target, 'redis-version'), 'utf8')).trim()).toBe('6.2.14');
  });

  it('refuses a newer format, a newer Redis, a file without redis-ver, and what is no RDB', async () => {
    await expect(adopt('newer-format.rdb', rdb('0011', '7.2.4'))).rejects.toMatchObject({
      code: 'ImportInvalid',
      message: expect.stringMatching(/format 11, newer than Redis 7.0 reads \(10\)/),
    });
    await expect(adopt('newer-redis.rdb', rdb('0010', '7.4.0'))).rejects.toThrow(/written by Redis 7.4.0/);
    await expect(adopt('old.rdb', rdb('0006'))).rejects.toThrow(/names no redis-ver/);
    await expect(adopt('junk.rdb', Buffer.from('hello'))).rejects.toThrow(/not an RDB file/);
  });
});
