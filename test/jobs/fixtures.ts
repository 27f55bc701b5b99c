import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type pg from 'pg';
import { ensureBucket, type S3Emulator, startS3 } from '#infra/local/s3-emulator.ts';
import type { Compression } from '#shared/schemas/backup.ts';
import { startTestPostgres, type TestPostgres } from './postgres-server.ts';

export const BUCKET = 'addons-job-tests';

export interface JobsFixture {
  postgres: TestPostgres;
  s3: S3Emulator;
  dir: string;
  stop(): Promise<void>;
}

/** A PostgreSQL server, s3rver with the test bucket, and a temp directory; `stop` removes them all. */
export const startJobsFixture = async (): Promise<JobsFixture> => {
  const dir = await mkdtemp(join(tmpdir(), 'addons-jobs-test-'));
  const [postgres, s3] = await Promise.all([startTestPostgres(), startS3(dir)]);
  await ensureBucket(s3.client, BUCKET);
  return {
    postgres,
    s3,
    dir,
    stop: async () => {
      await Promise.allSettled([postgres.stop(), s3.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
};

/**
 * A few MB over several tables, schemas and object kinds. `events` holds hex text that compresses
 * to about half, so its artifact spans more than one 5 MiB part and the upload is multipart.
 */
export const loadSampleData = async (client: pg.Client, eventRows = 120_000): Promise<void> => {
  await client.query(`
    CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12,2), created_at timestamptz);
    INSERT INTO accounts (name, balance, created_at)
      SELECT 'account ' || i, round((random() * 10000)::numeric, 2), now() - i * interval '1 minute'
      FROM generate_series(1, 20000) i;
    CREATE TABLE events (id bigint PRIMARY KEY, account_id int REFERENCES accounts(id), payload text, score double precision);
    INSERT INTO events
      SELECT i, 1 + i % 20000, md5(i::text) || md5((i * 31)::text), random() FROM generate_series(1, ${eventRows}) i;
    CREATE INDEX events_account ON events (account_id);
    CREATE TABLE settings (key text PRIMARY KEY, value jsonb);
    INSERT INTO settings SELECT 'k' || i, jsonb_build_object('n', i, 'tags', jsonb_build_array('a', 'b')) FROM generate_series(1, 500) i;
    CREATE VIEW rich_accounts AS SELECT id, name FROM accounts WHERE balance > 5000;
    CREATE SCHEMA audit;
    CREATE TABLE audit.log (id serial PRIMARY KEY, message text);
    INSERT INTO audit.log (message) SELECT 'entry ' || i FROM generate_series(1, 1000) i;
    COMMENT ON SCHEMA public IS 'the application schema';
    SELECT lo_from_bytea(0, convert_to('a large object', 'UTF8'));
  `);
};

/** Every table outside the system schemas with an md5 of its sorted rows, views, sequences, large objects. */
export const fingerprint = async (client: pg.Client): Promise<Record<string, string>> => {
  const { rows: tables } = await client.query<{ name: string }>(`
    SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
    WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`);
  const result: Record<string, string> = {};
  for (const { name } of tables) {
    const { rows } = await client.query<{ sum: string }>(
      `SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS sum FROM ${name} t`,
    );
    result[name] = rows[0]?.sum ?? '';
  }
  const { rows: views } = await client.query<{ name: string; definition: string }>(`
    SELECT format('%I.%I', schemaname, viewname) AS name, definition FROM pg_views
    WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`);
  for (const { name, definition } of views) result[`view ${name}`] = definition;
  const { rows: extras } = await client.query<{ key: string; value: string }>(`
    SELECT format('sequence %I.%I', schemaname, sequencename) AS key, coalesce(last_value::text, '') AS value
      FROM pg_sequences
    UNION ALL
    SELECT 'schema public', coalesce(obj_description(oid, 'pg_namespace'), '') || ' ' || coalesce(nspacl::text, '')
      FROM pg_namespace WHERE nspname = 'public'
    UNION ALL
    SELECT 'large objects', coalesce(string_agg(oid::text || ':' || md5(lo_get(oid)), ',' ORDER BY oid), '')
      FROM pg_largeobject_metadata`);
  for (const { key, value } of extras) result[key] = value;
  return result;
};

export const objectBytes = async (client: S3Client, key: string): Promise<Buffer> => {
  const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(
    await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
};

export const sha256Of = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

export const objectExists = async (client: S3Client, key: string): Promise<boolean> => {
  try {
    await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch {
    return false;
  }
};

export const multipartUploads = async (client: S3Client): Promise<string[]> => {
  const result = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
  return (result.Uploads ?? []).map((upload) => `${upload.Key}#${upload.UploadId}`);
};

/** Runs a command with `input` on stdin; resolves its exit code and output. */
export const runWithInput = (
  command: string,
  args: string[],
  input: Buffer | Readable,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.stdin.on('error', () => undefined);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr }));
    if (Buffer.isBuffer(input)) child.stdin.end(input);
    else input.pipe(child.stdin);
  });

export const decompress = async (compression: Compression, bytes: Buffer): Promise<Buffer> => {
  const { code, stdout, stderr } = await runWithInput(compression, ['-d', '-c'], bytes);
  if (code !== 0) throw new Error(`${compression} -d failed: ${stderr}`);
  return stdout;
};

/**
 * Backends of the job tools (pg_dump, psql) still connected, by application_name. A killed
 * client's backend notices the closed socket within moments: give it up to `graceMs`.
 */
export const jobSessions = async (client: pg.Client, graceMs = 5000): Promise<number> => {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const { rows } = await client.query<{ count: string }>(
      `SELECT count(*) AS count FROM pg_stat_activity WHERE application_name IN ('addons-dump', 'addons-restore')`,
    );
    const count = Number(rows[0]?.count ?? 0);
    if (count === 0 || Date.now() > deadline) return count;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};
