import { ElastiCacheServiceException } from '@aws-sdk/client-elasticache';
import { beforeEach, describe, expect, it } from 'vitest';
import { customerUserIdOf } from '#shared/providers/aws/redis/names.ts';
import { rotationTokenOf } from '#shared/services/rotation-tasks.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import {
  deniedPermissions,
  FUNCTION_BASELINE_ACTIONS,
  roleStatements,
  unusedActions,
} from '../infra/support/iam.ts';
import { awsWorkflowSuite } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';
import { FakeElastiCache, REDIS_ROTATION_ACTIONS } from './support/fake-elasticache.ts';

/**
 * Credential rotation of Redis addons on AWS as deployed: the API side as the credentials function
 * composes it (the rotation recorded, the rotate-credentials workflow started), the workflow from
 * its ASL file with the stack's substitutions and the workflow function's AWS composition root;
 * ElastiCache and Secrets Manager faked (a ModifyUser leaves the user `modifying` for a few
 * describes, its old passwords in force meanwhile), DynamoDB real.
 */

const PROJECT = 'proj-redis-rotate';
const {
  world,
  recorded,
  flushCalls,
  running,
  secretName,
  callEnvironment,
  rotations: suiteRotations,
} = awsWorkflowSuite(PROJECT, {
  namePrefix: 'rr',
  defaults: { engine: 'redis' },
});

let cache: FakeElastiCache | undefined;
const elasticache = () => {
  cache ??= new FakeElastiCache(world().fake);
  return cache;
};
beforeEach(() => elasticache().reset());

let clock = new Date();
const rotations = () => suiteRotations(() => clock);

const published = (addonId: string) =>
  JSON.parse(String(world().fake.secrets.get(secretName(addonId)))) as { username: string; password: string };
const userOf = (addon: AddonRecord) => {
  const user = elasticache().users.get(customerUserIdOf(addon.resourceId));
  if (!user) throw new Error('no customer user');
  return user;
};
const modifyUserCalls = () =>
  world()
    .fake.calls.filter((call) => call.command === 'ModifyUser')
    .map((call) => call.input);
const ended = async (operationId: string) => {
  await world().workflows.idle();
  return world().store.getOperation(PROJECT, operationId);
};

/** A running Redis addon with a rotation completed: its previous and new passwords. */
const rotated = async (retireAfterSeconds?: number) => {
  const addon = await running();
  const before = published(addon.id);
  const started = await rotations().rotate(PROJECT, addon.id, retireAfterSeconds);
  const operation = await ended(started.operation.id);
  expect(operation).toMatchObject({ status: 'completed', rotation: 'rotate' });
  return { addon, before, after: published(addon.id) };
};

