import { execFile } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
// The SDK's own SigV4 signer (the S3 client's dependency), to check the hand-made one against.
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildScriptBundle } from '#infra/local/job-bundle.ts';
import { signS3Request } from '#infra/local/s3-request.ts';
import { serveS3 } from '#infra/local/s3-server.ts';
import { createJobS3Client } from '#shared/jobs/s3-client.ts';

const bytes = (data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

/** SHA-256 (and its HMAC, given a secret) for the SDK's signer, from node:crypto. */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: string | ArrayBuffer | ArrayBufferView) {
    this.hash.update(bytes(data));
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

describe('signed S3 requests of the local WAL archive command', () => {
  it('signs as the SDK signs the same request (SigV4, unsigned payload)', async () => {
    const now = new Date('2026-12-02T13:30:07.123Z');
    const headers = { 'x-amz-meta-sha256': 'abc', 'x-amz-meta-last-commit': '', 'content-length': '5' };
    const path = '/wal-bucket/pitr/addon%3D1/000000010000000000000001';
    const ours = signS3Request({ endpoint: 'http://127.0.0.1:4569' }, 'PUT', path, headers, now);
    const sdk = new SignatureV4({
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      region: 'local',
      service: 's3',
      sha256: NodeSha256,
      uriEscapePath: false,
    });
    const signed = await sdk.sign(
      {
        method: 'PUT',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: 4569,
        path,
        query: {},
        headers: { ...headers, host: '127.0.0.1:4569', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      },
      { signingDate: now },
    );
    expect(ours.authorization).toBe(signed.headers.authorization);
    expect(ours['x-amz-date']).toBe(signed.headers['x-amz-date']);
  });

  describe('the bundled command against the emulator', () => {
    const Bucket = 'wal-bucket';
    let dir: string;
    let command: string;
    let server: Awaited<ReturnType<typeof serveS3>>;
    let s3: S3Client;
    // Asynchronously: the emulator answering it runs on this thread.
    const run = (bucket: string, file: string, name: string) =>
      new Promise<{ status: number; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [command, `http://127.0.0.1:${server.port}`, bucket, 'gen/wal/', '-', file, name],
          { cwd: tmpdir(), encoding: 'utf8', timeout: 30_000 },
          (error, _stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stderr }),
        );
      });
    const archive = (file: string, name: string) => run(Bucket, file, name);

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'addons-wal-command-'));
      const source = fileURLToPath(
        new URL('../../infra/local/engines/postgresql/wal-archive-command.ts', import.meta.url),
      );
      const built = await buildScriptBundle(source, 'wal-archive', { standalone: { dir: join(dir, 'bin') } });
      command = (built as { file: string }).file;
      server = await serveS3(join(dir, 's3'));
      s3 = createJobS3Client(`http://127.0.0.1:${server.port}`);
      await s3.send(new CreateBucketCommand({ Bucket }));
    }, 60_000);
    afterAll(async () => {
      s3?.destroy();
      await server?.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('stores a file with its SHA-256, accepts the same bytes again and refuses others', async () => {
      const bytes = randomBytes(256 * 1024);
      const file = join(dir, '000000010000000000000003');
      await writeFile(file, bytes);
      const first = await archive(file, '000000010000000000000003');
      expect(first.stderr).toBe('');
      expect(first.status).toBe(0);
      const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'gen/wal/000000010000000000000003' }));
      expect(head.ContentLength).toBe(bytes.length);
      expect(head.Metadata).toEqual({
        sha256: createHash('sha256').update(bytes).digest('hex'),
        'last-commit': '',
      });

      expect((await archive(file, '000000010000000000000003')).status).toBe(0);
      await writeFile(file, randomBytes(1024));
      const other = await archive(file, '000000010000000000000003');
      expect(other.status).not.toBe(0);
      expect(other.stderr).toMatch(/already holds different content/);
    });

    it('fails with the reason when the object store refuses', async () => {
      const file = join(dir, '000000010000000000000004');
      await writeFile(file, randomBytes(1024));
      const refused = await run('no-such-bucket', file, '000000010000000000000004');
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toMatch(/archiving 000000010000000000000004 failed.*answered 404.*NoSuchBucket/);
    });
  });
});
