import { EC2Client } from '@aws-sdk/client-ec2';
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { findPlan } from '#shared/catalog/engines.ts';
import { engineFacts } from '#shared/engines/index.ts';
import { type InstanceSpec, resourceIdFor, type UpgradeSpec } from '#shared/ports/engine-provider.ts';
import { ElastiCacheRedisProvider } from '#shared/providers/aws/redis/index.ts';
import { baseIdOf } from '#shared/providers/aws/redis/names.ts';
import { generatePassword } from '#shared/services/credentials.ts';
import { newId } from '#shared/util/ids.ts';
import { FakeAws } from './support/fake-aws.ts';
import { FakeElastiCache } from './support/fake-elasticache.ts';

/**
 * ElastiCache engine upgrades as the provider sends them (ElastiCache faked): a group that comes
 * back `available` with its node on the old version is not an upgrade that completed. With an
 * event of the group or node saying the upgrade failed, it fails with the event's words; without
 * one it is `unchanged`, which the workflow fails after a few checks in a row (upgrade-tasks).
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
const provider = new ElastiCacheRedisProvider({
  elasticache: new ElastiCacheClient(region),
  ec2: new EC2Client(region),
  s3: new S3Client(region),
  vpcId: 'vpc-0123',
  vpcCidr: '10.60.0.0/16',
  cacheSubnetGroupName: 'addons-cache-subnets',
  kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/storage',
  deployment: 'Addons',
  exportBucket: 'addons-redis-exports',
  defaultUserId: 'addon-addons-off',
});

/** A running Redis 7.0 addon's resource id. */
const running = async (): Promise<string> => {
  const addonId = newId('adn');
  const plan = findPlan('redis', 'nano');
  if (!plan) throw new Error('no nano plan');
  const spec: InstanceSpec = {
    resourceId: resourceIdFor(addonId),
    projectId: 'proj-a',
    addonId,
    engine: 'redis',
    version: '7.0',
    plan,
    storageGiB: 1,
    replicas: 0,
    tls: true,
    publicAccess: false,
    database: '0',
    username: engineFacts('redis').usernameFor?.(addonId) ?? 'app',
    password: generatePassword(),
  };
  await provider.createInstance(spec);
  for (let i = 0; i < 10; i++) {
    if ((await provider.describeInstance(spec.resourceId)).status === 'available') return spec.resourceId;
  }
  throw new Error('did not become available');
};

const SINCE = new Date(Date.now() - 60_000).toISOString();
const upgrade: UpgradeSpec = { version: '7.1', upgradeId: 'op-upgrade', tls: true, since: SINCE };

/** Describes while the group is `modifying` (each describe advances the fake). */
const settleUpgrade = async (resourceId: string) => {
  for (let i = 0; i < 10; i++) {
    const state = await provider.describeUpgrade(resourceId, upgrade);
    if (state.status !== 'upgrading') return state;
  }
  throw new Error('still upgrading');
};

describe('ElastiCache upgrades', () => {
  it('completes once the group is available and its node runs the new version', async () => {
    const resourceId = await running();

    await provider.upgradeInstance(resourceId, upgrade);

    expect(fake.inputsOf('elasticache', 'ModifyReplicationGroup')).toEqual([
      { ReplicationGroupId: baseIdOf(resourceId), EngineVersion: '7.1', ApplyImmediately: true },
    ]);
    await expect(settleUpgrade(resourceId)).resolves.toMatchObject({ status: 'available' });
    expect(fake.commands('elasticache')).not.toContain('DescribeEvents');
  });

  it('a group back to available on the old version, an event saying why: failed with the event, and nothing to undo', async () => {
    const resourceId = await running();
    cache.upgradeOutcome = 'refused';
    const node = `${baseIdOf(resourceId)}-001`;
    cache.events.push(
      // Before the upgrade began: not about it.
      {
        SourceIdentifier: node,
        SourceType: 'cache-cluster',
        Message: 'Failed to upgrade engine: old',
        Date: new Date(0),
      },
      {
        SourceIdentifier: node,
        SourceType: 'cache-cluster',
        Message: 'Failed to upgrade cache cluster engine version to 7.1.0: insufficient memory',
        Date: new Date(),
      },
    );

    await provider.upgradeInstance(resourceId, upgrade);
    const state = await settleUpgrade(resourceId);

    expect(state).toEqual({
      status: 'failed',
      reason: `ElastiCache left replication group ${baseIdOf(resourceId)} on 7.0.0: the upgrade to 7.1 did not happen: Failed to upgrade cache cluster engine version to 7.1.0: insufficient memory`,
    });
    const asked = fake.inputsOf('elasticache', 'DescribeEvents');
    expect(asked).toEqual([
      { SourceType: 'replication-group', SourceIdentifier: baseIdOf(resourceId), StartTime: new Date(SINCE) },
      { SourceType: 'cache-cluster', SourceIdentifier: node, StartTime: new Date(SINCE) },
    ]);
    // The group still runs 7.0 and keeps serving: the compensation has nothing to put back.
    await expect(provider.discardUpgrade(resourceId, upgrade)).resolves.toBe('discarded');
  });

  it('back to available on the old version with no event: unchanged, with a reason the workflow fails with', async () => {
    const resourceId = await running();
    cache.upgradeOutcome = 'refused';

    await provider.upgradeInstance(resourceId, upgrade);

    await expect(settleUpgrade(resourceId)).resolves.toEqual({
      status: 'unchanged',
      reason: `ElastiCache left replication group ${baseIdOf(resourceId)} on 7.0.0: the upgrade to 7.1 did not happen (no ElastiCache event of the group says why)`,
    });
  });
});
