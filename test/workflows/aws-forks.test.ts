import { describe, expect, it } from 'vitest';
import { instanceStateOf } from '#shared/providers/aws/rds/rds-instances.ts';
import { restoreIdentifiers } from '#shared/providers/aws/rds/rds-restore.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import { type CallEnvironment, deniedPermissions, roleStatements } from '../infra/support/iam.ts';
import { awsWorkflowSuite, jobSpecOf } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';

/**
 * Forks as deployed on AWS: provision-addon with its seed phase (the ASL with the stack's
 * substitutions), the workflow function's AWS composition root, RDS, EC2, S3 and Secrets Manager
 * faked, `ecs:runTask.sync` served by a stand-in for the Fargate restore job. A snapshot fork is
 * the new instance replaced by a restore of the source's DB snapshot (restore-to-new, then the
 * swap), then ModifyDBInstance gives it its own master password; a dump fork runs the restore job
 * into the new instance. A failure deletes every instance the fork made; the source is untouched.
 */

const PROJECT = 'proj-fork-aws';
const { world, recorded, flushCalls, provision, running, backUp, dumpJob, secretOf, secretName } =
  awsWorkflowSuite(PROJECT, { namePrefix: 'fork' });

class TaskFailed extends Error {
  override name = 'States.TaskFailed';
}

/** The source's instance: still there, never renamed, restored into, or modified. */
const expectSourceUntouched = (source: AddonRecord) => {
  const instance = world().fake.instances.get(source.resourceId);
  expect(instance?.tags.some((tag) => tag.Key === TAG_KEYS.restore)).toBe(false);
  expect(instance?.deletionProtection).toBe(true);
  const touched = world()
    .fake.calls.filter((call) => call.service === 'rds' && call.command !== 'DescribeDBInstances')
    .filter((call) => call.input.DBInstanceIdentifier === source.resourceId);
  expect(touched).toEqual([]);
};

describe('forks on AWS (provision-addon with a seed phase)', () => {
  it('restores the source snapshot into the new addon (restore to new, swap), then sets the fork’s own master password', async () => {
    const source = await running();
    const { backup } = await backUp(source, 'snapshot');
    flushCalls();

    const { addon, operation } = await provision({ source: { addonId: source.id, backupId: backup.id } });

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(addon).toMatchObject({
      status: 'running',
      source: {
        addonId: source.id,
        backupId: backup.id,
        backupType: 'snapshot',
        database: source.name.replace(/-/g, '_'),
      },
    });
    const { staging, retired } = restoreIdentifiers(addon.resourceId, operation.id);
    expect(world().fake.inputsOf('rds', 'RestoreDBInstanceFromDBSnapshot')).toEqual([
      expect.objectContaining({ DBInstanceIdentifier: staging, DBSnapshotIdentifier: backup.snapshotId }),
    ]);
    const secret = secretOf(addon.id);
    expect(secret.database).toBe(source.name.replace(/-/g, '_'));
    expect(secret.password).not.toBe(secretOf(source.id).password);
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, NewDBInstanceIdentifier: retired, ApplyImmediately: true },
      { DBInstanceIdentifier: staging, NewDBInstanceIdentifier: addon.resourceId, ApplyImmediately: true },
      { DBInstanceIdentifier: retired, DeletionProtection: false, ApplyImmediately: true },
      // The snapshot brought the source's master password: the fork gets its own.
      { DBInstanceIdentifier: addon.resourceId, MasterUserPassword: secret.password, ApplyImmediately: true },
    ]);
    // The empty instance the fork was created with is gone; the restored one answers to its identifier.
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: retired, SkipFinalSnapshot: true, DeleteAutomatedBackups: false },
    ]);
    expect(world().fake.instances.get(addon.resourceId)?.tags).toContainEqual({
      Key: TAG_KEYS.addon,
      Value: addon.id,
    });
    // Completed only once RDS had applied the password (resetting-master-credentials, then available).
    const describes = world().fake.calls.filter(
      (call) =>
        call.command === 'DescribeDBInstances' && call.input.DBInstanceIdentifier === addon.resourceId,
    );
    expect(describes.length).toBeGreaterThan(4);
    expectSourceUntouched(source);
  });

  it('restores a dump into the new addon with the Fargate restore job', async () => {
    const source = await running();
    world().jobs.behaviour = dumpJob();
    const { backup } = await backUp(source, 'dump');
    world().runTaskCalls.length = 0;
    flushCalls();
    world().jobs.behaviour = async () => ({ StopCode: 'EssentialContainerExited' });

    const { addon, operation } = await provision({ source: { addonId: source.id, backupId: backup.id } });

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(world().runTaskCalls).toHaveLength(1);
    expect(jobSpecOf(world().runTaskCalls[0])).toEqual({
      kind: 'restore',
      operationId: operation.id,
      projectId: PROJECT,
      addonId: addon.id,
      backupId: backup.id,
      engine: 'postgresql',
      artifact: backup.artifact,
      compression: 'zstd',
      expectedSha256: backup.sha256,
    });
    // The job joins the fork's project client group, the only source its database admits.
    expect(world().runTaskCalls[0]).toMatchObject({
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          SecurityGroups: expect.arrayContaining([addon.network?.clientSecurityGroupId]),
        },
      },
    });
    // Loaded as the fork's own user: no snapshot restore, no password change.
    expect(
      world()
        .fake.commands('rds')
        .filter((command) => command !== 'DescribeDBInstances'),
    ).toEqual(['CreateDBInstance']);
    expectSourceUntouched(source);
  });

  it('a snapshot restore that fails deletes the staging instance and the fork; the operation says why', async () => {
    const source = await running();
    const { backup } = await backUp(source, 'snapshot');
    flushCalls();
    world().fake.restoreScript = { statuses: ['creating', 'incompatible-restore'] };

    const { addon, operation } = await provision({ source: { addonId: source.id, backupId: backup.id } });

    const { staging } = restoreIdentifiers(addon.resourceId, operation.id);
    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(/incompatible-restore/);
    expect(addon).toMatchObject({ status: 'failed', currentOperationId: null, endpoint: null });
    const deleted = world()
      .fake.inputsOf('rds', 'DeleteDBInstance')
      .map((input) => input.DBInstanceIdentifier);
    expect(deleted).toEqual(expect.arrayContaining([staging, addon.resourceId]));
    expect(world().fake.secrets.has(secretName(addon.id))).toBe(false);
    expectSourceUntouched(source);
  });

  it('a restore job that fails deletes the fork: nothing half-created keeps running', async () => {
    const source = await running();
    world().jobs.behaviour = dumpJob();
    const { backup } = await backUp(source, 'dump');
    flushCalls();
    world().jobs.behaviour = async () => {
      throw new TaskFailed('Essential container in task exited (exit code 1)');
    };

    const { addon, operation } = await provision({ source: { addonId: source.id, backupId: backup.id } });

    expect(operation.status).toBe('failed');
    expect(addon).toMatchObject({ status: 'failed', endpoint: null });
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      expect.objectContaining({ DBInstanceIdentifier: addon.resourceId }),
    ]);
    expect(world().fake.secrets.has(secretName(addon.id))).toBe(false);
    expectSourceUntouched(source);
  });
});

