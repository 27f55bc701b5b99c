import { DocDBClient } from '@aws-sdk/client-docdb';
import { EC2Client } from '@aws-sdk/client-ec2';
import {
  ElastiCacheClient,
  InsufficientCacheClusterCapacityFault,
  InvalidParameterValueException,
} from '@aws-sdk/client-elasticache';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { awsReplicaEngines } from '#shared/providers/aws/engines.ts';
import { DocdbClusterLeftovers } from '#shared/providers/aws/mongodb/index.ts';
import { ElastiCacheRedisProvider } from '#shared/providers/aws/redis/index.ts';
import { baseIdOf, restoredGroupIdOf } from '#shared/providers/aws/redis/names.ts';
import { ElastiCacheGroupLeftovers } from '#shared/providers/aws/redis/redis-leftovers.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { ReplicasService } from '#shared/services/replicas.ts';
import { ScalingService } from '#shared/services/scaling.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import { type AwsCall, deniedPermissions, roleStatements } from '../infra/support/iam.ts';
import { awsWorkflowSuite } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';
import { clusterEndpoint, FakeDocdb, readerEndpoint } from './support/fake-docdb.ts';
import { FakeElastiCache } from './support/fake-elasticache.ts';

/**
 * update-replicas on ElastiCache (Redis) and DocumentDB (MongoDB) as deployed: the ASL with the
 * stack's substitutions, the AWS workflow function (ElastiCacheReplicas, DocdbReplicas), both
 * services faked, DynamoDB real. A Redis change is one IncreaseReplicaCount/DecreaseReplicaCount
 * on the addon's replication group; a MongoDB change creates or deletes reader instances of its
 * cluster. Either waits through the Describe loop, then publishes the reader endpoint.
 */

const PROJECT = 'proj-replicas-cache';
const { world, recorded, flushCalls, provision, backUp, restore, deleteAddon, secretOf, callEnvironment } =
  awsWorkflowSuite(PROJECT, { namePrefix: 'rc' });

let cache: FakeElastiCache | undefined;
let docdb: FakeDocdb | undefined;
// After the suite's reset of the shared fakes (which drops the S3 behaviours ElastiCache's adds).
beforeEach(() => {
  cache ??= new FakeElastiCache(world().fake);
  cache.reset();
  docdb ??= new FakeDocdb(world().fake.calls, world().fake.failNext);
});
afterEach(() => docdb?.reset());
afterAll(() => {
  cache?.restore();
  docdb?.restore();
});

/** What the leftovers sweeps sent: the reconciler's calls, not the workflow function's. */
const sweepCalls: AwsCall[] = [];

const setReplicas = async (addon: AddonRecord, count: number) => {
  const service = new ReplicasService({
    store: world().store,
    engines: awsReplicaEngines,
    workflows: world().workflows,
    target: 'aws',
  });
  const { operation } = await service.update(PROJECT, addon.id, count);
  await world().workflows.idle();
  return {
    operation: await world().store.getOperation(PROJECT, operation.id),
    addon: await world().store.getAddon(PROJECT, addon.id),
  };
};

const runningAddon = async (overrides: Record<string, unknown>) => {
  const { addon } = await provision(overrides);
  expect(addon.status).toBe('running');
  flushCalls();
  return addon;
};

const scaling = () =>
  new ScalingService({ store: world().store, workflows: world().workflows, target: 'aws' });
const scale = async (addon: AddonRecord, request: { multiAz: boolean }) => {
  const { operation } = await scaling().update(PROJECT, addon.id, request);
  await world().workflows.idle();
  return {
    operation: await world().store.getOperation(PROJECT, operation.id),
    addon: await world().store.getAddon(PROJECT, addon.id),
  };
};

/** The replica provider the workflow function builds, on the faked ElastiCache. */
const awsWorkflowReplicas = () =>
  new ElastiCacheRedisProvider({
    elasticache: new ElastiCacheClient({ region: 'eu-west-1' }),
    ec2: new EC2Client({ region: 'eu-west-1' }),
    s3: new S3Client({ region: 'eu-west-1' }),
    vpcId: 'vpc-1',
    vpcCidr: '10.0.0.0/16',
    cacheSubnetGroupName: 'subnets',
    defaultUserId: 'default-off',
    kmsKeyId: 'key',
    deployment: world().env.DEPLOYMENT_NAME,
  }).replicas;

