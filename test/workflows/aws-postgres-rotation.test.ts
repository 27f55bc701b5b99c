import { beforeEach, describe, expect, it } from 'vitest';
import { PLATFORM_LOGIN_USER } from '#shared/services/platform-login.ts';
import { rotationTokenOf } from '#shared/services/rotation-tasks.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import { deniedPermissions, roleStatements } from '../infra/support/iam.ts';
import { InjectedFault, taskStatesOf } from './support/asl-faults.ts';
import { awsWorkflowSuite, jobSpecOf } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';

/**
 * Credential rotation of PostgreSQL addons on AWS as deployed: the API side as the credentials
 * function composes it, the rotate-credentials workflow from its ASL file with the stack's
 * substitutions and the workflow function's AWS composition root; RDS and Secrets Manager faked,
 * DynamoDB real. `ecs:runTask.sync` is served by a stand-in for the login job that does what the
 * job does to the instance's logins (its SQL is tested against a real server in
 * test/jobs/login-job.test.ts), reading its passwords from the faked Secrets Manager by the
 * spec's references, as the job does.
 */

const PROJECT = 'proj-pg-rotate';
const {
  world,
  recorded,
  flushCalls,
  running,
  secretName,
  callEnvironment,
  backUp,
  restore,
  provision,
  rotations: suiteRotations,
} = awsWorkflowSuite(PROJECT, {
  namePrefix: 'pgr',
  defaults: { engine: 'postgresql' },
});

/** How `ecs:runTask.sync` fails when the container exits non-zero. */
class TaskFailed extends Error {
  override name = 'States.TaskFailed';
}

type Secret = { username: string; password: string; host: string };
const published = (addonId: string) =>
  JSON.parse(String(world().fake.secrets.get(secretName(addonId)))) as Secret;
const platformLogin = (addonId: string) => world().fake.secrets.get(`${secretName(addonId)}/platform-login`);

/** The instance's customer logins as the stand-in job leaves them: user -> password. */
const logins = new Map<string, Map<string, string>>();
/** The logins a physical copy brings back (a snapshot's): the instance has them when a masterReset job runs. */
let copied: Map<string, string> | undefined;
/** What the stand-in job read from Secrets Manager, per call. */
const jobReads: Array<{ action: string; secretIds: string[] }> = [];
beforeEach(() => {
  logins.clear();
  copied = undefined;
  jobReads.length = 0;
});

/**
 * The login job: reads the published secret, the platform login and (add) the AWSPENDING version
 * the spec names, and applies the alternating-user change to the instance's logins.
 */
const loginJob = async (parameters: Record<string, unknown>): Promise<unknown> => {
  const spec = jobSpecOf(parameters);
  if (spec.kind !== 'login') throw new Error(`not a login job: ${spec.kind}`);
  const name = secretName(spec.addonId);
  const current = published(spec.addonId);
  const admin = platformLogin(spec.addonId);
  if (!admin) throw new TaskFailed('no platform login');
  expect(JSON.parse(admin)).toMatchObject({ username: PLATFORM_LOGIN_USER });
  const reads = [name, `${name}/platform-login`];
  if (spec.masterReset && copied) logins.set(spec.addonId, new Map(copied));
  const instance = logins.get(spec.addonId) ?? new Map([[current.username, current.password]]);
  logins.set(spec.addonId, instance);
  if (spec.masterReset) {
    // After a physical copy (its logins, `copied`): the workflow gave the master user the
    // published password before the job.
    const { resourceId } = await world().store.getAddon(PROJECT, spec.addonId);
    const reset = world()
      .fake.inputsOf('rds', 'ModifyDBInstance')
      .filter((input) => input.DBInstanceIdentifier === resourceId && input.MasterUserPassword)
      .at(-1);
    expect(reset?.MasterUserPassword).toBe(current.password);
    instance.set(spec.owner, String(reset?.MasterUserPassword));
  }
  if (spec.action === 'add') {
    const pending = world().fake.pendingSecrets.get(name);
    expect(pending?.versionId).toBe(spec.stagedToken);
    const next = JSON.parse(String(pending?.value)) as Secret;
    instance.set(next.username, next.password);
    reads.push(`${name}@AWSPENDING`);
  } else {
    for (const user of [...instance.keys()]) if (user !== current.username) instance.delete(user);
    instance.set(current.username, current.password);
  }
  jobReads.push({ action: spec.action, secretIds: reads });
  return { StopCode: 'EssentialContainerExited', Containers: [{ ExitCode: 0 }] };
};

