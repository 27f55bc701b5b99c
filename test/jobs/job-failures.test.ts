import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingToolError, ProviderError, TransientError } from '#shared/errors.ts';
import { type DumpOptions, runDump } from '#shared/jobs/dump.ts';
import { PostgresDumpTool } from '#shared/jobs/postgresql/dump-tool.ts';
import { type RestoreOptions, runRestore } from '#shared/jobs/restore.ts';
import { s3EndpointConfig } from '#shared/jobs/s3-client.ts';
import type { Credentials } from '#shared/schemas/addon.ts';
import {
  BUCKET,
  fingerprint,
  type JobsFixture,
  jobSessions,
  multipartUploads,
  objectExists,
  startJobsFixture,
} from './fixtures.ts';

/**
 * Every way a job can fail ends with a named error, no child process or database session left,
 * and no multipart upload (nor object) left in S3.
 */
let fixture: JobsFixture;
let admin: pg.Client;
let big: pg.Client;
let bigConnection: Credentials;

beforeAll(async () => {
  fixture = await startJobsFixture();
  admin = await fixture.postgres.client();
  await admin.query('CREATE DATABASE big');
  bigConnection = { ...fixture.postgres.connection, database: 'big' };
  big = await fixture.postgres.client('big');
  // About 40 MB of zstd output: at least 8 parts, so the upload is still going when a test
  // interrupts it at the first part (lib-storage buffers at most queueSize + 1 parts ahead).
  await big.query(`
    CREATE TABLE samples AS
      SELECT i AS id, md5(i::text) || md5((i + 1)::text) || md5((i * 7)::text) AS payload
      FROM generate_series(1, 600000) i`);
});

afterAll(async () => {
  await big?.end();
  await admin?.end();
  await fixture?.stop();
});

/** An S3 client on the emulator that calls `hook` before each UploadPart it sends. */
const clientWithPartHook = (hook: (partNumber: number) => Promise<void> | void): S3Client => {
  const client = new S3Client(s3EndpointConfig(fixture.s3.endpoint));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'UploadPartCommand') {
        await hook(Number((args.input as { PartNumber?: number }).PartNumber));
      }
      return next(args);
    },
    { step: 'initialize', name: 'testPartHook' },
  );
  return client;
};

const failedDump = (options: Partial<DumpOptions> & { key: string }) =>
  runDump({
    connection: bigConnection,
    engine: 'postgresql',
    compression: 'zstd',
    ...options,
    s3: options.s3 ?? { client: fixture.s3.client, bucket: BUCKET, key: options.key },
  }).then(
    () => {
      throw new Error('the dump was expected to fail');
    },
    (error: unknown) => error as Error,
  );

const failedRestore = (options: Omit<RestoreOptions, 'connection' | 'engine'>) =>
  runRestore({ connection: bigConnection, engine: 'postgresql', ...options }).then(
    () => {
      throw new Error('the restore was expected to fail');
    },
    (error: unknown) => error as Error,
  );

const expectNothingLeft = async (key: string) => {
  expect(await multipartUploads(fixture.s3.client)).toEqual([]);
  expect(await objectExists(fixture.s3.client, key)).toBe(false);
  expect(await jobSessions(admin)).toBe(0);
};