describe('rotating the credentials of a Redis addon on AWS', () => {
  it('answers with the operation begun, lets the new password in beside the published one, and publishes it only once the user is active again', async () => {
    clock = new Date();
    const addon = await running();
    const before = published(addon.id);
    let atPublication: { passwords?: string[]; status: string; published: string } | undefined;
    world().workflows.beforeTask = (workflow, state) => {
      if (workflow !== 'rotate-credentials' || state !== 'CompleteRotation') return;
      const user = userOf(addon);
      atPublication = {
        passwords: user.passwords,
        status: user.modifying ? 'modifying' : 'active',
        published: published(addon.id).password,
      };
    };
    let operationId = '';
    try {
      const started = await rotations().rotate(PROJECT, addon.id, 3600);
      operationId = started.operation.id;
      // Begun, not done: no credentials in the answer, the rotation recorded, the addon locked.
      expect(started).not.toHaveProperty('credentials');
      expect(started.operation).toMatchObject({
        type: 'rotate-credentials',
        status: 'pending',
        rotation: 'rotate',
      });
      expect(started.addon.credentialRotation).toMatchObject({ previousUsername: before.username });
      expect(started.addon.currentOperationId).toBe(started.operation.id);

      const operation = await ended(started.operation.id);
      expect(operation.status).toBe('completed');
      expect(operation.message).toMatch(/New credentials published/);
    } finally {
      world().workflows.beforeTask = undefined;
    }
    const after = published(addon.id);
    expect(after.username).toBe(before.username);
    expect(after.password).not.toBe(before.password);
    // The one ModifyUser: both passwords, the published one first.
    expect(modifyUserCalls()).toEqual([
      { UserId: customerUserIdOf(addon.resourceId), Passwords: [before.password, after.password] },
    ]);
    // Waited for: the user was modifying, then active with both; only then published.
    const describes = world().fake.calls.filter((call) => call.command === 'DescribeUsers');
    expect(describes.length).toBeGreaterThanOrEqual(elasticache().modifyingDescribes + 1);
    expect(atPublication).toEqual({
      passwords: [before.password, after.password],
      status: 'active',
      published: before.password,
    });
    // AWSPENDING became AWSCURRENT: the staged version is the published one, and none is pending.
    expect(world().fake.secretVersions.get(secretName(addon.id))).toBe(rotationTokenOf(operationId));
    expect(world().fake.pendingSecrets.has(secretName(addon.id))).toBe(false);
    const record = await world().store.getAddon(PROJECT, addon.id);
    expect(record).toMatchObject({ status: 'running', currentOperationId: null });
    expect(record.credentialRotation).toMatchObject({ previousUsername: before.username });
    expect(userOf(addon).passwords).toEqual([before.password, after.password]);
  });

  it('finish: ModifyUser with the published password only, waited out, and the rotation closed', async () => {
    clock = new Date();
    const { addon, before, after } = await rotated();
    flushCalls();
    const started = await rotations().finish(PROJECT, addon.id);
    expect(started).not.toHaveProperty('credentials');
    expect(started.operation).toMatchObject({ status: 'pending', rotation: 'retire' });

    const operation = await ended(started.operation.id);
    expect(operation).toMatchObject({
      status: 'completed',
      message: 'The previous credentials were retired',
    });
    expect(modifyUserCalls()).toEqual([
      { UserId: customerUserIdOf(addon.resourceId), Passwords: [after.password] },
    ]);
    expect(userOf(addon).passwords).toEqual([after.password]);
    expect(userOf(addon).passwords).not.toContain(before.password);
    expect(published(addon.id)).toEqual(after);
    const record = await world().store.getAddon(PROJECT, addon.id);
    expect(record).toMatchObject({ status: 'running', currentOperationId: null, credentialRotation: null });
  });

  it('the deadline: the sweep starts the retiring workflow once it has passed, not before', async () => {
    clock = new Date();
    const { addon, after } = await rotated(60);
    flushCalls();
    expect(await rotations().sweep()).toEqual([]);
    expect(modifyUserCalls()).toEqual([]);

    clock = new Date(clock.getTime() + 61_000);
    expect(await rotations().sweep()).toEqual([addon.id]);
    await world().workflows.idle();
    expect(modifyUserCalls()).toEqual([
      { UserId: customerUserIdOf(addon.resourceId), Passwords: [after.password] },
    ]);
    const record = await world().store.getAddon(PROJECT, addon.id);
    expect(record).toMatchObject({ status: 'running', currentOperationId: null, credentialRotation: null });
    const { items } = await world().store.listOperations(PROJECT, addon.id, { limit: 10 });
    expect(items.filter((operation) => operation.rotation === 'retire')).toEqual([
      expect.objectContaining({ type: 'rotate-credentials', status: 'completed' }),
    ]);
  });

  it('a ModifyUser ElastiCache refuses fails the rotation, puts the user back on the published password alone and publishes nothing', async () => {
    clock = new Date();
    const addon = await running();
    const before = published(addon.id);
    world().fake.failNext.set('ModifyUser', [
      new ElastiCacheServiceException({
        name: 'InvalidParameterValueException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'Passwords must be at least 16 characters',
      }),
    ]);
    const started = await rotations().rotate(PROJECT, addon.id);
    const operation = await ended(started.operation.id);

    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(
      /The credential rotation failed: .*Passwords must be at least 16 characters.*undone: the published credentials work and are the only ones/,
    );
    const [refused, compensation] = modifyUserCalls();
    expect(refused?.Passwords).toEqual([before.password, expect.any(String)]);
    expect(compensation).toEqual({
      UserId: customerUserIdOf(addon.resourceId),
      Passwords: [before.password],
    });
    expect(published(addon.id)).toEqual(before);
    expect(world().fake.pendingSecrets.has(secretName(addon.id))).toBe(false);
    const record = await world().store.getAddon(PROJECT, addon.id);
    expect(record).toMatchObject({ status: 'running', currentOperationId: null, credentialRotation: null });
  });

  it('a user that never becomes active again: the bounded wait gives up and the rotation is undone', async () => {
    clock = new Date();
    const addon = await running();
    const before = published(addon.id);
    // Modifying for longer than the workflow's 120 checks.
    elasticache().modifyingDescribes = 1000;
    const started = await rotations().rotate(PROJECT, addon.id);
    // The compensation's ModifyUser finds the user still modifying: refused, asked again until it
    // gives up (RecordFailure), so the rotation stays open for its deadline to retire.
    const operation = await ended(started.operation.id);
    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(/had not applied the new passwords after 120 checks/);
    expect(published(addon.id)).toEqual(before);
    const record = await world().store.getAddon(PROJECT, addon.id);
    expect(record).toMatchObject({ status: 'running', currentOperationId: null });
    expect(record.credentialRotation).toMatchObject({ previousUsername: before.username });
    // Once ElastiCache is done, the deadline's retirement leaves the published password alone.
    elasticache().modifyingDescribes = 0;
    userOf(addon).modifying = undefined;
    clock = new Date(clock.getTime() + 25 * 3600_000);
    // (The earlier tests' addons have rotations past this deadline too.)
    expect(await rotations().sweep()).toContain(addon.id);
    await world().workflows.idle();
    expect(userOf(addon).passwords).toEqual([before.password]);
    expect((await world().store.getAddon(PROJECT, addon.id)).credentialRotation).toBeNull();
  });
});

describe('the workflow function role, over credential rotations', () => {
  it('allows every call the rotations sent, and each rotation action was sent', () => {
    flushCalls();
    const { json } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, world().synthesized.stack.workflows.taskFunction.role);
    const workflowCalls = recorded.filter((call) => call.command !== 'StartExecution');
    expect(recorded.some((call) => call.command === 'UpdateSecretVersionStage')).toBe(true);
    expect(deniedPermissions(roleStatements(json, roleId), workflowCalls, callEnvironment())).toEqual([]);
    const unused = unusedActions(
      roleStatements(json, roleId),
      workflowCalls,
      callEnvironment(),
      FUNCTION_BASELINE_ACTIONS,
    );
    expect(unused.filter((action) => REDIS_ROTATION_ACTIONS.includes(action))).toEqual([]);
  });
});