const switchTo = (groupId: string, on: boolean) => ({
  ReplicationGroupId: groupId,
  MultiAZEnabled: on,
  AutomaticFailoverEnabled: on,
  ApplyImmediately: true,
});
const MUTATIONS = ['ModifyReplicationGroup', 'IncreaseReplicaCount', 'DecreaseReplicaCount'];
/** The requests that change a group, in order. */
const mutations = () =>
  world()
    .fake.calls.filter((call) => call.service === 'elasticache' && MUTATIONS.includes(call.command))
    .map((call) => [call.command, call.input]);
/** The ElastiCache commands sent after the first `from` and before the first `to`. */
const commandsBetween = (from: string, to: string) => {
  const commands = world().fake.commands('elasticache');
  return commands.slice(commands.indexOf(from) + 1, commands.indexOf(to));
};

const readerHost = (groupId: string) => `replica.${groupId}.abc123.euw1.cache.amazonaws.com`;
const increases = () => world().fake.inputsOf('elasticache', 'IncreaseReplicaCount');
const decreases = () => world().fake.inputsOf('elasticache', 'DecreaseReplicaCount');

describe('update-replicas on AWS (ElastiCache Redis)', () => {
  it('a create with replicas publishes the reader endpoint; IncreaseReplicaCount and DecreaseReplicaCount change them, waiting until the group is available with that many nodes', async () => {
    const addon = await runningAddon({ engine: 'redis', replicas: 1 });
    const group = baseIdOf(addon.resourceId);
    const secret = secretOf(addon.id);
    const reader = {
      host: readerHost(group),
      port: 6379,
      uri: `rediss://${secret.username}:${secret.password}@${readerHost(group)}:6379/0`,
    };
    expect(secret.replicas).toEqual([reader]);

    const up = await setReplicas(addon, 3);

    expect(up.operation).toMatchObject({ type: 'update-replicas', status: 'completed', error: null });
    expect(up.addon).toMatchObject({ replicas: 3, status: 'running', currentOperationId: null });
    expect(increases()).toEqual([{ ReplicationGroupId: group, NewReplicaCount: 3, ApplyImmediately: true }]);
    // The wait: the group described `modifying` until it is `available` with 4 nodes.
    const describes = world()
      .fake.calls.filter((call) => call.command === 'DescribeReplicationGroups')
      .map((call) => call.input.ReplicationGroupId);
    expect(describes.filter((id) => id === group).length).toBeGreaterThanOrEqual(4);
    expect(cache?.groups.get(group)?.input.NumCacheClusters).toBe(4);
    // One entry: the reader endpoint, which spreads reads over the replicas.
    expect(secretOf(addon.id).replicas).toEqual([reader]);
    flushCalls();

    const down = await setReplicas(up.addon, 2);

    expect(down.operation.status).toBe('completed');
    expect(down.addon.replicas).toBe(2);
    expect(decreases()).toEqual([{ ReplicationGroupId: group, NewReplicaCount: 2, ApplyImmediately: true }]);
    expect(increases()).toEqual([]);
    expect(cache?.groups.get(group)?.input.NumCacheClusters).toBe(3);
    flushCalls();
  });

  it('to 0 from a Multi-AZ group: Multi-AZ and failover off first, waited out, then DecreaseReplicaCount; re-added replicas get them back', async () => {
    const addon = await runningAddon({ engine: 'redis', replicas: 2 });
    const group = baseIdOf(addon.resourceId);
    // Made with replicas: Multi-AZ with automatic failover, and the addon says so.
    expect(addon.multiAz).toBe(true);
    expect(cache?.groups.get(group)?.input).toMatchObject({
      MultiAZEnabled: true,
      AutomaticFailoverEnabled: true,
    });

    const zero = await setReplicas(addon, 0);

    expect(zero.operation).toMatchObject({ status: 'completed', error: null });
    // The setting stays: it comes back with replicas.
    expect(zero.addon).toMatchObject({
      replicas: 0,
      multiAz: true,
      status: 'running',
      currentOperationId: null,
    });
    expect(mutations()).toEqual([
      ['ModifyReplicationGroup', { ...switchTo(group, false) }],
      ['DecreaseReplicaCount', { ReplicationGroupId: group, NewReplicaCount: 0, ApplyImmediately: true }],
    ]);
    // The decrease was sent only once the group was `available` with failover off: described between.
    expect(commandsBetween('ModifyReplicationGroup', 'DecreaseReplicaCount')).toContain(
      'DescribeReplicationGroups',
    );
    expect(cache?.groups.get(group)?.input).toMatchObject({
      NumCacheClusters: 1,
      MultiAZEnabled: false,
      AutomaticFailoverEnabled: false,
    });
    expect(secretOf(addon.id)).not.toHaveProperty('replicas');
    flushCalls();

    const back = await setReplicas(zero.addon, 2);

    expect(back.operation.status).toBe('completed');
    expect(back.addon).toMatchObject({ replicas: 2, multiAz: true });
    expect(mutations()).toEqual([
      ['IncreaseReplicaCount', { ReplicationGroupId: group, NewReplicaCount: 2, ApplyImmediately: true }],
      ['ModifyReplicationGroup', switchTo(group, true)],
    ]);
    expect(commandsBetween('IncreaseReplicaCount', 'ModifyReplicationGroup')).toContain(
      'DescribeReplicationGroups',
    );
    expect(cache?.groups.get(group)?.input).toMatchObject({
      MultiAZEnabled: true,
      AutomaticFailoverEnabled: true,
    });
    expect(secretOf(addon.id).replicas.map((r: { host: string }) => r.host)).toEqual([readerHost(group)]);
  });

  it('a retried step that finds its request already under way or done sends nothing', async () => {
    const addon = await runningAddon({ engine: 'redis', replicas: 1 });
    const group = baseIdOf(addon.resourceId);
    const provider = awsWorkflowReplicas();
    const change = { multiAz: true };
    expect(await provider.setReplicaCount(addon.resourceId, 0, change)).toBe('more');
    // Switching (`modifying`, failover `disabling`): the same call again, and a check, send nothing.
    expect(await provider.setReplicaCount(addon.resourceId, 0, change)).toBe('more');
    expect(await provider.describeReplicas(addon.resourceId, 0, change)).toMatchObject({
      status: 'applying',
    });
    expect(mutations()).toEqual([['ModifyReplicationGroup', switchTo(group, false)]]);
    // Once the group is `available` with failover off, the next check sends the decrease, once.
    flushCalls();
    await provider.describeReplicas(addon.resourceId, 0, change);
    expect(await provider.setReplicaCount(addon.resourceId, 0, change)).toBe('more');
    expect(mutations()).toEqual([
      ['DecreaseReplicaCount', { ReplicationGroupId: group, NewReplicaCount: 0, ApplyImmediately: true }],
    ]);
  });

  it('Multi-AZ by PATCH: refused without a replica (naming multiAz), on and off with one', async () => {
    const addon = await runningAddon({ engine: 'redis' });
    const group = baseIdOf(addon.resourceId);
    expect(addon.multiAz).toBe(false);
    await expect(scaling().update(PROJECT, addon.id, { multiAz: true })).rejects.toMatchObject({
      name: 'UnsupportedError',
      issues: [{ path: 'body.multiAz', message: expect.stringMatching(/at least 1/) }],
    });
    const one = await setReplicas(addon, 1);
    // Made without replicas and multiAz off: the replica comes without Multi-AZ.
    expect(mutations().map(([command]) => command)).toEqual(['IncreaseReplicaCount']);
    flushCalls();

    const on = await scale(one.addon, { multiAz: true });

    expect(on.operation).toMatchObject({
      type: 'scale',
      status: 'completed',
      message: 'Applied: Multi-AZ on',
    });
    expect(on.addon).toMatchObject({
      multiAz: true,
      replicas: 1,
      status: 'running',
      currentOperationId: null,
    });
    expect(mutations()).toEqual([['ModifyReplicationGroup', switchTo(group, true)]]);
    expect(cache?.groups.get(group)?.input).toMatchObject({
      MultiAZEnabled: true,
      AutomaticFailoverEnabled: true,
    });
    flushCalls();

    const off = await scale(on.addon, { multiAz: false });

    expect(off.addon).toMatchObject({ multiAz: false, status: 'running' });
    expect(mutations()).toEqual([['ModifyReplicationGroup', switchTo(group, false)]]);
  });

  it('a refused decrease after Multi-AZ went off: the compensation turns it back on, waited out, and releases the addon', async () => {
    const addon = await runningAddon({ engine: 'redis', replicas: 2 });
    const group = baseIdOf(addon.resourceId);
    world().fake.failNext.set('DecreaseReplicaCount', [
      new InvalidParameterValueException({
        $metadata: { httpStatusCode: 400 },
        message: 'The number of replicas cannot be decreased now',
      }),
    ]);

    const { operation, addon: after } = await setReplicas(addon, 0);

    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toContain('The number of replicas cannot be decreased now');
    expect(after).toMatchObject({ replicas: 2, multiAz: true, status: 'running', currentOperationId: null });
    expect(mutations()).toEqual([
      ['ModifyReplicationGroup', switchTo(group, false)],
      ['DecreaseReplicaCount', { ReplicationGroupId: group, NewReplicaCount: 0, ApplyImmediately: true }],
      ['ModifyReplicationGroup', switchTo(group, true)],
    ]);
    // The addon was released only once the group was back: `available` with failover on.
    const fake = cache?.groups.get(group);
    expect(fake?.input).toMatchObject({
      NumCacheClusters: 3,
      MultiAZEnabled: true,
      AutomaticFailoverEnabled: true,
    });
    expect(fake?.statuses).toEqual(['available']);
    expect(secretOf(addon.id).replicas.map((r: { host: string }) => r.host)).toEqual([readerHost(group)]);
  });

  it('a group made without replicas gains them and goes back to none (the replicas field leaves the details)', async () => {
    const addon = await runningAddon({ engine: 'redis' });
    const group = baseIdOf(addon.resourceId);
    expect(secretOf(addon.id)).not.toHaveProperty('replicas');

    const up = await setReplicas(addon, 2);
    expect(up.operation.status).toBe('completed');
    expect(secretOf(addon.id).replicas.map((r: { host: string }) => r.host)).toEqual([readerHost(group)]);

    const none = await setReplicas(up.addon, 0);

    expect(none.operation.status).toBe('completed');
    expect(decreases()).toEqual([{ ReplicationGroupId: group, NewReplicaCount: 0, ApplyImmediately: true }]);
    expect(none.addon.replicas).toBe(0);
    expect(secretOf(addon.id)).not.toHaveProperty('replicas');
  });

  it('ElastiCache refusing the change fails the operation with its reason; the group keeps its count and the addon is released', async () => {
    const addon = await runningAddon({ engine: 'redis', replicas: 1 });
    const before = secretOf(addon.id);
    world().fake.failNext.set('IncreaseReplicaCount', [
      new InsufficientCacheClusterCapacityFault({
        $metadata: { httpStatusCode: 400 },
        message: 'cache.t4g.micro is not available in eu-west-1a',
      }),
    ]);

    const { operation, addon: after } = await setReplicas(addon, 2);

    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toContain('cache.t4g.micro is not available in eu-west-1a');
    expect(after).toMatchObject({ replicas: 1, status: 'running', currentOperationId: null });
    // The compensation found the group at the addon's count: nothing to undo.
    expect(decreases()).toEqual([]);
    expect(cache?.groups.get(baseIdOf(addon.resourceId))?.input.NumCacheClusters).toBe(2);
    expect(secretOf(addon.id)).toEqual(before);
  });

  it('a restore carries the replicas over to the new group and publishes its reader endpoint', async () => {
    const addon = await runningAddon({ engine: 'redis', replicas: 2 });
    const { backup } = await backUp(addon, 'snapshot');
    flushCalls();

    const { operation } = await restore(addon, backup.id);

    expect(operation.status).toBe('completed');
    const target = restoredGroupIdOf(addon.resourceId, operation.id);
    expect(world().fake.inputsOf('elasticache', 'CreateReplicationGroup')).toMatchObject([
      { ReplicationGroupId: target, NumCacheClusters: 3, MultiAZEnabled: true },
    ]);
    expect(secretOf(addon.id).replicas.map((r: { host: string }) => r.host)).toEqual([readerHost(target)]);
  });

  it('deleting an addon with replicas deletes its group, nodes and all; a node above the count that a failed compensation left is a leftover', async () => {
    const addon = await runningAddon({ engine: 'redis', replicas: 1 });
    const group = baseIdOf(addon.resourceId);
    const fakeGroup = cache?.groups.get(group);
    if (!fakeGroup) throw new Error('no group');
    // As if a removal's compensation kept failing: 3 replica nodes, the addon counts 1.
    fakeGroup.input = { ...fakeGroup.input, NumCacheClusters: 4 };
    const leftovers = new ElastiCacheGroupLeftovers({
      elasticache: new ElastiCacheClient({ region: 'eu-west-1' }),
      deployment: world().env.DEPLOYMENT_NAME,
    });
    const nodes = (await leftovers.list()).filter((leftover) => leftover.kind === 'cache-node');
    expect(nodes.map(({ id, owner }) => ({ id, owner }))).toEqual(
      [2, 3, 4].map((n) => ({
        id: `${group}-00${n}`,
        owner: { kind: 'replica', addonId: addon.id, number: n - 1 },
      })),
    );
    await leftovers.remove(nodes[2] as (typeof nodes)[number]);
    expect(decreases()).toEqual([
      { ReplicationGroupId: group, ReplicasToRemove: [`${group}-004`], ApplyImmediately: true },
    ]);
    // The sweep's calls are the reconciler's, checked against its role below.
    sweepCalls.push(...world().fake.calls.splice(0));

    const deleted = await deleteAddon(addon.id);

    expect(deleted.status).toBe('completed');
    expect(world().fake.inputsOf('elasticache', 'DeleteReplicationGroup')).toEqual([
      { ReplicationGroupId: group, RetainPrimaryCluster: false },
    ]);
    expect(cache?.leftovers()).toEqual([]);
  });
});

