import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { type GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
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

/**
 * An S3 client whose object bodies end (after their last byte) only once the restore's session
 * has been waiting for input (in a COPY or between statements), or gone, for a second.
 */
const endingOnceCaughtUp = (client: S3Client, observer: pg.Client): S3Client =>
  ({
    send: async (command: GetObjectCommand, options?: { abortSignal?: AbortSignal }) => {
      const output = await client.send(command, options);
      const body = output.Body as Readable;
      async function* caughtUp() {
        for await (const chunk of body) yield chunk;
        let quiet = 0;
        for (let polls = 0; quiet < 5 && polls < 300; polls++) {
          const { rows } = await observer.query(
            `SELECT count(*)::int AS busy FROM pg_stat_activity WHERE application_name = 'addons-restore' AND wait_event IS DISTINCT FROM 'ClientRead'`,
          );
          quiet = rows[0]?.busy === 0 ? quiet + 1 : 0;
          await sleep(200);
        }
      }
      return { ...output, Body: Readable.from(caughtUp()) };
    },
  }) as unknown as S3Client;

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

  it('fails on a replaced artifact of several MB, run nearly to its end before its checksum is known, and commits nothing', async () => {
    // Far larger than the script's tail the pipeline holds back: psql has run nearly all of this
    // script when the mismatch is found.
    await db.query(
      `CREATE TABLE big_noise AS SELECT g AS id, md5(g::text || random()::text) || md5(random()::text) AS noise FROM generate_series(1, 150000) AS g`,
    );
    const other = 'tests/other-big.dump.zst';
    await dump(other, 'zstd');
    await db.query('DROP TABLE big_noise');
    const bytes = await objectBytes(fixture.s3.client, other);
    expect(bytes.length).toBeGreaterThan(3 * 1024 ** 2);
    const replaced = 'tests/replaced-big.dump.zst';
    await fixture.s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: replaced, Body: bytes }));
    const before = await fingerprint(db);

    const failure = await runRestore({
      connection: fixture.postgres.connection,
      engine: 'postgresql',
      // The download ends only once the restore's session has caught up with every byte sent:
      // without the held-back tail its script would have reached the COMMIT by then.
      s3: { ...target(replaced), client: endingOnceCaughtUp(fixture.s3.client, db) },
      compression: 'zstd',
      expectedSha256: recorded,
    }).catch((error: unknown) => error);

    expect(failure).toMatchObject({ name: 'ProviderError', code: 'ChecksumMismatch' });
    expect(await fingerprint(db)).toEqual(before);
    const { rows } = await db.query(`SELECT to_regclass('big_noise') AS big`);
    expect(rows).toEqual([{ big: null }]);
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
