import { describe, expect, it } from 'vitest';
import { restoreIdentifiers } from '#shared/providers/aws/rds/rds-restore.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { JOB_COMMAND } from '#shared/services/backup-workflow-tasks.ts';
import {
  type CallEnvironment,
  deniedPermissions,
  FUNCTION_BASELINE_ACTIONS,
  roleStatements,
  unusedActions,
} from '../infra/support/iam.ts';
import { DOCUMENTDB_ACTIONS } from '../infra/support/iam-documentdb.ts';
import { PITR_WORKFLOW_ACTIONS } from '../infra/support/iam-pitr.ts';
import { scheduleRecord } from '../support/fixtures.ts';
import { awsWorkflowSuite, jobSpecOf } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';
import { REDIS_ENGINE_ACTIONS, REDIS_ROTATION_ACTIONS } from './support/fake-elasticache.ts';

/**
 * backup-addon and restore-addon as deployed: the ASL files with the stack's substitutions, the
 * workflow function's AWS composition root with the environment CDK gives it, RDS and S3 faked,
 * DynamoDB real, and `ecs:runTask.sync` served by a stand-in for the Fargate job. These runs
 * also provision and delete an addon, so the last block can check the workflow function's role
 * both ways: everything it sent is allowed, and nothing it never sends is.
 */

const PROJECT = 'proj-backup-aws';
const { world, recorded, flushCalls, running, backUp, restore, dumpJob, secretName } = awsWorkflowSuite(
  PROJECT,
  {
    namePrefix: 'bkp',
  },
);

/** How `ecs:runTask.sync` fails when the container exits non-zero. */
class TaskFailed extends Error {
  override name = 'States.TaskFailed';
}

describe('backup-addon on AWS', () => {
  it('takes an RDS snapshot, waits until it is available and records its size', async () => {
    const addon = await running();
    const { backup, operation, addon: after } = await backUp(addon, 'snapshot');

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(backup).toMatchObject({
      status: 'completed',
      type: 'snapshot',
      sizeBytes: 20 * 1024 ** 3,
      snapshotId: `${addon.resourceId}-${backup.id}`,
    });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    expect(world().fake.commands('rds')).toEqual([
      'CreateDBSnapshot',
      'DescribeDBSnapshots',
      'DescribeDBSnapshots',
    ]);
    expect(world().fake.inputsOf('rds', 'CreateDBSnapshot')).toEqual([
      {
        DBSnapshotIdentifier: backup.snapshotId,
        DBInstanceIdentifier: addon.resourceId,
        Tags: [
          { Key: TAG_KEYS.deployment, Value: world().env.DEPLOYMENT_NAME },
          { Key: TAG_KEYS.source, Value: addon.resourceId },
        ],
      },
    ]);
    expect(world().runTaskCalls).toEqual([]);
  });

  it('runs the dump job on Fargate with the stack’s cluster, task definition, subnets and groups, then records size and SHA-256', async () => {
    const addon = await running();
    world().jobs.behaviour = dumpJob();
    const { backup, operation } = await backUp(addon, 'dump');

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(backup).toMatchObject({ status: 'completed', sizeBytes: 15, sha256: 'a'.repeat(64) });
    const artifact = {
      bucket: world().env.BACKUP_BUCKET,
      key: `dumps/${PROJECT}/${addon.id}/${backup.id}.dump.zst`,
    };
    expect(backup.artifact).toEqual(artifact);

    expect(world().env.JOB_SUBNET_IDS).toHaveLength(2);
    // The job group reaches the VPC endpoints; the project's client group, the addon's database.
    expect(world().env.JOB_SECURITY_GROUP_IDS).toEqual([expect.stringMatching(/^sg-/)]);
    const clientGroup = addon.network?.clientSecurityGroupId;
    expect(clientGroup).toEqual(
      [...world().fake.groups.values()].find((group) => group.name === `clients-${PROJECT}`)?.id,
    );
    expect(world().runTaskCalls).toEqual([
      {
        Cluster: world().env.JOB_CLUSTER_ARN,
        TaskDefinition: world().env.JOB_TASK_DEFINITION_ARN,
        LaunchType: 'FARGATE',
        PropagateTags: 'TASK_DEFINITION',
        NetworkConfiguration: {
          AwsvpcConfiguration: {
            Subnets: world().env.JOB_SUBNET_IDS,
            SecurityGroups: [...world().env.JOB_SECURITY_GROUP_IDS, clientGroup],
            AssignPublicIp: 'DISABLED',
          },
        },
        Overrides: {
          ContainerOverrides: [
            {
              Name: world().env.JOB_CONTAINER_NAME,
              Command: JOB_COMMAND,
              Environment: [{ Name: 'JOB_SPEC', Value: expect.any(String) }],
            },
          ],
        },
      },
    ]);
    const [parameters] = world().runTaskCalls;
    expect(jobSpecOf(parameters ?? {})).toEqual({
      kind: 'dump',
      operationId: operation.id,
      projectId: PROJECT,
      addonId: addon.id,
      backupId: backup.id,
      engine: 'postgresql',
      artifact,
      resultKey: `${artifact.key}.result.json`,
      compression: 'zstd',
      estimatedBytes: 20 * 1024 ** 3,
    });
    expect(world().fake.commands('s3').sort()).toEqual(['GetObject', 'HeadObject']);
    expect(world().fake.commands('rds')).toEqual([]);
  });

  it('fails the backup when RDS reports the snapshot failed, and deletes it', async () => {
    const addon = await running();
    world().fake.snapshotScript = { statuses: ['creating', 'failed'] };
    const { backup, operation, addon: after } = await backUp(addon, 'snapshot');

    const message = `RDS reports snapshot ${backup.snapshotId} as failed`;
    expect(operation).toMatchObject({ status: 'failed', error: { code: 'ProviderError', message } });
    expect(backup).toMatchObject({ status: 'failed', error: { message } });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    expect(world().fake.commands('rds')).toEqual([
      'CreateDBSnapshot',
      'DescribeDBSnapshots',
      'DescribeDBSnapshots',
      'DeleteDBSnapshot',
    ]);
    expect(world().fake.inputsOf('rds', 'DeleteDBSnapshot')).toEqual([
      { DBSnapshotIdentifier: backup.snapshotId },
    ]);
    expect(world().fake.snapshots.size).toBe(0);
  });

  it('fails the backup when the Fargate task fails, and deletes what the job uploaded', async () => {
    const addon = await running();
    world().jobs.behaviour = async (parameters) => {
      const spec = jobSpecOf(parameters);
      if (spec.kind === 'live-import' || spec.kind === 'login') throw new Error('not a dump');
      world().fake.objects.set(`${spec.artifact.bucket}/${spec.artifact.key}`, 'PGDMP partial');
      throw new TaskFailed('Essential container in task exited');
    };
    const { backup, operation, addon: after } = await backUp(addon, 'dump');

    expect(operation.status).toBe('failed');
    expect(backup.status).toBe('failed');
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    expect(world().fake.inputsOf('s3', 'DeleteObject')).toEqual([
      { Bucket: backup.artifact?.bucket, Key: backup.artifact?.key },
      { Bucket: backup.artifact?.bucket, Key: `${backup.artifact?.key}.result.json` },
    ]);
    expect(world().fake.objects.size).toBe(0);
  });
});