describe('update-replicas on AWS (DocumentDB MongoDB)', () => {
  it('adds reader instances to the cluster (CreateDBInstance, the writer’s class, the cluster’s tags), waits until available, publishes the reader endpoint; removes the highest on scale-down', async () => {
    const addon = await runningAddon({ engine: 'mongodb' });
    const { operation, addon: after } = await setReplicas(addon, 2);

    expect(operation).toMatchObject({ status: 'completed', replicas: 2, error: null });
    expect(after).toMatchObject({ replicas: 2, status: 'running', currentOperationId: null });
    const tags = [
      { Key: TAG_KEYS.deployment, Value: world().env.DEPLOYMENT_NAME },
      { Key: TAG_KEYS.project, Value: PROJECT },
      { Key: TAG_KEYS.addon, Value: addon.id },
    ];
    expect(world().fake.inputsOf('rds', 'CreateDBInstance')).toEqual(
      [2, 3].map((n) => ({
        DBInstanceIdentifier: `${addon.resourceId}-${n}`,
        DBClusterIdentifier: addon.resourceId,
        DBInstanceClass: docdb?.instances.get(`${addon.resourceId}-1`)?.instanceClass,
        Engine: 'docdb',
        AutoMinorVersionUpgrade: true,
        Tags: expect.arrayContaining(tags),
      })),
    );
    // The wait: each reader described until `available` (creating, available).
    const readerDescribes = world()
      .fake.inputsOf('rds', 'DescribeDBInstances')
      .filter((input) => input.DBInstanceIdentifier === `${addon.resourceId}-3`);
    expect(readerDescribes.length).toBeGreaterThanOrEqual(2);
    const secret = secretOf(addon.id);
    const host = readerEndpoint(addon.resourceId);
    // The primary's URI (replicaSet=rs0, readPreference=secondaryPreferred...) on the reader endpoint.
    expect(secret.replicas).toEqual([
      { host, port: 27017, uri: secret.uri.replace(clusterEndpoint(addon.resourceId), host) },
    ]);
    expect(secret.replicas[0].uri).toContain('readPreference=secondaryPreferred');
    flushCalls();

    const down = await setReplicas(after, 1);

    expect(down.operation.status).toBe('completed');
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: `${addon.resourceId}-3` },
    ]);
    expect(world().fake.inputsOf('rds', 'CreateDBInstance')).toEqual([]);
    expect(docdb?.membersOf(addon.resourceId).map((member) => member.id)).toEqual([
      `${addon.resourceId}-1`,
      `${addon.resourceId}-2`,
    ]);
    expect(secretOf(addon.id).replicas.map((r: { host: string }) => r.host)).toEqual([host]);
  });

  it('a reader DocumentDB cannot make fails the operation with its status; the compensation deletes it and the addon runs as before', async () => {
    const addon = await runningAddon({ engine: 'mongodb' });
    const before = secretOf(addon.id);
    if (docdb) docdb.instanceScript = { statuses: ['creating', 'insufficient-capacity'] };

    const { operation, addon: after } = await setReplicas(addon, 1);

    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toContain(
      `DocumentDB reports instance ${addon.resourceId}-2 of cluster ${addon.resourceId} as insufficient-capacity`,
    );
    expect(after).toMatchObject({ replicas: 0, status: 'running', currentOperationId: null });
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: `${addon.resourceId}-2` },
    ]);
    expect(docdb?.instances.get(`${addon.resourceId}-1`)?.deletingDescribes).toBeUndefined();
    expect(secretOf(addon.id)).toEqual(before);
  });

  it('deleting an addon with readers deletes every instance, then the cluster; a reader above the count is a leftover', async () => {
    const addon = await runningAddon({ engine: 'mongodb', replicas: 1 });
    expect(secretOf(addon.id).replicas).toHaveLength(1);
    const leftovers = new DocdbClusterLeftovers({
      docdb: new DocDBClient({ region: 'eu-west-1' }),
      deployment: world().env.DEPLOYMENT_NAME,
    });
    expect(
      (await leftovers.list())
        .filter((leftover) => leftover.kind === 'db-instance')
        .map(({ id, owner }) => ({ id, owner })),
    ).toEqual([{ id: `${addon.resourceId}-2`, owner: { kind: 'replica', addonId: addon.id, number: 1 } }]);
    sweepCalls.push(...world().fake.calls.splice(0));

    const deleted = await deleteAddon(addon.id);

    expect(deleted.status).toBe('completed');
    const calls = world().fake.calls.filter((call) => call.service === 'rds');
    const instanceDeletes = calls
      .filter((call) => call.command === 'DeleteDBInstance')
      .map((call) => call.input.DBInstanceIdentifier);
    expect(instanceDeletes).toEqual([`${addon.resourceId}-1`, `${addon.resourceId}-2`]);
    const clusterDelete = calls.findIndex((call) => call.command === 'DeleteDBCluster');
    const lastInstanceDelete = calls.findLastIndex((call) => call.command === 'DeleteDBInstance');
    expect(lastInstanceDelete).toBeLessThan(clusterDelete);
    expect(docdb?.clusters.has(addon.resourceId)).toBe(false);
  });
});

