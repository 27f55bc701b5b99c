import { createHash } from 'node:crypto';
import { EC2Client } from '@aws-sdk/client-ec2';
import {
  ElastiCacheClient,
  InsufficientCacheClusterCapacityFault,
  InvalidReplicationGroupStateFault,
} from '@aws-sdk/client-elasticache';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { findPlan } from '#shared/catalog/engines.ts';
import { engineFacts } from '#shared/engines/index.ts';
import { ProviderError, TransientError } from '#shared/errors.ts';
import { type InstanceSpec, resourceIdFor } from '#shared/ports/engine-provider.ts';
import { ElastiCacheRedisProvider } from '#shared/providers/aws/redis/index.ts';
import {
  baseIdOf,
  customerUserIdOf,
  isValidGroupId,
  REDIS_TAG_KEYS,
  restoredGroupIdOf,
  userGroupIdOf,
} from '#shared/providers/aws/redis/names.ts';
import { RedisSnapshotDeleter } from '#shared/providers/aws/redis/redis-snapshots.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { generatePassword } from '#shared/services/credentials.ts';
import { newId } from '#shared/util/ids.ts';
import { FakeAws } from './support/fake-aws.ts';
import { FakeElastiCache } from './support/fake-elasticache.ts';

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
const KMS = 'arn:aws:kms:eu-west-1:123456789012:key/storage';
const provider = new ElastiCacheRedisProvider({
  elasticache: new ElastiCacheClient(region),
  ec2: new EC2Client(region),
  s3: new S3Client(region),
  vpcId: 'vpc-0123',
  vpcCidr: '10.60.0.0/16',
  cacheSubnetGroupName: 'addons-cache-subnets',
  kmsKeyId: KMS,
  deployment: 'Addons',
  exportBucket: 'addons-redis-exports',
  defaultUserId: 'addon-addons-off',
});

const spec = (overrides: Partial<InstanceSpec> = {}): InstanceSpec => {
  const addonId = overrides.addonId ?? newId('adn');
  const plan = findPlan('redis', 'nano');
  if (!plan) throw new Error('no nano plan');
  return {
    resourceId: resourceIdFor(addonId),
    projectId: 'proj-a',
    addonId,
    engine: 'redis',
    version: '7.1',
    plan,
    storageGiB: 1,
    replicas: 0,
    tls: true,
    publicAccess: false,
    database: '0',
    username: engineFacts('redis').usernameFor?.(addonId) ?? 'app',
    password: generatePassword(),
    ...overrides,
  };
};

/** Describe until the state is not `creating`/`deleting` (each describe advances the fake). */
const settle = async (resourceId: string) => {
  for (let i = 0; i < 10; i++) {
    const state = await provider.describeInstance(resourceId);
    if (state.status !== 'creating' && state.status !== 'deleting') return state;
  }
  throw new Error('did not settle');
};

describe('ElastiCache identifiers', () => {
  it('derives ids within 40 characters, deterministic, distinct for long ids sharing a prefix', () => {
    const long = resourceIdFor(newId('adn'));
    expect(long.length).toBeGreaterThan(30);
    expect(baseIdOf(long)).toBe(baseIdOf(long));
    expect(baseIdOf(long).length).toBeLessThanOrEqual(30);
    expect(isValidGroupId(restoredGroupIdOf(long, newId('op')))).toBe(true);
    expect(restoredGroupIdOf(long, 'op-1')).not.toBe(restoredGroupIdOf(long, 'op-2'));
    const a = `${'addon-'.padEnd(40, 'x')}a`;
    const b = `${'addon-'.padEnd(40, 'x')}b`;
    expect(baseIdOf(a)).not.toBe(baseIdOf(b));
    expect(baseIdOf('addon-short')).toBe('addon-short');
  });
});