describe('restore-addon on AWS', () => {
  it('restores a snapshot to a staging instance, swaps it in under the addon’s identifier and deletes the old one', async () => {
    const addon = await running();
    const { backup } = await backUp(addon, 'snapshot');
    flushCalls();
    world().runTaskCalls.length = 0;

    const { operation, addon: after } = await restore(addon, backup.id);

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null, endpoint: addon.endpoint });
    const { staging, retired } = restoreIdentifiers(addon.resourceId, operation.id);
    expect(staging).toMatch(/^addon-[a-z0-9-]+-r[0-9a-f]{8}$/);
    expect(staging.length).toBeLessThanOrEqual(63);

    expect(world().fake.commands('rds')).toEqual([
      // restoreSnapshot: no read replicas (they would be left behind), the addon's instance, no
      // staging yet, restore.
      'DescribeDBInstances',
      'DescribeDBInstances',
      'DescribeDBInstances',
      'RestoreDBInstanceFromDBSnapshot',
      // staging creating
      'DescribeDBInstances',
      'DescribeDBInstances',
      // staging available: retire the addon's instance
      'DescribeDBInstances',
      'DescribeDBInstances',
      'ModifyDBInstance',
      // retired still renaming
      'DescribeDBInstances',
      'DescribeDBInstances',
      'DescribeDBInstances',
      // retired renamed: staging takes the addon's identifier
      'DescribeDBInstances',
      'DescribeDBInstances',
      'DescribeDBInstances',
      'ModifyDBInstance',
      // restored instance renaming
      'DescribeDBInstances',
      // restored instance available: delete the retired one
      'DescribeDBInstances',
      'DescribeDBInstances',
      'ModifyDBInstance',
      'DeleteDBInstance',
      // the copy's logins (restored-logins.ts): the master user (read from the instance) gets the
      // published password; RDS applies it, then the login job runs
      'DescribeDBInstances',
      'DescribeDBInstances',
      'ModifyDBInstance',
      'DescribeDBInstances',
      'DescribeDBInstances',
    ]);
    expect(world().fake.inputsOf('rds', 'RestoreDBInstanceFromDBSnapshot')).toEqual([
      {
        DBInstanceIdentifier: staging,
        DBSnapshotIdentifier: backup.snapshotId,
        DBInstanceClass: 'db.t4g.micro',
        AllocatedStorage: 20,
        StorageType: 'gp3',
        DBSubnetGroupName: world().env.RDS_SUBNET_GROUP_NAME,
        // The addon's own group (the project's client group was created first), and its TLS parameter group.
        VpcSecurityGroupIds: ['sg-00000000000000002'],
        DBParameterGroupName: world().env.TLS_PARAMETER_GROUPS.postgresql?.['17'],
        Port: 5432,
        MultiAZ: false,
        PubliclyAccessible: false,
        AutoMinorVersionUpgrade: true,
        BackupRetentionPeriod: 7,
        CopyTagsToSnapshot: true,
        DeletionProtection: true,
        Tags: [
          { Key: TAG_KEYS.deployment, Value: world().env.DEPLOYMENT_NAME },
          { Key: TAG_KEYS.project, Value: PROJECT },
          { Key: TAG_KEYS.addon, Value: addon.id },
          { Key: TAG_KEYS.restore, Value: operation.id },
        ],
      },
    ]);
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, NewDBInstanceIdentifier: retired, ApplyImmediately: true },
      { DBInstanceIdentifier: staging, NewDBInstanceIdentifier: addon.resourceId, ApplyImmediately: true },
      { DBInstanceIdentifier: retired, DeletionProtection: false, ApplyImmediately: true },
      {
        DBInstanceIdentifier: addon.resourceId,
        MasterUserPassword: JSON.parse(String(world().fake.secrets.get(secretName(addon.id)))).password,
        ApplyImmediately: true,
      },
    ]);
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: retired, SkipFinalSnapshot: true, DeleteAutomatedBackups: false },
    ]);
    expect(world().runTaskCalls.map((call) => jobSpecOf(call))).toEqual([
      expect.objectContaining({ kind: 'login', action: 'retain', masterReset: true, addonId: addon.id }),
    ]);
    // The addon's identifier now names the restored instance.
    expect(world().fake.instances.get(addon.resourceId)?.tags).toContainEqual({
      Key: TAG_KEYS.restore,
      Value: operation.id,
    });
  });

  it('restores a dump with a Fargate restore job that checks the recorded SHA-256', async () => {
    const addon = await running();
    world().jobs.behaviour = dumpJob();
    const { backup } = await backUp(addon, 'dump');
    world().runTaskCalls.length = 0;
    flushCalls();
    world().jobs.behaviour = async () => ({ StopCode: 'EssentialContainerExited' });

    const { operation, addon: after } = await restore(addon, backup.id);

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    expect(world().runTaskCalls).toHaveLength(1);
    const [parameters] = world().runTaskCalls;
    expect(parameters).toMatchObject({
      Cluster: world().env.JOB_CLUSTER_ARN,
      TaskDefinition: world().env.JOB_TASK_DEFINITION_ARN,
    });
    expect(jobSpecOf(parameters ?? {})).toEqual({
      kind: 'restore',
      operationId: operation.id,
      projectId: PROJECT,
      addonId: addon.id,
      backupId: backup.id,
      engine: 'postgresql',
      artifact: backup.artifact,
      compression: 'zstd',
      expectedSha256: 'a'.repeat(64),
    });
    // The restore job talks to the database and S3 itself; the workflow function sends nothing to RDS.
    expect(world().fake.commands('rds')).toEqual([]);
  });

  it('deletes the staging instance and keeps the old one when the restore fails before the swap', async () => {
    const addon = await running();
    const { backup } = await backUp(addon, 'snapshot');
    flushCalls();
    world().fake.restoreScript = { statuses: ['creating', 'incompatible-restore'] };

    const { operation, addon: after } = await restore(addon, backup.id);

    const { staging } = restoreIdentifiers(addon.resourceId, operation.id);
    expect(operation).toMatchObject({
      status: 'failed',
      error: {
        code: 'ProviderError',
        message: `RDS reports instance ${staging} as incompatible-restore: the restore could not complete; the addon keeps its data as it was`,
      },
    });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null, endpoint: addon.endpoint });
    expect(
      world()
        .fake.commands('rds')
        .filter((command) => command !== 'DescribeDBInstances'),
    ).toEqual(['RestoreDBInstanceFromDBSnapshot', 'ModifyDBInstance', 'DeleteDBInstance']);
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance')).toEqual([
      { DBInstanceIdentifier: staging, DeletionProtection: false, ApplyImmediately: true },
    ]);
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: staging, SkipFinalSnapshot: true, DeleteAutomatedBackups: false },
    ]);
    // The addon's own instance was never renamed, modified or deleted.
    const original = world().fake.instances.get(addon.resourceId);
    expect(original?.deletionProtection).toBe(true);
    expect(original?.tags.some((tag) => tag.Key === TAG_KEYS.restore)).toBe(false);
  });
});

