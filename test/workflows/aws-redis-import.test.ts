import { EC2Client } from '@aws-sdk/client-ec2';
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { findPlan } from '#shared/catalog/engines.ts';
import { ProviderError, TransientError } from '#shared/errors.ts';
import { type InstanceSpec, resourceIdFor } from '#shared/ports/engine-provider.ts';
import { ElastiCacheRedisProvider } from '#shared/providers/aws/redis/index.ts';
import { baseIdOf, restoredGroupIdOf } from '#shared/providers/aws/redis/names.ts';
import { importKeyOf } from '#shared/providers/aws/redis/redis-imports.ts';
import { generatePassword } from '#shared/services/credentials.ts';
import { newId } from '#shared/util/ids.ts';
import { FakeAws } from './support/fake-aws.ts';
import { FakeElastiCache } from './support/fake-elasticache.ts';

/**
 * ElastiCacheRedisProvider.importSnapshot and the restore that follows it, against the
 * ElastiCache and S3 fakes: the uploaded RDB is copied into the export bucket, the new group is
 * seeded from that copy (`SnapshotArns`), and `deleteSnapshot` removes the copy.
 */

const fake = new FakeAws();
const cache = new FakeElastiCache(fake);
afterAll(() => {
  cache.restore();
  fake.restore();
});
beforeEach(() => {
  fake.reset();
  cache.reset();
});

