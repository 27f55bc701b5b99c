import { PutObjectCommand } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '#shared/errors.ts';
import { runDump } from '#shared/jobs/dump.ts';
import { runRestore } from '#shared/jobs/restore.ts';
import type { Compression } from '#shared/schemas/backup.ts';
import {
  BUCKET,
  decompress,
  fingerprint,
  type JobsFixture,
  jobSessions,
  loadSampleData,
  multipartUploads,
  objectBytes,
  runWithInput,
  sha256Of,
  startJobsFixture,
} from './fixtures.ts';

/** Dumps and restores against a real PostgreSQL, real pg_dump/pg_restore/psql and s3rver. */
let fixture: JobsFixture;
let db: pg.Client;

beforeAll(async () => {
  fixture = await startJobsFixture();
  db = await fixture.postgres.client();
  await loadSampleData(db);
});

afterAll(async () => {
  await db?.end();
  await fixture?.stop();
});

const target = (key: string) => ({ client: fixture.s3.client, bucket: BUCKET, key });
const dump = (key: string, compression: Compression) =>
  runDump({
    connection: fixture.postgres.connection,
    engine: 'postgresql',
    s3: target(key),
    compression,
    estimatedBytes: 1024 ** 3,
  });

/** What users do between a backup and a restore: changed rows, a dropped table, new objects. */
const changeEverything = async () => {
  await db.query(`
    UPDATE accounts SET balance = balance + 1 WHERE id % 7 = 0;
    DELETE FROM events WHERE id % 10 = 0;
    DROP TABLE settings;
    CREATE TABLE created_later (id int PRIMARY KEY, note text);
    INSERT INTO created_later VALUES (1, 'must not survive the restore');
    CREATE SCHEMA scratch;
    CREATE TABLE scratch.tmp AS SELECT 1 AS x;
    CREATE VIEW later_view AS SELECT * FROM created_later;
    ALTER TABLE accounts ADD COLUMN nickname text;
    INSERT INTO accounts (name) VALUES ('moves the sequence');
    SELECT lo_from_bytea(0, convert_to('a large object created later', 'UTF8'));
  `);
};

describe.each<Compression>(['zstd', 'gzip'])('%s dumps', (compression) => {
  const key = `tests/round-trip.dump.${compression === 'zstd' ? 'zst' : 'gz'}`;

  it('uploads an artifact whose size and SHA-256 are the recorded ones and that pg_restore reads', async () => {
    const result = await dump(key, compression);

    const bytes = await objectBytes(fixture.s3.client, key);
    expect(result.compression).toBe(compression);
    expect(result.sizeBytes).toBe(bytes.length);
    expect(result.sha256).toBe(sha256Of(bytes));
    // More than one 5 MiB part: the multipart path, and it completed.
    expect(result.sizeBytes).toBeGreaterThan(result.partSize);
    expect(await multipartUploads(fixture.s3.client)).toEqual([]);
    expect(result.toolVersion).toMatch(/^pg_dump \(PostgreSQL\) \d+/);
    expect(Date.parse(result.completedAt)).toBeGreaterThanOrEqual(Date.parse(result.startedAt));

    const list = await runWithInput('pg_restore', ['--list'], await decompress(compression, bytes));
    expect(list.code).toBe(0);
    expect(list.stdout.toString()).toContain('TABLE DATA public events');
    expect(list.stdout.toString()).toContain('TABLE DATA audit log');
  });

  it('restores exactly the state at backup time', async () => {
    const before = await fingerprint(db);
    const result = await dump(key, compression);
    await changeEverything();
    expect(await fingerprint(db)).not.toEqual(before);

    const restored = await runRestore({
      connection: fixture.postgres.connection,
      engine: 'postgresql',
      s3: target(key),
      compression,
      expectedSha256: result.sha256,
    });

    expect(restored).toMatchObject({ sha256: result.sha256, sizeBytes: result.sizeBytes, verified: true });
    const after = await fingerprint(db);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    expect(after).toEqual(before);
    const { rows } = await db.query(`SELECT nspname FROM pg_namespace WHERE nspname = 'scratch'`);
    expect(rows).toEqual([]);
    expect(await jobSessions(db)).toBe(0);
  });
});

describe('restoring an artifact that is not the recorded one', () => {
  const key = 'tests/verified.dump.zst';
  let recorded: string;

  beforeAll(async () => {
    recorded = (await dump(key, 'zstd')).sha256;
    await changeEverything();
  });

  it('fails on a replaced artifact, although it is a valid dump, and commits nothing', async () => {
    // A valid dump of another state under the recorded key: pg_restore and psql would run the
    // whole script; only the checksum stands between it and the COMMIT.
    const other = `tests/other.dump.zst`;
    await dump(other, 'zstd');
    await fixture.s3.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: await objectBytes(fixture.s3.client, other) }),
    );
    await db.query(`INSERT INTO created_later VALUES (2, 'written after the second dump')`);
    const before = await fingerprint(db);

    const failure = await runRestore({
      connection: fixture.postgres.connection,
      engine: 'postgresql',
      s3: target(key),
      compression: 'zstd',
      expectedSha256: recorded,
    }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ProviderError);
    expect(failure).toMatchObject({ code: 'ChecksumMismatch' });
    expect((failure as Error).message).toMatch(/SHA-256 .* recorded .*not changed/);
    expect(await fingerprint(db)).toEqual(before);
    expect(await jobSessions(db)).toBe(0);
  });

  it('fails on a corrupted artifact and leaves the data untouched', async () => {
    const bytes = await objectBytes(fixture.s3.client, key);
    const corrupted = Buffer.from(bytes);
    for (let offset = Math.floor(corrupted.length / 2); offset < corrupted.length / 2 + 64; offset++) {
      corrupted[offset] = (corrupted[offset] ?? 0) ^ 0xff;
    }
    await fixture.s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: corrupted }));
    const before = await fingerprint(db);

    const failure = await runRestore({
      connection: fixture.postgres.connection,
      engine: 'postgresql',
      s3: target(key),
      compression: 'zstd',
      expectedSha256: sha256Of(bytes),
    }).catch((error: unknown) => error);

    // The decompressor may notice first; either way a named error and no change.
    expect(failure).toBeInstanceOf(ProviderError);
    expect((failure as ProviderError).code).toMatch(/ChecksumMismatch|DecompressionFailed|RestoreFailed/);
    expect(await fingerprint(db)).toEqual(before);
    expect(await jobSessions(db)).toBe(0);
  });
});