describe('the workflow function role, over provision, backup, restore and delete', () => {
  it('deletes an addon (so every provisioning action is exercised here too)', async () => {
    const addon = await running();
    const { operation } = await world().service.delete(PROJECT, addon.id);
    await world().workflows.idle();
    expect((await world().store.getOperation(PROJECT, operation.id)).status).toBe('completed');
  });

  it('deletes an addon after a final snapshot, and its EventBridge schedule in the deployment’s group', async () => {
    // Prepare
    const addon = await running();
    const schedule = scheduleRecord({
      projectId: PROJECT,
      addonId: addon.id,
      interval: 'hourly',
      hours: null,
      retentionDays: 1,
      type: 'snapshot',
    });
    await world().backupStore.putSchedule(schedule);
    world().fake.schedules.add(`${world().env.SCHEDULE_GROUP_NAME}/${schedule.id}`);

    // Act
    const { operation } = await world().service.delete(PROJECT, addon.id, { finalBackup: 'snapshot' });
    await world().workflows.idle();

    // Assess
    const done = await world().store.getOperation(PROJECT, operation.id);
    expect(done).toMatchObject({ status: 'completed', error: null });
    expect(world().fake.inputsOf('scheduler', 'DeleteSchedule')).toEqual([
      { Name: schedule.id, GroupName: world().env.SCHEDULE_GROUP_NAME },
    ]);
    expect(world().fake.schedules.size).toBe(0);
    const final = await world().backupStore.getBackup(PROJECT, String(done.backupId));
    expect(final).toMatchObject({ status: 'completed', source: 'final', addonDeleted: true });
    expect(world().fake.snapshots.has(String(final.snapshotId))).toBe(true);
  });

  const check = () => {
    const { json } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, world().synthesized.stack.workflows.taskFunction.role);
    const env: CallEnvironment = {
      tableKeyArn: world().env.SECRETS_KMS_KEY_ID,
      secretsKeyArn: world().env.SECRETS_KMS_KEY_ID,
      bucketKeyArn: world().env.STORAGE_KMS_KEY_ID,
      storageKeyArn: world().env.STORAGE_KMS_KEY_ID,
    };
    return { statements: roleStatements(json, roleId), env };
  };

  it('allows every AWS action the workflow function sent, on the resources it sent them to', () => {
    flushCalls();
    const { statements, env } = check();
    expect(recorded.some((call) => call.service === 's3')).toBe(true);
    expect(deniedPermissions(statements, recorded, env)).toEqual([]);
  });

  it('allows nothing the workflow function does not send', () => {
    const { statements, env } = check();
    // DocumentDB's and Redis's actions are sent by their engines' addons only:
    // aws-mongodb-lifecycle.test.ts and aws-redis-lifecycle.test.ts check them; point-in-time
    // restores' by aws-pitr-workflows.test.ts.
    const unused = unusedActions(statements, recorded, env, [
      ...FUNCTION_BASELINE_ACTIONS,
      ...REDIS_ENGINE_ACTIONS,
      // A Redis addon's credential rotation: aws-redis-rotation.test.ts sends and checks them.
      ...REDIS_ROTATION_ACTIONS,
      ...PITR_WORKFLOW_ACTIONS,
      // A Redis addon's plan change (scale-addon); the ElastiCache fake does not model it yet.
      'elasticache:ModifyReplicationGroup',
      // A Redis addon's replicas change (update-replicas): aws-replicas-cache-docdb.test.ts.
      'elasticache:IncreaseReplicaCount',
      'elasticache:DecreaseReplicaCount',
      // A networking change's (update-networking): aws-networking.test.ts sends and checks them.
      'ec2:RevokeSecurityGroupIngress',
      'rds:RebootDBInstance',
      // Read replicas' (update-replicas): aws-replicas.test.ts sends and checks it.
      'rds:CreateDBInstanceReadReplica',
      // Why an upgrade was refused: aws-upgrade-workflows.test.ts sends and checks them.
      'rds:DescribeEvents',
      'elasticache:DescribeEvents',
    ]);
    expect(unused.filter((action) => !DOCUMENTDB_ACTIONS.includes(action))).toEqual([]);
  });
});