describe('dump failures', () => {
  it('a wrong password is a named error naming the cause, before anything is uploaded', async () => {
    const key = 'failures/wrong-password.dump.zst';
    const error = await failedDump({ key, connection: { ...bigConnection, password: 'not-the-password' } });

    expect(error).toBeInstanceOf(ProviderError);
    expect(error.message).toMatch(/password authentication failed/);
    await expectNothingLeft(key);
  });

  it('a server that is not there is worth retrying', async () => {
    const key = 'failures/no-server.dump.zst';
    const error = await failedDump({ key, connection: { ...bigConnection, port: 1 } });

    expect(error).toBeInstanceOf(TransientError);
    await expectNothingLeft(key);
  });

  it('pg_dump dying half way aborts the multipart upload and reports its stderr', async () => {
    const key = 'failures/pg-dump-dies.dump.zst';
    let terminated = 0;
    const client = clientWithPartHook(async (part) => {
      if (part !== 1 || terminated) return;
      const { rows } = await admin.query(
        `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = 'addons-dump'`,
      );
      terminated = rows.length;
    });

    const error = await failedDump({ key, s3: { client, bucket: BUCKET, key } });
    client.destroy();

    expect(terminated).toBe(1);
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toMatch(
      /^pg_dump exited with code 1: .*(terminating connection|server closed the connection)/s,
    );
    await expectNothingLeft(key);
  });

  it('an abort kills the processes and aborts the multipart upload', async () => {
    const key = 'failures/aborted.dump.zst';
    const controller = new AbortController();
    const client = clientWithPartHook((part) => {
      if (part === 2) controller.abort(new Error('the operation was aborted by its user'));
    });

    const error = await failedDump({ key, s3: { client, bucket: BUCKET, key }, signal: controller.signal });
    client.destroy();

    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'Aborted' });
    expect(error.message).toBe('The dump was aborted: the operation was aborted by its user');
    await expectNothingLeft(key);
  });

  it('a failing compressor is reported as such and aborts the upload', async () => {
    const key = 'failures/compressor.dump.zst';
    const zstd = join(fixture.dir, 'failing-zstd');
    // Passes 6 MB through (more than one part), then fails like a full disk would.
    await writeFile(
      zstd,
      '#!/bin/sh\n[ "$1" = --version ] && { echo "fake zstd"; exit 0; }\nhead -c 6000000\necho "zstd: simulated write error" >&2\nexit 1\n',
    );
    await chmod(zstd, 0o755);

    const error = await failedDump({ key, tools: { zstd } });

    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'CompressionFailed' });
    expect(error.message).toMatch(/^zstd exited with code 1: zstd: simulated write error/);
    await expectNothingLeft(key);
  });

  it('a missing compressor is a MissingToolError naming the package', async () => {
    const key = 'failures/no-zstd.dump.zst';
    const error = await failedDump({ key, tools: { zstd: join(fixture.dir, 'no-such-zstd') } });

    expect(error).toBeInstanceOf(MissingToolError);
    expect(error.message).toMatch(/zstd is not installed.*apt-get install zstd/);
    await expectNothingLeft(key);
  });

  it('a missing pg_dump is a MissingToolError naming postgresql-client', async () => {
    const key = 'failures/no-pg-dump.dump.zst';
    const empty = join(fixture.dir, 'empty-bin');
    await mkdir(empty, { recursive: true });

    const error = await failedDump({ key, dumpTool: new PostgresDumpTool({ binDir: empty }) });

    expect(error).toBeInstanceOf(MissingToolError);
    expect(error.message).toMatch(/pg_dump is not installed.*postgresql-client/);
  });

  it('a pg_dump older than the server is refused with what to install', async () => {
    const key = 'failures/old-pg-dump.dump.zst';
    const bin = join(fixture.dir, 'old-bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 14.13"\n');
    await chmod(join(bin, 'pg_dump'), 0o755);

    const error = await failedDump({ key, dumpTool: new PostgresDumpTool({ binDir: bin }) });

    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'ToolTooOld' });
    expect(error.message).toMatch(/pg_dump 14 is older than the PostgreSQL 15 server.*postgresql-client-15/);
    await expectNothingLeft(key);
  });
});

describe('restore failures', () => {
  const key = 'failures/source.dump.zst';
  let sha256: string;

  beforeAll(async () => {
    sha256 = (
      await runDump({
        connection: bigConnection,
        engine: 'postgresql',
        compression: 'zstd',
        s3: { client: fixture.s3.client, bucket: BUCKET, key },
      })
    ).sha256;
    await big.query(`DELETE FROM samples WHERE id % 3 = 0; CREATE TABLE after_backup (x int)`);
  });

  it('an abort half way through leaves the data untouched', async () => {
    const before = await fingerprint(big);
    const controller = new AbortController();

    const error = await failedRestore({
      s3: { client: fixture.s3.client, bucket: BUCKET, key },
      compression: 'zstd',
      expectedSha256: sha256,
      signal: controller.signal,
      onProgress: () => controller.abort(new Error('stopped')),
    });

    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'Aborted' });
    expect(await fingerprint(big)).toEqual(before);
    expect(await jobSessions(admin)).toBe(0);
  });

  it('a missing artifact is a named error', async () => {
    const error = await failedRestore({
      s3: { client: fixture.s3.client, bucket: BUCKET, key: 'failures/never-written.dump.zst' },
      compression: 'zstd',
    });

    expect(error).toMatchObject({ name: 'ProviderError', code: 'ArtifactNotFound' });
  });

  it('a wrong compression is a named error and changes nothing', async () => {
    const before = await fingerprint(big);
    const error = await failedRestore({
      s3: { client: fixture.s3.client, bucket: BUCKET, key },
      compression: 'gzip',
      expectedSha256: sha256,
    });

    expect(error).toMatchObject({ name: 'ProviderError', code: 'DecompressionFailed' });
    expect(error.message).toMatch(/^gzip exited with code 1: .*not in gzip format/s);
    expect(await fingerprint(big)).toEqual(before);
    expect(await jobSessions(admin)).toBe(0);
  });
});