let clock = new Date();
// The catalog's flag decides, as in the deployed API.
const rotations = () => suiteRotations(() => clock);

const ended = async (operationId: string) => {
  await world().workflows.idle();
  return world().store.getOperation(PROJECT, operationId);
};

/** Every password the platform holds for the addon: none may appear in a RunTask's parameters. */
const passwordsOf = (addonId: string) =>
  [
    published(addonId).password,
    JSON.parse(platformLogin(addonId) ?? '{}').password,
    ...[...(logins.get(addonId)?.values() ?? [])],
  ].filter(Boolean) as string[];

const rotated = async (addon: AddonRecord, retireAfterSeconds?: number) => {
  const started = await rotations().rotate(PROJECT, addon.id, retireAfterSeconds);
  const operation = await ended(started.operation.id);
  expect(operation).toMatchObject({ status: 'completed', rotation: 'rotate' });
  return operation;
};

describe('rotating the credentials of a PostgreSQL addon on AWS (the login job)', () => {
  it('runs the login job in the addon subnets with no password in it, and publishes the second login only once the job let it in', async () => {
    clock = new Date();
    world().jobs.behaviour = loginJob;
    const addon = await running();
    const before = published(addon.id);
    let atPublication: { logins: string[]; published: string } | undefined;
    world().workflows.beforeTask = (workflow, state) => {
      if (workflow !== 'rotate-credentials' || state !== 'CompleteRotation') return;
      atPublication = {
        logins: [...(logins.get(addon.id)?.keys() ?? [])],
        published: published(addon.id).username,
      };
    };
    let operationId = '';
    try {
      const started = await rotations().rotate(PROJECT, addon.id, 3600);
      operationId = started.operation.id;
      expect(started.operation).toMatchObject({
        type: 'rotate-credentials',
        status: 'pending',
        rotation: 'rotate',
      });
      const operation = await ended(operationId);
      expect(operation.status).toBe('completed');
    } finally {
      world().workflows.beforeTask = undefined;
    }
    const after = published(addon.id);
    expect(after.username).toBe(`${before.username}_2`);
    expect(after.password).not.toBe(before.password);
    expect(after.host).toBe(before.host);
    // Both logins worked when the new one was published, the previous one still published then.
    expect(atPublication).toEqual({ logins: [before.username, after.username], published: before.username });
    expect(logins.get(addon.id)).toEqual(
      new Map([
        [before.username, before.password],
        [after.username, after.password],
      ]),
    );

    // One RunTask: the job's task definition in the job subnets, with the addon's client group.
    const record = await world().store.getAddon(PROJECT, addon.id);
    expect(world().runTaskCalls).toHaveLength(1);
    const call = world().runTaskCalls[0] ?? {};
    const network = (call.NetworkConfiguration as { AwsvpcConfiguration: Record<string, unknown> })
      .AwsvpcConfiguration;
    expect(call).toMatchObject({ LaunchType: 'FARGATE', PropagateTags: 'TASK_DEFINITION' });
    expect(network.SecurityGroups).toContain(record.network?.clientSecurityGroupId);
    expect(network.AssignPublicIp).toBe('DISABLED');
    expect(jobSpecOf(call)).toEqual({
      kind: 'login',
      operationId,
      projectId: PROJECT,
      addonId: addon.id,
      engine: 'postgresql',
      action: 'add',
      owner: before.username,
      stagedToken: rotationTokenOf(operationId),
    });
    const overrides = JSON.stringify(call.Overrides);
    for (const password of passwordsOf(addon.id)) expect(overrides).not.toContain(password);
    expect(jobReads).toEqual([
      {
        action: 'add',
        secretIds: [
          secretName(addon.id),
          `${secretName(addon.id)}/platform-login`,
          `${secretName(addon.id)}@AWSPENDING`,
        ],
      },
    ]);
    // AWSPENDING became AWSCURRENT; the addon released with its rotation open.
    expect(world().fake.secretVersions.get(secretName(addon.id))).toBe(rotationTokenOf(operationId));
    expect(world().fake.pendingSecrets.has(secretName(addon.id))).toBe(false);
    expect(record).toMatchObject({ status: 'running', currentOperationId: null });
    expect(record.credentialRotation).toMatchObject({ previousUsername: before.username });
  });

  it('finish: the retain job leaves the published login as the only one and closes the rotation; the next rotation alternates back', async () => {
    clock = new Date();
    world().jobs.behaviour = loginJob;
    const addon = await running();
    const before = published(addon.id);
    await rotated(addon);
    const after = published(addon.id);
    world().runTaskCalls.length = 0;

    const started = await rotations().finish(PROJECT, addon.id);
    const operation = await ended(started.operation.id);
    expect(operation).toMatchObject({
      status: 'completed',
      message: 'The previous credentials were retired',
    });
    expect(world().runTaskCalls.map((call) => jobSpecOf(call))).toEqual([
      expect.objectContaining({ kind: 'login', action: 'retain', owner: before.username }),
    ]);
    expect(jobSpecOf(world().runTaskCalls[0])).not.toHaveProperty('stagedToken');
    expect(logins.get(addon.id)).toEqual(new Map([[after.username, after.password]]));
    expect(published(addon.id)).toEqual(after);
    expect(await world().store.getAddon(PROJECT, addon.id)).toMatchObject({ credentialRotation: null });

    // The second rotation: back to the customer's own user, with a new password.
    await rotated(addon);
    const third = published(addon.id);
    expect(third.username).toBe(before.username);
    expect(third.password).not.toBe(before.password);
    expect([...(logins.get(addon.id)?.keys() ?? [])].sort()).toEqual(
      [before.username, after.username].sort(),
    );
  });

  it('the deadline: the sweep starts the retaining job once it has passed', async () => {
    clock = new Date();
    world().jobs.behaviour = loginJob;
    const addon = await running();
    await rotated(addon, 60);
    const after = published(addon.id);
    world().runTaskCalls.length = 0;
    clock = new Date(clock.getTime() + 61_000);
    expect(await rotations().sweep()).toContain(addon.id);
    await world().workflows.idle();
    expect(world().runTaskCalls.map((call) => jobSpecOf(call).kind === 'login' && jobSpecOf(call))).toEqual([
      expect.objectContaining({ action: 'retain', addonId: addon.id }),
    ]);
    expect(logins.get(addon.id)).toEqual(new Map([[after.username, after.password]]));
    expect((await world().store.getAddon(PROJECT, addon.id)).credentialRotation).toBeNull();
  });

  it('a failed login task is undone: the undo job retires the added login, the staged version is dropped, the rotation cleared, the operation failed with the reason', async () => {
    clock = new Date();
    const addon = await running();
    const before = published(addon.id);
    world().jobs.behaviour = async (parameters) => {
      const spec = jobSpecOf(parameters);
      if (spec.kind === 'login' && spec.action === 'add') {
        // The job let the login in, then its container failed (e.g. killed before it reported).
        await loginJob(parameters);
        throw new TaskFailed('Essential container in task exited');
      }
      return loginJob(parameters);
    };
    const started = await rotations().rotate(PROJECT, addon.id);
    const operation = await ended(started.operation.id);

    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(
      /The credential rotation failed: .*Essential container in task exited.*undone: the published credentials work and are the only ones/,
    );
    expect(world().runTaskCalls.map((call) => jobSpecOf(call))).toEqual([
      expect.objectContaining({ action: 'add' }),
      expect.objectContaining({ action: 'retain', owner: before.username }),
    ]);
    expect(logins.get(addon.id)).toEqual(new Map([[before.username, before.password]]));
    expect(published(addon.id)).toEqual(before);
    expect(world().fake.pendingSecrets.has(secretName(addon.id))).toBe(false);
    const record = await world().store.getAddon(PROJECT, addon.id);
    expect(record).toMatchObject({ status: 'running', currentOperationId: null, credentialRotation: null });
  });

  it('an undo job that fails too: the operation fails, the addon is released, the rotation stays open for its deadline', async () => {
    clock = new Date();
    const addon = await running();
    const before = published(addon.id);
    world().jobs.behaviour = async () => {
      throw new TaskFailed('CannotPullContainerError');
    };
    const started = await rotations().rotate(PROJECT, addon.id);
    const operation = await ended(started.operation.id);
    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(/CannotPullContainerError/);
    expect(published(addon.id)).toEqual(before);
    const record = await world().store.getAddon(PROJECT, addon.id);
    expect(record).toMatchObject({ status: 'running', currentOperationId: null });
    expect(record.credentialRotation).toMatchObject({ previousUsername: before.username });
  });
});

