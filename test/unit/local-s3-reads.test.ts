import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveS3 } from '#infra/local/s3-server.ts';
import { s3EndpointConfig } from '#shared/jobs/s3-client.ts';

// The local S3 emulator serves objects in 1 MiB reads (infra/local/s3-server.ts): the bytes and
// ranges must be exactly s3rver's own.
describe('the local S3 emulator serving objects in larger reads', () => {
  const Bucket = 'reads-bucket';
  const body = randomBytes(3 * 1024 * 1024 + 12_345);
  let dir: string;
  let server: Awaited<ReturnType<typeof serveS3>>;
  let s3: S3Client;
  const get = async (Key: string, Range?: string) => {
    const object = await s3.send(new GetObjectCommand({ Bucket, Key, ...(Range ? { Range } : {}) }));
    return {
      bytes: Buffer.from(
        await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      ),
      object,
    };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'addons-s3-reads-'));
    server = await serveS3(dir);
    s3 = new S3Client(s3EndpointConfig(`http://127.0.0.1:${server.port}`));
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'blob', Body: body }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'empty', Body: Buffer.alloc(0) }));
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves a whole object byte for byte, with its length', async () => {
    const { bytes, object } = await get('blob');
    expect(object.ContentLength).toBe(body.length);
    expect(bytes.equals(body)).toBe(true);
  });

  it('serves ranges across read boundaries, open-ended ones and single bytes', async () => {
    const mib = 1024 * 1024;
    for (const [range, start, end] of [
      [`bytes=${mib - 10}-${2 * mib + 9}`, mib - 10, 2 * mib + 10],
      [`bytes=${3 * mib}-`, 3 * mib, body.length],
      ['bytes=5-5', 5, 6],
    ] as const) {
      const { bytes, object } = await get('blob', range);
      expect(object.ContentRange).toBe(`bytes ${start}-${end - 1}/${body.length}`);
      expect(bytes.equals(body.subarray(start, end))).toBe(true);
    }
  });

  it('serves an empty object, and answers HEAD without a body', async () => {
    const { bytes, object } = await get('empty');
    expect(object.ContentLength).toBe(0);
    expect(bytes.length).toBe(0);
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'blob' }));
    expect(head.ContentLength).toBe(body.length);
  });
});