describe('ElastiCacheRedisProvider instances', () => {
  it('creates one encrypted, TLS-only replication group with the addon RBAC user, then reports its endpoint', async () => {
    const s = spec({ replicas: 2 });
    await provider.createInstance(s);
    const [create] = fake.inputsOf('elasticache', 'CreateReplicationGroup');
    expect(create).toMatchObject({
      ReplicationGroupId: baseIdOf(s.resourceId),
      Engine: 'redis',
      EngineVersion: '7.1',
      CacheNodeType: 'cache.t4g.micro',
      NumCacheClusters: 3,
      AutomaticFailoverEnabled: true,
      MultiAZEnabled: true,
      AtRestEncryptionEnabled: true,
      KmsKeyId: KMS,
      TransitEncryptionEnabled: true,
      CacheSubnetGroupName: 'addons-cache-subnets',
      UserGroupIds: [userGroupIdOf(s.resourceId)],
    });
    expect(create?.SecurityGroupIds).toHaveLength(1);
    expect(create?.Tags).toEqual(
      expect.arrayContaining([
        { Key: TAG_KEYS.deployment, Value: 'Addons' },
        { Key: TAG_KEYS.addon, Value: s.addonId },
      ]),
    );
    const users = fake.inputsOf('elasticache', 'CreateUser');
    expect(users.map((user) => [user.UserName, user.AccessString])).toEqual([[s.username, 'on ~* &* +@all']]);
    // The deployment's disabled `default` user is in every addon's group; the addon's user is its own.
    expect(fake.inputsOf('elasticache', 'CreateUserGroup')[0]?.UserIds).toEqual([
      'addon-addons-off',
      customerUserIdOf(s.resourceId),
    ]);
    expect(users[0]?.AuthenticationMode).toEqual({ Type: 'password', Passwords: [s.password] });
    const state = await settle(s.resourceId);
    expect(state).toMatchObject({
      status: 'available',
      endpoint: { host: `master.${baseIdOf(s.resourceId)}.abc123.euw1.cache.amazonaws.com`, port: 6379 },
      network: { clientSecurityGroupId: expect.stringMatching(/^sg-/) },
    });
  });

  it('creates a single node without failover when there are no replicas, and is idempotent', async () => {
    const s = spec();
    await provider.createInstance(s);
    await provider.createInstance(s);
    const creates = fake.inputsOf('elasticache', 'CreateReplicationGroup');
    expect(creates).toHaveLength(2);
    expect(creates[0]).toMatchObject({
      NumCacheClusters: 1,
      AutomaticFailoverEnabled: false,
      MultiAZEnabled: false,
    });
    expect(cache.groups.size).toBe(1);
    expect(cache.users.size).toBe(1);
  });

  it('refuses an addon without TLS (RBAC needs encryption in transit)', async () => {
    await expect(provider.createInstance(spec({ tls: false }))).rejects.toMatchObject({
      code: 'UnsupportedOption',
    });
    expect(fake.commands('elasticache')).toEqual([]);
  });

  it('reports ElastiCache capacity failures as a ProviderError the user can act on', async () => {
    fake.failNext.set('CreateReplicationGroup', [
      new InsufficientCacheClusterCapacityFault({
        $metadata: { httpStatusCode: 400 },
        message: 'no capacity',
      }),
    ]);
    const error = await provider.createInstance(spec()).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'InsufficientCapacity' });
  });

  it('deletes the group, then the user group, users and security group; absent means nothing is left', async () => {
    const s = spec();
    await provider.createInstance(s);
    await settle(s.resourceId);
    await provider.deleteInstance(s.resourceId);
    expect(await provider.describeInstance(s.resourceId)).toEqual({ status: 'deleting' });
    expect(await settle(s.resourceId)).toEqual({ status: 'absent' });
    expect(cache.leftovers()).toEqual([]);
    expect(fake.groups.has(s.resourceId)).toBe(false);
    expect([...fake.groups.values()].filter((group) => group.name === s.resourceId)).toEqual([]);
    // A retried delete of what is gone succeeds.
    await provider.deleteInstance(s.resourceId);
  });

  it('retries a delete ElastiCache refuses while the group is busy (TransientError), then deletes', async () => {
    const s = spec();
    await provider.createInstance(s);
    await settle(s.resourceId);
    fake.failNext.set('DeleteReplicationGroup', [
      new InvalidReplicationGroupStateFault({ $metadata: { httpStatusCode: 400 }, message: 'snapshotting' }),
    ]);
    await expect(provider.deleteInstance(s.resourceId)).rejects.toBeInstanceOf(TransientError);
    await provider.deleteInstance(s.resourceId);
    expect(await settle(s.resourceId)).toEqual({ status: 'absent' });
    expect(cache.leftovers()).toEqual([]);
  });

  it('cleans up users and groups at once when the replication group was never created', async () => {
    const s = spec();
    fake.failNext.set('CreateReplicationGroup', [new Error('boom')]);
    await expect(provider.createInstance(s)).rejects.toThrow();
    await provider.deleteInstance(s.resourceId);
    expect(await settle(s.resourceId)).toEqual({ status: 'absent' });
    expect(cache.leftovers()).toEqual([]);
  });
});