const region = { region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
const EXPORTS = 'addons-redis-exports';
const BACKUPS = 'addons-backups';
const props = {
  elasticache: new ElastiCacheClient(region),
  ec2: new EC2Client(region),
  s3: new S3Client(region),
  vpcId: 'vpc-0123',
  vpcCidr: '10.60.0.0/16',
  cacheSubnetGroupName: 'addons-cache-subnets',
  kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/storage',
  deployment: 'Addons',
  defaultUserId: 'addon-addons-off',
};
const provider = new ElastiCacheRedisProvider({ ...props, exportBucket: EXPORTS });

const running = async (version = '7.0') => {
  const addonId = newId('adn');
  const plan = findPlan('redis', 'nano');
  if (!plan) throw new Error('no nano plan');
  const spec: InstanceSpec = {
    resourceId: resourceIdFor(addonId),
    projectId: 'proj-a',
    addonId,
    engine: 'redis',
    version,
    plan,
    storageGiB: 1,
    replicas: 1,
    tls: true,
    publicAccess: false,
    database: '0',
    username: `app-${addonId}`,
    password: generatePassword(),
  };
  await provider.createInstance(spec);
  for (let i = 0; i < 5; i++) {
    if ((await provider.describeInstance(spec.resourceId)).status === 'available') return spec;
  }
  throw new Error('not available');
};

/** An upload in the backup bucket, as the import API leaves it. */
const upload = (addonId: string, body = 'REDIS0010 uploaded') => {
  const source = { bucket: BACKUPS, key: `imports/proj-a/${addonId}/imp-1` };
  fake.objects.set(`${source.bucket}/${source.key}`, body);
  return source;
};

const slowDown = () =>
  new S3ServiceException({ name: 'SlowDown', $fault: 'server', $metadata: { httpStatusCode: 503 } });

describe('ElastiCacheRedisProvider imports', () => {
  it('copies the upload into the export bucket once, seeds the new group from it on the addon version, and deletes the copy', async () => {
    const s = await running('7.0');
    const snapshotId = `${s.resourceId}-imp-1`;
    const source = upload(s.addonId);

    await provider.importSnapshot(s.resourceId, snapshotId, source);
    const key = importKeyOf(snapshotId);
    expect(key).toBe(`imports/${snapshotId}.rdb`);
    expect(fake.inputsOf('s3', 'CopyObject')).toEqual([
      expect.objectContaining({ Bucket: EXPORTS, Key: key, CopySource: `${BACKUPS}/${source.key}` }),
    ]);
    expect(fake.objects.get(`${EXPORTS}/${key}`)).toBe('REDIS0010 uploaded');
    // A retried call finds the copy made: no second copy.
    await provider.importSnapshot(s.resourceId, snapshotId, source);
    expect(fake.inputsOf('s3', 'CopyObject')).toHaveLength(1);

    await provider.restoreSnapshot(s.resourceId, snapshotId, 'op-imp');
    const target = restoredGroupIdOf(s.resourceId, 'op-imp');
    const create = fake.inputsOf('elasticache', 'CreateReplicationGroup').at(-1);
    expect(create).toMatchObject({
      ReplicationGroupId: target,
      SnapshotArns: [`arn:aws:s3:::${EXPORTS}/${key}`],
      // The version the addon runs (its primary node's), not ElastiCache's default.
      EngineVersion: '7.0.0',
      NumCacheClusters: 2,
      AutomaticFailoverEnabled: true,
      TransitEncryptionEnabled: true,
    });
    expect(create).not.toHaveProperty('SnapshotName');
    expect(fake.inputsOf('elasticache', 'DescribeCacheClusters')).toEqual([
      { CacheClusterId: `${baseIdOf(s.resourceId)}-001` },
    ]);
    // A retried start creates nothing more.
    await provider.restoreSnapshot(s.resourceId, snapshotId, 'op-imp');
    expect(fake.inputsOf('elasticache', 'CreateReplicationGroup')).toHaveLength(2);

    // (The retried start's look at the new group was the fake's `creating`.)
    expect(await provider.describeRestore(s.resourceId, snapshotId, 'op-imp')).toEqual({
      status: 'available',
      endpoint: { host: `master.${target}.abc123.euw1.cache.amazonaws.com`, port: 6379 },
    });

    // The import flow drops its snapshot: the copy goes; no ElastiCache snapshot was ever there.
    await provider.deleteSnapshot(snapshotId);
    await provider.deleteSnapshot(snapshotId);
    expect(fake.objects.has(`${EXPORTS}/${key}`)).toBe(false);
    expect(fake.inputsOf('elasticache', 'DeleteSnapshot')).toEqual([]);
    // The upload itself is the import flow's to delete.
    expect(fake.objects.has(`${BACKUPS}/${source.key}`)).toBe(true);
  });

  it('copies a file larger than one part as a multipart copy of byte ranges, in order', async () => {
    const s = await running();
    const snapshotId = `${s.resourceId}-imp-1`;
    const body = 'REDIS0010 a file of several parts';
    const source = upload(s.addonId, body);
    const parted = new ElastiCacheRedisProvider({ ...props, exportBucket: EXPORTS, importCopyPartBytes: 8 });

    await parted.importSnapshot(s.resourceId, snapshotId, source);

    const key = importKeyOf(snapshotId);
    expect(fake.objects.get(`${EXPORTS}/${key}`)).toBe(body);
    expect(fake.inputsOf('s3', 'CopyObject')).toEqual([]);
    const parts = fake.inputsOf('s3', 'UploadPartCopy');
    expect(parts.map((part) => part.CopySourceRange).sort()).toEqual(
      ['bytes=0-7', 'bytes=8-15', 'bytes=16-23', 'bytes=24-31', 'bytes=32-32'].sort(),
    );
    expect(parts.every((part) => part.Bucket === EXPORTS && part.Key === key)).toBe(true);
    expect(fake.inputsOf('s3', 'CompleteMultipartUpload')).toMatchObject([
      {
        Bucket: EXPORTS,
        Key: key,
        MultipartUpload: { Parts: [1, 2, 3, 4, 5].map((PartNumber) => ({ PartNumber })) },
      },
    ]);
  });

  it('a copy S3 throttles is a TransientError, and the retried call copies', async () => {
    const s = await running();
    const snapshotId = `${s.resourceId}-imp-1`;
    const source = upload(s.addonId);
    fake.failNext.set('CopyObject', [slowDown()]);

    await expect(provider.importSnapshot(s.resourceId, snapshotId, source)).rejects.toBeInstanceOf(
      TransientError,
    );
    expect(fake.objects.has(`${EXPORTS}/${importKeyOf(snapshotId)}`)).toBe(false);
    await provider.importSnapshot(s.resourceId, snapshotId, source);
    expect(fake.objects.has(`${EXPORTS}/${importKeyOf(snapshotId)}`)).toBe(true);
  });

  it('an upload that is gone fails with a ProviderError saying so', async () => {
    const s = await running();
    const failure = await provider
      .importSnapshot(s.resourceId, `${s.resourceId}-imp-1`, {
        bucket: BACKUPS,
        key: 'imports/proj-a/x/imp-gone',
      })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ProviderError);
    expect((failure as ProviderError).message).toContain('upload it again');
  });

  it('an RDB ElastiCache cannot load fails the restore (restore-failed), deletes the new group, and the discard keeps the addon', async () => {
    const s = await running();
    const snapshotId = `${s.resourceId}-imp-1`;
    await provider.importSnapshot(s.resourceId, snapshotId, upload(s.addonId, 'REDIS0012 newer'));
    cache.script = { statuses: ['creating', 'restore-failed'] };
    await provider.restoreSnapshot(s.resourceId, snapshotId, 'op-bad');

    expect(await provider.describeRestore(s.resourceId, snapshotId, 'op-bad')).toEqual({
      status: 'restoring',
    });
    expect(await provider.describeRestore(s.resourceId, snapshotId, 'op-bad')).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/restore-failed.*newer format.*keeps its data/s),
    });
    expect(cache.groups.get(restoredGroupIdOf(s.resourceId, 'op-bad'))?.deletingDescribes).toBeDefined();
    expect(await provider.discardRestore(s.resourceId, snapshotId, 'op-bad')).toBe('discarded');
    expect(cache.groups.get(baseIdOf(s.resourceId))?.deletingDescribes).toBeUndefined();
    await provider.deleteSnapshot(snapshotId);
    expect(fake.objects.has(`${EXPORTS}/${importKeyOf(snapshotId)}`)).toBe(false);
  });

  it('without an export bucket, imports are refused as a misconfiguration', async () => {
    const bare = new ElastiCacheRedisProvider(props);
    await expect(
      bare.importSnapshot('addon-x', 'addon-x-imp-1', { bucket: BACKUPS, key: 'imports/p/a/imp-1' }),
    ).rejects.toMatchObject({ code: 'Misconfigured' });
  });
});