describe('the workflow function role', () => {
  it('allows every ElastiCache and DocumentDB call update-replicas and the delete sent, on the resources it sent them to', () => {
    flushCalls();
    const { json } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, world().synthesized.stack.workflows.taskFunction.role);
    for (const command of [
      'IncreaseReplicaCount',
      'DecreaseReplicaCount',
      'ModifyReplicationGroup',
      'CreateDBInstance',
    ]) {
      expect(recorded.some((call) => call.command === command)).toBe(true);
    }
    expect(deniedPermissions(roleStatements(json, roleId), recorded, callEnvironment())).toEqual([]);
    // Another deployment's replication group (or an untagged one) is not this role's to change.
    for (const command of ['IncreaseReplicaCount', 'DecreaseReplicaCount', 'ModifyReplicationGroup']) {
      const call = recorded.find((recordedCall) => recordedCall.command === command);
      if (!call) throw new Error(`no ${command}`);
      const foreign: Array<Record<string, string>> = [{ [TAG_KEYS.deployment]: 'AnotherStack' }, {}];
      for (const resourceTags of foreign) {
        const denied = deniedPermissions(
          roleStatements(json, roleId),
          [{ ...call, resourceTags }],
          callEnvironment(),
        );
        expect(denied, command).toHaveLength(1);
      }
    }
  });

  it('and the reconciler’s role allows the replica leftovers sweeps and removals', () => {
    const { json, stack } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, stack.reconciler.function.role);
    expect(sweepCalls.some((call) => call.command === 'DecreaseReplicaCount')).toBe(true);
    expect(deniedPermissions(roleStatements(json, roleId), sweepCalls, callEnvironment())).toEqual([]);
  });
});