describe('ElastiCacheRedisProvider snapshots and exports', () => {
  it('snapshots the current group, tagged as ours; deletes idempotently', async () => {
    const s = spec();
    await provider.createInstance(s);
    await settle(s.resourceId);
    await provider.createSnapshot(s.resourceId, `${s.resourceId}-bkp1`);
    await provider.createSnapshot(s.resourceId, `${s.resourceId}-bkp1`);
    expect(fake.inputsOf('elasticache', 'CreateSnapshot')[0]).toMatchObject({
      SnapshotName: `${s.resourceId}-bkp1`,
      ReplicationGroupId: baseIdOf(s.resourceId),
      Tags: [
        { Key: TAG_KEYS.deployment, Value: 'Addons' },
        { Key: TAG_KEYS.source, Value: s.resourceId },
      ],
    });
    expect(await provider.describeSnapshot(`${s.resourceId}-bkp1`)).toEqual({ status: 'creating' });
    expect(await provider.describeSnapshot(`${s.resourceId}-bkp1`)).toEqual({
      status: 'available',
      sizeBytes: null,
    });
    await new RedisSnapshotDeleter(new ElastiCacheClient(region)).deleteSnapshot(`${s.resourceId}-bkp1`);
    await provider.deleteSnapshot(`${s.resourceId}-bkp1`);
    expect(await provider.describeSnapshot(`${s.resourceId}-bkp1`)).toEqual({ status: 'absent' });
  });

  it('exports the RDB to the export bucket, then reports its key, size and SHA-256 (hashed once)', async () => {
    const s = spec();
    await provider.createInstance(s);
    await settle(s.resourceId);
    const id = `${s.resourceId}-bkp2`;
    // The workflow asks for the copy in the provider's export bucket (`exportBucket`).
    await provider.createSnapshot(s.resourceId, id, {
      bucket: provider.exportBucket ?? 'no export bucket',
      key: `proj-a/${s.addonId}/bkp2.rdb`,
    });
    expect(await provider.describeSnapshot(id)).toEqual({ status: 'creating' });
    // Available: the export starts; ElastiCache shows `exporting` meanwhile.
    expect(await provider.describeSnapshot(id)).toEqual({ status: 'creating' });
    expect(fake.inputsOf('elasticache', 'CopySnapshot')).toEqual([
      { SourceSnapshotName: id, TargetSnapshotName: 'bkp2', TargetBucket: 'addons-redis-exports' },
    ]);
    expect(await provider.describeSnapshot(id)).toEqual({ status: 'creating' });
    const expected = {
      status: 'available',
      sizeBytes: cache.rdb.length,
      exported: {
        bucket: 'addons-redis-exports',
        key: 'bkp2-0001.rdb',
        sha256: createHash('sha256').update(cache.rdb).digest('hex'),
        sizeBytes: cache.rdb.length,
      },
    };
    expect(await provider.describeSnapshot(id)).toEqual(expected);
    expect(await provider.describeSnapshot(id)).toEqual(expected);
    expect(fake.commands('s3').filter((command) => command === 'GetObject')).toHaveLength(1);
    expect(cache.snapshots.get(id)?.tags).toContainEqual({
      Key: REDIS_TAG_KEYS.exportSha256,
      Value: expected.exported.sha256,
    });
  });
});

