import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveS3 } from '#infra/local/s3-server.ts';
import { createJobS3Client } from '#shared/jobs/s3-client.ts';

const MIB = 1024 * 1024;
const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest();

// The local S3 emulator completes a multipart upload by copying its parts into the object, with
// S3's multipart ETag (infra/local/s3-multipart.ts); the job's client signs without hashing bodies.
describe('the local S3 emulator completing multipart uploads', () => {
  const Bucket = 'multipart-bucket';
  let dir: string;
  let server: Awaited<ReturnType<typeof serveS3>>;
  let s3: S3Client;
  const read = async (Key: string) => {
    const object = await s3.send(new GetObjectCommand({ Bucket, Key }));
    const body = object.Body as { transformToByteArray(): Promise<Uint8Array> };
    return Buffer.from(await body.transformToByteArray());
  };
  const uploadsLeft = () => readdir(join(dir, Bucket, '._S3rver_uploads')).catch(() => [] as string[]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'addons-s3-multipart-'));
    server = await serveS3(dir);
    s3 = createJobS3Client(`http://127.0.0.1:${server.port}`);
    await s3.send(new CreateBucketCommand({ Bucket }));
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores a streamed upload byte for byte, with the ETag S3 gives a multipart object', async () => {
    // 5 MiB parts, uploaded 3 at a time: each spans several of the 1 MiB writes and copies.
    const body = randomBytes(17 * MIB + 4_321);
    const upload = new Upload({
      client: s3,
      params: { Bucket, Key: 'dir/artifact.zst', Body: body, ContentType: 'application/zstd' },
      partSize: 5 * MIB,
      queueSize: 3,
    });
    await upload.done();
    const parts = [0, 1, 2, 3].map((index) => body.subarray(index * 5 * MIB, (index + 1) * 5 * MIB));
    const etag = `"${createHash('md5')
      .update(Buffer.concat(parts.map(md5)))
      .digest('hex')}-4"`;

    expect((await read('dir/artifact.zst')).equals(body)).toBe(true);
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'dir/artifact.zst' }));
    expect(head).toMatchObject({ ContentLength: body.length, ETag: etag, ContentType: 'application/zstd' });
    expect(await uploadsLeft()).toEqual([]);
  });

  it('answers InvalidPart for a part that was not uploaded, and the upload can still complete', async () => {
    const Key = 'two-parts';
    const first = randomBytes(5 * MIB);
    const second = randomBytes(1_000);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const put = (PartNumber: number, Body: Buffer) =>
      s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body }));
    const one = await put(1, first);
    const complete = (Parts: Array<{ PartNumber: number; ETag?: string }>) =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));

    await expect(
      complete([
        { PartNumber: 1, ETag: one.ETag },
        { PartNumber: 2, ETag: '"0"' },
      ]),
    ).rejects.toThrow(expect.objectContaining({ name: 'InvalidPart' }));
    const two = await put(2, second);
    expect(two.ETag).toBe(`"${md5(second).toString('hex')}"`);
    await complete([
      { PartNumber: 1, ETag: one.ETag },
      { PartNumber: 2, ETag: two.ETag },
    ]);
    expect((await read(Key)).equals(Buffer.concat([first, second]))).toBe(true);
    expect(await uploadsLeft()).toEqual([]);
  });

  it('keeps nothing of an object whose request broke off', async () => {
    // A signed request (s3rver checks the date and the key, not the signature) sent in part.
    const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    const request = httpRequest(`http://127.0.0.1:${server.port}/${Bucket}/broken`, {
      method: 'PUT',
      headers: {
        'content-length': String(MIB),
        authorization: `AWS4-HMAC-SHA256 Credential=S3RVER/${amzDate.slice(0, 8)}/local/s3/aws4_request, SignedHeaders=host, Signature=0`,
        'x-amz-date': amzDate,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      },
    });
    request.on('error', () => undefined);
    request.write(randomBytes(100_000));
    // Once the emulator has written what came, cut the request off.
    const written = async () =>
      (await readdir(join(dir, Bucket))).some(
        (name) => name.startsWith('broken') && name.endsWith('.partial'),
      );
    for (let tries = 0; !(await written()) && tries < 200; tries++)
      await new Promise((r) => setTimeout(r, 25));
    expect(await written()).toBe(true);
    request.destroy();
    for (let tries = 0; (await written()) && tries < 200; tries++)
      await new Promise((r) => setTimeout(r, 25));
    expect(await readdir(join(dir, Bucket))).not.toContainEqual(expect.stringMatching(/^broken/));
    await expect(s3.send(new HeadObjectCommand({ Bucket, Key: 'broken' }))).rejects.toThrow(
      expect.objectContaining({ name: 'NotFound' }),
    );
  });

  it('answers NoSuchUpload for an upload it does not have', async () => {
    await expect(
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key: 'none',
          UploadId: '0123456789abcdef0123456789abcdef',
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"0"' }] },
        }),
      ),
    ).rejects.toThrow(expect.objectContaining({ name: 'NoSuchUpload' }));
  });

  it('signs the local client without hashing bodies', async () => {
    let header: string | undefined;
    s3.middlewareStack.add(
      (next) => (args) => {
        header = (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'];
        return next(args);
      },
      // Deserialization wraps the request as sent, after signing.
      { step: 'deserialize', name: 'seeSignedHeaders' },
    );
    try {
      await s3.send(new PutObjectCommand({ Bucket, Key: 'signed', Body: Buffer.from('bytes') }));
      expect(header).toBe('UNSIGNED-PAYLOAD');
      expect((await read('signed')).toString()).toBe('bytes');
    } finally {
      s3.middlewareStack.remove('seeSignedHeaders');
    }
  });
});
