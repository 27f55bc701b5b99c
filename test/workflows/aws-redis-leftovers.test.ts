import { EC2Client } from '@aws-sdk/client-ec2';
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findPlan } from '#shared/catalog/engines.ts';
import { engineFacts } from '#shared/engines/index.ts';
import { ProviderError } from '#shared/errors.ts';
import { type InstanceSpec, resourceIdFor } from '#shared/ports/engine-provider.ts';
import type { ExecutionState, WorkflowExecutions } from '#shared/ports/reconciler.ts';
import { ElastiCacheRedisProvider } from '#shared/providers/aws/redis/index.ts';
import {
  baseIdOf,
  customerUserIdOf,
  REDIS_TAG_KEYS,
  restoredGroupIdOf,
  userGroupIdOf,
} from '#shared/providers/aws/redis/names.ts';
import {
  ElastiCacheGroupLeftovers,
  ElastiCacheSnapshotLeftovers,
  ElastiCacheUserLeftovers,
} from '#shared/providers/aws/redis/redis-leftovers.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import type { Operation } from '#shared/schemas/operation.ts';
import { generatePassword } from '#shared/services/credentials.ts';
import { Reconciler } from '#shared/services/reconciler.ts';
import { deadlinesFrom } from '#shared/services/reconciler-policy.ts';
import { newId } from '#shared/util/ids.ts';
import { startTestStore } from '../support/dynamo.ts';
import { addonRecord, backupRecord, operation } from '../support/fixtures.ts';
import { FakeAws } from './support/fake-aws.ts';
import { FakeElastiCache } from './support/fake-elasticache.ts';

const fake = new FakeAws();
const cache = new FakeElastiCache(fake);
let env: Awaited<ReturnType<typeof startTestStore>>;
beforeAll(async () => {
  env = await startTestStore();
});
afterAll(async () => {
  cache.restore();
  fake.restore();
  await env?.stop();
});
beforeEach(() => {
  fake.reset();
  cache.reset();
});