describe('ElastiCacheRedisProvider restores', () => {
  const ready = async () => {
    const s = spec();
    await provider.createInstance(s);
    await settle(s.resourceId);
    await provider.createSnapshot(s.resourceId, `${s.resourceId}-snap`);
    return s;
  };

  it('restores into a new group, switches the addon to it, deletes the old one and reports the new endpoint', async () => {
    const s = await ready();
    const target = restoredGroupIdOf(s.resourceId, 'op-restore');
    await provider.restoreSnapshot(s.resourceId, `${s.resourceId}-snap`, 'op-restore');
    const creates = fake.inputsOf('elasticache', 'CreateReplicationGroup');
    expect(creates.at(-1)).toMatchObject({
      ReplicationGroupId: target,
      SnapshotName: `${s.resourceId}-snap`,
      // The snapshot's version, not ElastiCache's default.
      EngineVersion: '7.1.0',
      CacheNodeType: 'cache.t4g.micro',
      NumCacheClusters: 1,
      TransitEncryptionEnabled: true,
      UserGroupIds: [userGroupIdOf(s.resourceId)],
    });
    expect(creates.at(-1)?.Tags).toContainEqual({ Key: TAG_KEYS.restore, Value: 'op-restore' });
    expect(await provider.describeRestore(s.resourceId, '', 'op-restore')).toEqual({ status: 'restoring' });
    const done = {
      status: 'available',
      endpoint: { host: `master.${target}.abc123.euw1.cache.amazonaws.com`, port: 6379 },
    };
    expect(await provider.describeRestore(s.resourceId, '', 'op-restore')).toEqual(done);
    expect(fake.inputsOf('elasticache', 'DeleteReplicationGroup')).toEqual([
      { ReplicationGroupId: baseIdOf(s.resourceId), RetainPrimaryCluster: false },
    ]);
    // A retried start after the switch creates nothing.
    await provider.restoreSnapshot(s.resourceId, `${s.resourceId}-snap`, 'op-restore');
    expect(fake.inputsOf('elasticache', 'CreateReplicationGroup')).toHaveLength(2);
    // Retried: the same answer, nothing deleted twice, and the addon now answers on the new group.
    expect(await provider.describeRestore(s.resourceId, '', 'op-restore')).toEqual(done);
    expect(await settle(s.resourceId)).toMatchObject({ status: 'available', endpoint: done.endpoint });
    expect(await provider.discardRestore(s.resourceId, '', 'op-restore')).toBe('completed');
    // Later snapshots come from the new group, and deleting the addon deletes it and everything else.
    await provider.createSnapshot(s.resourceId, `${s.resourceId}-after`);
    expect(fake.inputsOf('elasticache', 'CreateSnapshot').at(-1)?.ReplicationGroupId).toBe(target);
    await provider.deleteInstance(s.resourceId);
    expect(await settle(s.resourceId)).toEqual({ status: 'absent' });
    expect(cache.leftovers()).toEqual([]);
  });

  it('a discarded restore deletes the new group and leaves the addon on its own', async () => {
    const s = await ready();
    await provider.restoreSnapshot(s.resourceId, `${s.resourceId}-snap`, 'op-x');
    expect(await provider.discardRestore(s.resourceId, '', 'op-x')).toBe('discarded');
    expect(cache.groups.get(restoredGroupIdOf(s.resourceId, 'op-x'))?.deletingDescribes).toBeDefined();
    expect(await settle(s.resourceId)).toMatchObject({
      status: 'available',
      endpoint: { host: expect.stringContaining(baseIdOf(s.resourceId)) },
    });
  });

  it('a restored group that fails is deleted and the restore fails with the addon untouched', async () => {
    const s = await ready();
    cache.script = { statuses: ['creating', 'create-failed'] };
    await provider.restoreSnapshot(s.resourceId, `${s.resourceId}-snap`, 'op-f');
    expect(await provider.describeRestore(s.resourceId, '', 'op-f')).toEqual({ status: 'restoring' });
    const failed = await provider.describeRestore(s.resourceId, '', 'op-f');
    expect(failed).toMatchObject({ status: 'failed', reason: expect.stringContaining('keeps its data') });
    expect(fake.inputsOf('elasticache', 'DeleteReplicationGroup')).toEqual([
      { ReplicationGroupId: restoredGroupIdOf(s.resourceId, 'op-f'), RetainPrimaryCluster: false },
    ]);
    expect(cache.groups.get(baseIdOf(s.resourceId))?.deletingDescribes).toBeUndefined();
  });

  it('users are the same on every group: the restore reuses the user group, no new users', async () => {
    const s = await ready();
    await provider.restoreSnapshot(s.resourceId, `${s.resourceId}-snap`, 'op-u');
    expect(fake.inputsOf('elasticache', 'CreateUser')).toHaveLength(1);
    expect([...cache.users.keys()]).toEqual([customerUserIdOf(s.resourceId)]);
  });
});