describe('MySQL forks on AWS', () => {
  it('restores a MySQL snapshot into the new addon and sets its own master password', async () => {
    const { addon: source } = await provision({ engine: 'mysql' });
    expect(source.status).toBe('running');
    const { backup } = await backUp(source, 'snapshot');
    flushCalls();

    const { addon, operation } = await provision({
      engine: 'mysql',
      source: { addonId: source.id, backupId: backup.id },
    });

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(addon).toMatchObject({ engine: 'mysql', version: source.version, status: 'running' });
    expect(world().fake.inputsOf('rds', 'RestoreDBInstanceFromDBSnapshot')).toEqual([
      expect.objectContaining({ DBSnapshotIdentifier: backup.snapshotId }),
    ]);
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance').at(-1)).toEqual({
      DBInstanceIdentifier: addon.resourceId,
      MasterUserPassword: secretOf(addon.id).password,
      ApplyImmediately: true,
    });
    expect(secretOf(addon.id).database).toBe(secretOf(source.id).database);
    expectSourceUntouched(source);
  });
});

describe('an RDS instance with a master password change pending', () => {
  it('is not available yet, so the fork completes only once the password applies', () => {
    const instance = {
      DBInstanceIdentifier: 'addon-x',
      DBInstanceStatus: 'available',
      Endpoint: { Address: 'addon-x.rds', Port: 5432 },
    };
    expect(instanceStateOf({ ...instance, PendingModifiedValues: { MasterUserPassword: '****' } })).toEqual({
      status: 'creating',
    });
    expect(instanceStateOf(instance)).toEqual({
      status: 'available',
      endpoint: { host: 'addon-x.rds', port: 5432 },
    });
  });
});

describe('the workflow function role, over forks', () => {
  it('allows every AWS action the workflow function sent for forks, on the resources it sent them to', () => {
    flushCalls();
    const { json } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, world().synthesized.stack.workflows.taskFunction.role);
    const env: CallEnvironment = {
      tableKeyArn: world().env.SECRETS_KMS_KEY_ID,
      secretsKeyArn: world().env.SECRETS_KMS_KEY_ID,
      bucketKeyArn: world().env.STORAGE_KMS_KEY_ID,
      storageKeyArn: world().env.STORAGE_KMS_KEY_ID,
    };
    expect(
      recorded.some((call) => call.command === 'ModifyDBInstance' && call.input.MasterUserPassword),
    ).toBe(true);
    expect(deniedPermissions(roleStatements(json, roleId), recorded, env)).toEqual([]);
  });

  it('lets the provision state machine run the restore job (RunTask on the job task definition, PassRole)', () => {
    const { json } = world().synthesized;
    const machine = world().synthesized.stack.workflows.stateMachine('provision-addon');
    const roleId = logicalIdOf(world().synthesized, machine.role);
    const actions = roleStatements(json, roleId).flatMap((statement) => [statement.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['ecs:RunTask', 'iam:PassRole']));
  });
});