const HOUR = 3_600_000;
const OLD = new Date('2020-01-01T00:00:00.000Z');
const PROJECT = 'proj-ecsweep';
const DEFAULT_USER = 'addon-addons-off';
const region = { region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
const elasticache = new ElastiCacheClient(region);
const providerOf = (deployment: string) =>
  new ElastiCacheRedisProvider({
    elasticache,
    ec2: new EC2Client(region),
    s3: new S3Client(region),
    vpcId: 'vpc-0123',
    vpcCidr: '10.60.0.0/16',
    cacheSubnetGroupName: 'addons-cache-subnets',
    kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/storage',
    deployment,
    defaultUserId: DEFAULT_USER,
  });
const provider = providerOf('Addons');

const spec = (): InstanceSpec => {
  const addonId = newId('adn');
  const plan = findPlan('redis', 'nano');
  if (!plan) throw new Error('no nano plan');
  return {
    resourceId: resourceIdFor(addonId),
    projectId: PROJECT,
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
  };
};

/** Executions the test says are running; every other is absent. */
const executions = (running: string[] = []): WorkflowExecutions => ({
  describe: async (_workflow, operationId): Promise<ExecutionState> =>
    running.includes(operationId) ? { status: 'running' } : { status: 'absent' },
  start: async () => {},
  stop: async () => {},
});

const sweep = (running: string[] = []) =>
  new Reconciler({
    store: env.store,
    backups: env.backups,
    executions: executions(running),
    sources: [
      new ElastiCacheGroupLeftovers({ elasticache, deployment: 'Addons' }),
      new ElastiCacheUserLeftovers({ elasticache, deployment: 'Addons' }),
      new ElastiCacheSnapshotLeftovers({ elasticache, deployment: 'Addons' }),
    ],
    settings: { deadlinesMs: deadlinesFrom('aws'), startGraceMs: 30_000, leftoverMinAgeMs: HOUR },
  }).run({ leftovers: true });

/** An addon as the API records it, held by `op` when given. */
const recordAddon = async (instance: InstanceSpec, op?: Partial<Operation>) => {
  const created = operation({
    addonId: instance.addonId,
    projectId: PROJECT,
    type: 'create',
    status: 'completed',
    ...op,
  });
  const addon = addonRecord({
    id: instance.addonId,
    projectId: PROJECT,
    name: `r-${newId('x').slice(-10)}`,
    engine: 'redis',
    status: op ? 'restoring' : 'running',
    currentOperationId: op ? created.id : null,
  });
  await env.store.createAddon(addon, created);
  return created;
};

/** Created (by the provider) at `at`: before the minimum age, or now. */
const createAt = async (at: Date, make: () => Promise<void>) => {
  cache.clock = () => at;
  await make();
  cache.clock = () => new Date();
};

/** Point the addon's user group at `current` (and `previous`), as a restore's switch does. */
const point = (resourceId: string, current: string, previous?: string) => {
  const tags = cache.userGroups.get(userGroupIdOf(resourceId))?.tags ?? [];
  const set = (Key: string, Value: string) => {
    const tag = tags.find((t) => t.Key === Key);
    if (tag) tag.Value = Value;
    else tags.push({ Key, Value });
  };
  set(REDIS_TAG_KEYS.currentGroup, current);
  if (previous) set(REDIS_TAG_KEYS.previousGroup, previous);
};

describe('the leftovers sweep, ElastiCache', () => {
  it("deletes a gone addon's old group, then its user group and user; keeps what is owned, young or not ours", async () => {
    // Prepare
    const [gone, live, young, theirs] = [spec(), spec(), spec(), spec()];
    await createAt(OLD, async () => {
      await provider.createInstance(gone);
      await provider.createInstance(live);
      await providerOf('AnotherStack').createInstance(theirs);
    });
    await provider.createInstance(young);
    await recordAddon(live);
    // The deployment's disabled default user, as CDK makes it (stack tags included).
    cache.users.set(DEFAULT_USER, {
      userName: 'default',
      tags: [{ Key: TAG_KEYS.deployment, Value: 'Addons' }],
    });
    const goneGroup = baseIdOf(gone.resourceId);

    // Act
    const first = await sweep();

    // Assess: only the group goes first; its user group is in use until it is gone.
    expect(first.leftovers).toEqual({
      removed: [{ kind: 'cache-group', id: goneGroup, why: `addon ${gone.addonId} no longer exists` }],
      kept: [],
      failed: [],
    });
    expect(first.errors).toEqual([]);
    expect(cache.groups.get(goneGroup)?.deletingDescribes).toBeDefined();

    // Act: ElastiCache finishes deleting the group; the next run takes the rest.
    cache.groups.delete(goneGroup);
    const second = await sweep();

    // Assess
    expect(second.leftovers.removed).toEqual([
      {
        kind: 'cache-user-group',
        id: userGroupIdOf(gone.resourceId),
        why: `addon ${gone.addonId} no longer exists`,
      },
      {
        kind: 'cache-user',
        id: customerUserIdOf(gone.resourceId),
        why: `addon ${gone.addonId} no longer exists`,
      },
    ]);
    expect(second.leftovers.failed).toEqual([]);
    const left = cache.leftovers();
    for (const kept of [live, young, theirs]) {
      expect(left).toEqual(
        expect.arrayContaining([
          baseIdOf(kept.resourceId),
          userGroupIdOf(kept.resourceId),
          customerUserIdOf(kept.resourceId),
        ]),
      );
    }
    expect(left).toContain(DEFAULT_USER);
    expect(left.filter((id) => id.startsWith(baseIdOf(gone.resourceId)))).toEqual([]);
    const deleted = fake.calls.filter(
      (call) => call.service === 'elasticache' && call.command.startsWith('Delete'),
    );
    expect(deleted.map((call) => call.resourceTags?.[TAG_KEYS.deployment])).toEqual([
      'Addons',
      'Addons',
      'Addons',
    ]);
  });

  it('deletes the user of a create that stopped before its user group, and only that user', async () => {
    // Prepare: CreateUser went through, the workflow never got further, the addon is gone.
    const halfway = spec();
    const userId = customerUserIdOf(halfway.resourceId);
    cache.users.set(userId, {
      userName: halfway.username,
      tags: [
        { Key: TAG_KEYS.deployment, Value: 'Addons' },
        { Key: TAG_KEYS.addon, Value: halfway.addonId },
      ],
    });
    cache.users.set(DEFAULT_USER, {
      userName: 'default',
      tags: [{ Key: TAG_KEYS.deployment, Value: 'Addons' }],
    });

    // Act
    const summary = await sweep();

    // Assess
    expect(summary.leftovers.removed).toEqual([
      { kind: 'cache-user', id: userId, why: `addon ${halfway.addonId} no longer exists` },
    ]);
    expect([...cache.users.keys()]).toEqual([DEFAULT_USER]);
  });

  it('deletes the snapshot of a deleted backup once old enough, and keeps a recorded backup', async () => {
    // Prepare
    const live = spec();
    await provider.createInstance(live);
    await recordAddon(live);
    const [deletedBackup, keptBackup, youngBackup] = [newId('bkp'), newId('bkp'), newId('bkp')];
    const snapshotOf = (backupId: string) => `${live.resourceId}-${backupId}`;
    await createAt(OLD, async () => {
      await provider.createSnapshot(live.resourceId, snapshotOf(deletedBackup));
      await provider.createSnapshot(live.resourceId, snapshotOf(keptBackup));
    });
    await provider.createSnapshot(live.resourceId, snapshotOf(youngBackup));
    await env.backups.putBackup(
      backupRecord({
        id: keptBackup,
        addonId: live.addonId,
        projectId: PROJECT,
        status: 'completed',
        snapshotId: snapshotOf(keptBackup),
      }),
    );

    // Act
    const summary = await sweep();

    // Assess
    expect(summary.leftovers.removed).toEqual([
      { kind: 'db-snapshot', id: snapshotOf(deletedBackup), why: `backup ${deletedBackup} no longer exists` },
    ]);
    expect([...cache.snapshots.keys()].sort()).toEqual(
      [snapshotOf(keptBackup), snapshotOf(youngBackup)].sort(),
    );
  });

  it("keeps a running restore's new group, deletes one of a restore that is over and the group a switch replaced", async () => {
    // Prepare
    const live = spec();
    const backupId = newId('bkp');
    const snapshot = `${live.resourceId}-${backupId}`;
    await createAt(OLD, async () => {
      await provider.createInstance(live);
      await provider.createSnapshot(live.resourceId, snapshot);
      await provider.restoreSnapshot(live.resourceId, snapshot, 'op-over');
    });
    const restore = await recordAddon(live, { type: 'restore', status: 'in-progress', backupId });
    await createAt(OLD, () => provider.restoreSnapshot(live.resourceId, snapshot, restore.id));
    await env.backups.putBackup(
      backupRecord({
        id: backupId,
        addonId: live.addonId,
        projectId: PROJECT,
        status: 'completed',
        snapshotId: snapshot,
      }),
    );

    // Act
    const summary = await sweep([restore.id]);

    // Assess
    expect(summary.leftovers.removed).toEqual([
      {
        kind: 'cache-group',
        id: restoredGroupIdOf(live.resourceId, 'op-over'),
        why: `the restore that created it is over (addon ${live.addonId})`,
      },
    ]);
    expect(summary.leftovers.failed).toEqual([]);
    expect(cache.leftovers()).toEqual(
      expect.arrayContaining([baseIdOf(live.resourceId), restoredGroupIdOf(live.resourceId, restore.id)]),
    );

    // Act: the restore switched the addon to its group and ended without deleting the old one.
    const restored = restoredGroupIdOf(live.resourceId, restore.id);
    point(live.resourceId, restored, baseIdOf(live.resourceId));
    await env.store.putOperation({ ...restore, status: 'completed' });
    await env.store.updateAddonForOperation(
      { projectId: PROJECT, id: live.addonId },
      restore.id,
      { status: 'running' },
      { release: true },
    );
    const after = await sweep();

    // Assess: the replaced group goes (once no restore of it runs), the current one stays.
    expect(after.leftovers.removed.map((removed) => removed.id)).toEqual([baseIdOf(live.resourceId)]);
    expect(cache.groups.get(restored)?.deletingDescribes).toBeUndefined();
  });

  it('never deletes a restore copy the addon switched to after the listing', async () => {
    // Prepare
    const live = spec();
    await provider.createInstance(live);
    const copy = restoredGroupIdOf(live.resourceId, 'op-late');
    await provider.createSnapshot(live.resourceId, `${live.resourceId}-bkp-x`);
    await provider.restoreSnapshot(live.resourceId, `${live.resourceId}-bkp-x`, 'op-late');
    point(live.resourceId, copy, baseIdOf(live.resourceId));
    const leftovers = new ElastiCacheGroupLeftovers({ elasticache, deployment: 'Addons' });

    // Act
    const removal = leftovers.remove({
      kind: 'cache-group',
      id: copy,
      createdAt: OLD,
      owner: { kind: 'restore-copy', addonId: live.addonId, isCopyFor: () => false, primaryPresent: true },
    });

    // Assess
    await expect(removal).rejects.toBeInstanceOf(ProviderError);
    expect(cache.groups.get(copy)?.deletingDescribes).toBeUndefined();
  });
});