describe('a failure at each step of the login job path', () => {
  // The job path's own Task states (the provider's wait loop, DescribeLogins, is ElastiCache's:
  // aws-redis-rotation.test.ts); the undo job's own failure is the test above.
  const STEPS = ['ApplyLogins', 'RunLoginJob', 'CompleteRotation'];
  it('names Task states of the workflow', () => {
    expect(taskStatesOf('rotate-credentials')).toEqual(expect.arrayContaining(STEPS));
  });

  /** Runs `start` with the first visit of `step` in rotate-credentials failing; the operation it ended with. */
  const failingOnce = async (step: string, start: () => Promise<{ operation: { id: string } }>) => {
    let failed = false;
    world().workflows.beforeTask = (workflow, state) => {
      if (workflow !== 'rotate-credentials' || state !== step || failed) return;
      failed = true;
      throw new InjectedFault(state);
    };
    try {
      const started = await start();
      const operation = await ended(started.operation.id);
      expect(failed, `the rotation never reached ${step}`).toBe(true);
      return operation;
    } finally {
      world().workflows.beforeTask = undefined;
    }
  };

  it.each(STEPS)(
    'rotate, failing at %s: undone, the published login the only one, the addon released',
    async (step) => {
      clock = new Date();
      world().jobs.behaviour = loginJob;
      const addon = await running();
      const before = published(addon.id);
      const operation = await failingOnce(step, () => rotations().rotate(PROJECT, addon.id));
      expect(operation.status).toBe('failed');
      expect(operation.error?.message).toMatch(
        new RegExp(`The credential rotation failed: Injected failure at ${step}.*It was undone`),
      );
      expect(published(addon.id)).toEqual(before);
      expect(world().fake.pendingSecrets.has(secretName(addon.id))).toBe(false);
      // Whatever the job had let in is retired again (no job ran: the instance as it was).
      expect(logins.get(addon.id) ?? new Map([[before.username, before.password]])).toEqual(
        new Map([[before.username, before.password]]),
      );
      expect(await world().store.getAddon(PROJECT, addon.id)).toMatchObject({
        status: 'running',
        currentOperationId: null,
        credentialRotation: null,
      });
    },
  );

  it.each(STEPS)(
    'finish, failing at %s: the published login works, the rotation stays open, the addon released',
    async (step) => {
      clock = new Date();
      world().jobs.behaviour = loginJob;
      const addon = await running();
      await rotated(addon);
      const current = published(addon.id);
      const operation = await failingOnce(step, () => rotations().finish(PROJECT, addon.id));
      expect(operation.status).toBe('failed');
      expect(operation.error?.message).toMatch(
        new RegExp(`Retiring the previous credentials failed: Injected failure at ${step}`),
      );
      expect(published(addon.id)).toEqual(current);
      expect(logins.get(addon.id)?.get(current.username)).toBe(current.password);
      const record = await world().store.getAddon(PROJECT, addon.id);
      expect(record).toMatchObject({ status: 'running', currentOperationId: null });
      expect(record.credentialRotation).not.toBeNull();
    },
  );
});

