import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3SnapshotExporter } from '#infra/local/engines/snapshot-export.ts';
import { LocalEngineSupervisor } from '#infra/local/engines/supervisor.ts';
import { ensureBucket, type S3Emulator, startS3 } from '#infra/local/s3-emulator.ts';
import { killLeftoverServers, localSpec, oneInstance, poll } from './support/local-engines.ts';

/**
 * Downloadable Redis snapshots on the local target: the supervisor uploads the snapshot's RDB to
 * S3 (a real s3rver, the platform's SDK client) with its SHA-256 before the snapshot is
 * available, refuses a copy it cannot make, and takes a snapshot whose upload failed again.
 */

const ID = 'addon-01jtestredisexport';
const BUCKET = 'addons-export-test';
let dataDir: string;
let s3: S3Emulator;
let supervisor: LocalEngineSupervisor;
const { instanceDir } = oneInstance(() => dataDir, ID, 'redis.pid');

const settled = (snapshotId: string) =>
  poll(
    () => supervisor.describeSnapshot(snapshotId),
    (state) => state.status !== 'creating',
    60_000,
  );

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-redis-export-'));
  s3 = await startS3(dataDir);
  await ensureBucket(s3.client, BUCKET);
  supervisor = new LocalEngineSupervisor({ dataDir, exporter: new S3SnapshotExporter(s3.client) });
  await supervisor.createInstance(
    localSpec({ resourceId: ID, addonId: 'adn-01jtestredisexport', engine: 'redis', version: '7.0' }),
  );
});

afterAll(async () => {
  await supervisor?.stopAll();
  await killLeftoverServers(instanceDir(), 'redis.pid', 'SIGKILL');
  await s3?.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('LocalEngineSupervisor: Redis snapshots with a downloadable copy', { timeout: 90_000 }, () => {
  it('uploads the RDB with its SHA-256 before the snapshot is available, and says where', async () => {
    const key = 'snapshots/prj/adn/bkp-1.rdb';
    await supervisor.createSnapshot(ID, 'snp-export-1', { bucket: BUCKET, key });
    const state = await settled('snp-export-1');
    const rdb = await fs.readFile(path.join(dataDir, 'snapshots', 'snp-export-1', 'backup', 'dump.rdb'));
    expect(state).toEqual({
      status: 'available',
      sizeBytes: expect.any(Number),
      exported: { bucket: BUCKET, key, sha256: sha256(rdb), sizeBytes: rdb.length },
    });
    const object = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const uploaded = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
    expect(uploaded.equals(rdb)).toBe(true);
    expect(uploaded.subarray(0, 5).toString('latin1')).toBe('REDIS');
    // snapshot.json keeps it, so another supervisor (a restarted platform) reports it too.
    const again = new LocalEngineSupervisor({ dataDir });
    expect(await again.describeSnapshot('snp-export-1')).toEqual(state);
    // Idempotent: asking again for an available snapshot changes nothing.
    await supervisor.createSnapshot(ID, 'snp-export-1', { bucket: BUCKET, key });
    expect(await supervisor.describeSnapshot('snp-export-1')).toEqual(state);
  });

  it('without object storage to upload to, refuses a snapshot asked for a copy, before taking it', async () => {
    const bare = new LocalEngineSupervisor({ dataDir });
    await expect(
      bare.createSnapshot(ID, 'snp-export-2', { bucket: BUCKET, key: 'snapshots/x.rdb' }),
    ).rejects.toMatchObject({ code: 'NoExporter' });
    expect(await bare.describeSnapshot('snp-export-2')).toEqual({ status: 'absent' });
  });

  it('a failed upload fails the snapshot with the reason; asking again takes and uploads it again', async () => {
    const wrong = { bucket: 'no-such-bucket', key: 'snapshots/prj/adn/bkp-3.rdb' };
    await supervisor.createSnapshot(ID, 'snp-export-3', wrong);
    const failed = await settled('snp-export-3');
    expect(failed).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/Uploading the snapshot/),
    });
    expect(await fs.readdir(path.join(dataDir, 'snapshots', 'snp-export-3'))).toEqual(['snapshot.json']);

    const key = 'snapshots/prj/adn/bkp-3.rdb';
    await supervisor.createSnapshot(ID, 'snp-export-3', { bucket: BUCKET, key });
    const state = await settled('snp-export-3');
    expect(state).toMatchObject({ status: 'available', exported: { bucket: BUCKET, key } });
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.ContentLength).toBe((state as { exported: { sizeBytes: number } }).exported.sizeBytes);
  });
});