describe('a physical copy of a rotated PostgreSQL addon on AWS', () => {
  it('a snapshot restore resets the master password to the published one and runs the retain job: only the published login works, the open rotation ends', async () => {
    clock = new Date();
    world().jobs.behaviour = loginJob;
    const addon = await running();
    const first = published(addon.id);
    const { backup } = await backUp(addon, 'snapshot');
    // The snapshot holds the customer's user with its first password, and nothing else.
    copied = new Map([[first.username, first.password]]);
    await rotated(addon);
    const current = published(addon.id);
    expect(current.username).toBe(`${first.username}_2`);
    world().runTaskCalls.length = 0;

    const { operation } = await restore(addon, backup.id);

    expect(operation).toMatchObject({
      status: 'completed',
      message: expect.stringMatching(/The restore ended the open credential rotation/),
    });
    // The published second login works again, the customer's user (retired by then) does not.
    expect(logins.get(addon.id)).toEqual(new Map([[current.username, current.password]]));
    expect(published(addon.id)).toEqual(current);
    expect(world().runTaskCalls.map((call) => jobSpecOf(call))).toEqual([
      {
        kind: 'login',
        operationId: operation.id,
        projectId: PROJECT,
        addonId: addon.id,
        engine: 'postgresql',
        action: 'retain',
        owner: first.username,
        masterReset: true,
      },
    ]);
    const overrides = JSON.stringify(world().runTaskCalls.map((call) => call.Overrides));
    for (const password of passwordsOf(addon.id)) expect(overrides).not.toContain(password);
    expect(await world().store.getAddon(PROJECT, addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
      credentialRotation: null,
    });
  });

  it('a restore whose login job fails is failed saying the data was restored, and released', async () => {
    clock = new Date();
    const addon = await running();
    const { backup } = await backUp(addon, 'snapshot');
    world().jobs.behaviour = async () => {
      throw new TaskFailed('CannotPullContainerError');
    };
    const { operation, addon: after } = await restore(addon, backup.id);
    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(
      /^The data was restored, but making the published credentials work on it failed: .*CannotPullContainerError.*Restore again to retry/,
    );
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
  });

  it("a fork from a snapshot of a source in mid-rotation: its master user gets the fork's password and the source's second login is retired", async () => {
    clock = new Date();
    world().jobs.behaviour = loginJob;
    const source = await running();
    const sourceFirst = published(source.id);
    await rotated(source);
    const sourceCurrent = published(source.id);
    // The snapshot holds both of the source's logins.
    copied = new Map(logins.get(source.id));
    expect([...copied.keys()].sort()).toEqual([sourceFirst.username, sourceCurrent.username].sort());
    const { backup } = await backUp(source, 'snapshot');
    world().runTaskCalls.length = 0;

    const fork = await provision({ source: { addonId: source.id, backupId: backup.id } });

    expect(fork.operation.status).toBe('completed');
    const forkLogin = published(fork.addon.id);
    expect(forkLogin.username).toBe(sourceFirst.username);
    expect(logins.get(fork.addon.id)).toEqual(new Map([[forkLogin.username, forkLogin.password]]));
    expect(world().runTaskCalls.map((call) => jobSpecOf(call))).toEqual([
      expect.objectContaining({ addonId: fork.addon.id, action: 'retain', masterReset: true }),
    ]);
    expect(platformLogin(fork.addon.id)).toBeDefined();
    expect(platformLogin(fork.addon.id)).not.toBe(platformLogin(source.id));
  });
});

describe('the roles, over credential rotations by the login job', () => {
  it('the workflow function may make every call it sent; the job role may read the secrets the job reads', () => {
    flushCalls();
    const { json, stack } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, stack.workflows.taskFunction.role);
    const workflowCalls = recorded.filter((call) => call.command !== 'StartExecution');
    expect(recorded.some((call) => call.command === 'UpdateSecretVersionStage')).toBe(true);
    expect(deniedPermissions(roleStatements(json, roleId), workflowCalls, callEnvironment())).toEqual([]);

    const jobRoleId = logicalIdOf(world().synthesized, stack.backups.taskDefinition.taskRole as never);
    const secretArn = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`;
    const jobCalls = [secretName('addon-x'), `${secretName('addon-x')}/platform-login`].map((name) => ({
      service: 'secretsmanager' as const,
      command: 'GetSecretValue',
      input: { SecretId: secretArn(name) },
    }));
    expect(deniedPermissions(roleStatements(json, jobRoleId), jobCalls, callEnvironment())).toEqual([]);
  });
});
