import { RDSServiceException } from '@aws-sdk/client-rds';
import { describe, expect, it } from 'vitest';
import { restoreIdentifiers } from '#shared/providers/aws/rds/rds-restore.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { deniedPermissions, roleStatements } from '../infra/support/iam.ts';
import { awsWorkflowSuite, jobSpecOf } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';

/**
 * MySQL addons on AWS as deployed: provision-addon, backup-addon, restore-addon and delete-addon
 * from the ASL files with the stack's substitutions, the workflow function's AWS composition root
 * with the environment CDK gives it (the MySQL parameter groups come from the MySQL engine
 * construct), RDS, EC2, S3 and Secrets Manager faked, DynamoDB real, `ecs:runTask.sync` served by
 * a stand-in for the Fargate job. The RDS mechanics are PostgreSQL's; what must differ is the
 * engine, port, parameter groups and job spec, and the role must allow all of it.
 */

const PROJECT = 'proj-mysql-aws';
const {
  world,
  recorded,
  flushCalls,
  provision,
  running,
  backUp,
  restore,
  dumpJob,
  secretName,
  deleteAddon,
  expectRefusedBeforeStart,
  expectAddonGone,
  callEnvironment,
  snapshotTags,
  addonGroups,
  secretOf,
} = awsWorkflowSuite(PROJECT, { namePrefix: 'my', defaults: { engine: 'mysql' } });

describe('provision-addon for MySQL on AWS', () => {
  it('creates an RDS for MySQL 8.4 instance on port 3306 with the MySQL TLS parameter group, KMS and tags, and publishes a mysql:// URI', async () => {
    const { addon, operation } = await provision({ name: 'shop' });

    expect(operation).toMatchObject({ status: 'completed', error: null });
    const host = `${addon.resourceId}.abcdefghijkl.eu-west-1.rds.amazonaws.com`;
    expect(addon).toMatchObject({
      status: 'running',
      engine: 'mysql',
      version: '8.4',
      tls: true,
      endpoint: { host, port: 3306 },
    });
    const [created] = world().fake.inputsOf('rds', 'CreateDBInstance');
    const password = secretOf(addon.id).password as string;
    expect(created).toEqual({
      DBInstanceIdentifier: addon.resourceId,
      Engine: 'mysql',
      EngineVersion: '8.4',
      AutoMinorVersionUpgrade: true,
      DBInstanceClass: 'db.t4g.micro',
      AllocatedStorage: 20,
      StorageType: 'gp3',
      StorageEncrypted: true,
      KmsKeyId: world().env.STORAGE_KMS_KEY_ID,
      DBName: 'shop',
      MasterUsername: 'addonadmin',
      MasterUserPassword: password,
      Port: 3306,
      DBSubnetGroupName: world().env.RDS_SUBNET_GROUP_NAME,
      VpcSecurityGroupIds: [addonGroups()[0]?.id],
      PubliclyAccessible: false,
      MultiAZ: false,
      DBParameterGroupName: world().env.TLS_PARAMETER_GROUPS.mysql?.['8.4'],
      BackupRetentionPeriod: 7,
      CopyTagsToSnapshot: true,
      DeletionProtection: true,
      Tags: [
        { Key: TAG_KEYS.deployment, Value: world().env.DEPLOYMENT_NAME },
        { Key: TAG_KEYS.project, Value: PROJECT },
        { Key: TAG_KEYS.addon, Value: addon.id },
      ],
    });
    // Not PostgreSQL's group, and one the stack created for MySQL.
    expect(created?.DBParameterGroupName).toEqual(expect.any(String));
    expect(Object.values(world().env.TLS_PARAMETER_GROUPS.postgresql ?? {})).not.toContain(
      created?.DBParameterGroupName,
    );
    // The addon's group admits 3306 from the project's client group only.
    expect(world().fake.inputsOf('ec2', 'AuthorizeSecurityGroupIngress')).toMatchObject([
      { IpPermissions: [{ IpProtocol: 'tcp', FromPort: 3306, ToPort: 3306 }] },
    ]);
    expect(world().fake.inputsOf('ec2', 'AuthorizeSecurityGroupEgress')).toMatchObject([
      { IpPermissions: [{ FromPort: 3306, ToPort: 3306, IpRanges: [{ CidrIp: world().env.VPC_CIDR }] }] },
    ]);
    expect(secretOf(addon.id)).toEqual({
      engine: 'mysql',
      host,
      port: 3306,
      database: 'shop',
      username: 'addonadmin',
      password,
      uri: `mysql://addonadmin:${password}@${host}:3306/shop?ssl-mode=REQUIRED`,
      tls: true,
    });
  });

  it('gives an addon created with tls: false on 8.0 the MySQL 8.0 group without require_secure_transport', async () => {
    const { addon, operation } = await provision({ tls: false, version: '8.0' });

    expect(operation.status).toBe('completed');
    expect(world().fake.inputsOf('rds', 'CreateDBInstance')).toMatchObject([
      {
        Engine: 'mysql',
        EngineVersion: '8.0',
        DBParameterGroupName: world().env.NO_TLS_PARAMETER_GROUPS.mysql?.['8.0'],
      },
    ]);
    expect(world().env.NO_TLS_PARAMETER_GROUPS.mysql?.['8.0']).not.toBe(
      world().env.TLS_PARAMETER_GROUPS.mysql?.['8.0'],
    );
    expect(secretOf(addon.id)).toMatchObject({ tls: false, uri: expect.not.stringContaining('ssl-mode') });
  });

  it('refuses replicas with a 422 naming the field, before anything starts', async () => {
    await expectRefusedBeforeStart(
      { name: 'replicated', replicas: 1 },
      { path: 'body.replicas', message: expect.stringContaining('MySQL') },
    );
  });

  it('fails the operation when RDS refuses CreateDBInstance, and leaves nothing behind', async () => {
    world().fake.failNext.set('CreateDBInstance', [
      new RDSServiceException({
        name: 'InvalidParameterCombination',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'RDS does not support creating a DB instance with the following combination',
      }),
    ]);
    const { addon, operation } = await provision();

    expect(operation).toMatchObject({
      status: 'failed',
      error: { code: 'ProviderError', message: expect.stringContaining('creating the database instance') },
    });
    expect(addon).toMatchObject({ status: 'failed', currentOperationId: null, endpoint: null });
    expect(world().fake.inputsOf('rds', 'CreateDBInstance')).toHaveLength(1);
    expect(world().fake.instances.size).toBe(0);
    expect(addonGroups()).toEqual([]);
    expect(world().fake.secrets.has(secretName(addon.id))).toBe(false);
  });
});

describe('backup-addon for MySQL on AWS', () => {
  it('takes an RDS snapshot of the MySQL instance', async () => {
    const addon = await running();
    const { backup, operation } = await backUp(addon, 'snapshot');

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(backup).toMatchObject({
      status: 'completed',
      type: 'snapshot',
      snapshotId: `${addon.resourceId}-${backup.id}`,
      sizeBytes: 20 * 1024 ** 3,
    });
    expect(world().fake.inputsOf('rds', 'CreateDBSnapshot')).toEqual([
      {
        DBSnapshotIdentifier: backup.snapshotId,
        DBInstanceIdentifier: addon.resourceId,
        Tags: snapshotTags(addon),
      },
    ]);
    expect(world().runTaskCalls).toEqual([]);
  });

  it('runs the dump job on Fargate with a MySQL job spec', async () => {
    const addon = await running();
    world().jobs.behaviour = dumpJob('-- MySQL dump\n');
    const { backup, operation } = await backUp(addon, 'dump');

    expect(operation).toMatchObject({ status: 'completed', error: null });
    // The bucket's key names no engine (the reconciler matches `.dump.`); downloads are named `.sql.zst`.
    const artifact = {
      bucket: world().env.BACKUP_BUCKET,
      key: `dumps/${PROJECT}/${addon.id}/${backup.id}.dump.zst`,
    };
    expect(backup).toMatchObject({ status: 'completed', artifact, sha256: 'a'.repeat(64) });
    expect(world().runTaskCalls).toHaveLength(1);
    expect(world().runTaskCalls[0]).toMatchObject({
      Cluster: world().env.JOB_CLUSTER_ARN,
      TaskDefinition: world().env.JOB_TASK_DEFINITION_ARN,
      LaunchType: 'FARGATE',
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          SecurityGroups: [...world().env.JOB_SECURITY_GROUP_IDS, addon.network?.clientSecurityGroupId],
        },
      },
    });
    expect(jobSpecOf(world().runTaskCalls[0])).toEqual({
      kind: 'dump',
      operationId: operation.id,
      projectId: PROJECT,
      addonId: addon.id,
      backupId: backup.id,
      engine: 'mysql',
      artifact,
      resultKey: `${artifact.key}.result.json`,
      compression: 'zstd',
      estimatedBytes: 20 * 1024 ** 3,
    });
    expect(world().fake.commands('rds')).toEqual([]);
  });
});

describe('restore-addon for MySQL on AWS', () => {
  it('restores a snapshot to a staging MySQL instance on 3306 with the addon’s parameter group, then swaps it in', async () => {
    const addon = await running();
    const { backup } = await backUp(addon, 'snapshot');
    flushCalls();

    const { operation, addon: after } = await restore(addon, backup.id);

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null, endpoint: addon.endpoint });
    const { staging, retired } = restoreIdentifiers(addon.resourceId, operation.id);
    expect(world().fake.inputsOf('rds', 'RestoreDBInstanceFromDBSnapshot')).toMatchObject([
      {
        DBInstanceIdentifier: staging,
        DBSnapshotIdentifier: backup.snapshotId,
        DBParameterGroupName: world().env.TLS_PARAMETER_GROUPS.mysql?.['8.4'],
        Port: 3306,
        DeletionProtection: true,
        Tags: expect.arrayContaining([{ Key: TAG_KEYS.restore, Value: operation.id }]),
      },
    ]);
    expect(
      world()
        .fake.inputsOf('rds', 'ModifyDBInstance')
        .filter((input) => input.NewDBInstanceIdentifier),
    ).toEqual([
      { DBInstanceIdentifier: addon.resourceId, NewDBInstanceIdentifier: retired, ApplyImmediately: true },
      { DBInstanceIdentifier: staging, NewDBInstanceIdentifier: addon.resourceId, ApplyImmediately: true },
    ]);
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: retired, SkipFinalSnapshot: true, DeleteAutomatedBackups: false },
    ]);
    const swapped = world().fake.instances.get(addon.resourceId);
    expect(swapped?.settings).toMatchObject({ Engine: 'mysql', EngineVersion: '8.4' });
    expect(swapped?.tags).toContainEqual({ Key: TAG_KEYS.restore, Value: operation.id });
  });

  it('keeps the old instance when the restored one fails before the swap', async () => {
    const addon = await running();
    const { backup } = await backUp(addon, 'snapshot');
    flushCalls();
    world().fake.restoreScript = { statuses: ['creating', 'incompatible-restore'] };

    const { operation, addon: after } = await restore(addon, backup.id);

    expect(operation).toMatchObject({ status: 'failed', error: { code: 'ProviderError' } });
    expect(after).toMatchObject({ status: 'running', endpoint: addon.endpoint });
    const { staging } = restoreIdentifiers(addon.resourceId, operation.id);
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: staging, SkipFinalSnapshot: true, DeleteAutomatedBackups: false },
    ]);
    const original = world().fake.instances.get(addon.resourceId);
    expect(original?.settings).toMatchObject({ Engine: 'mysql' });
    expect(original?.tags.some((tag) => tag.Key === TAG_KEYS.restore)).toBe(false);
  });

  it('restores a dump with a Fargate restore job for the MySQL engine, checking the recorded SHA-256', async () => {
    const addon = await running();
    world().jobs.behaviour = dumpJob('-- MySQL dump\n');
    const { backup } = await backUp(addon, 'dump');
    world().runTaskCalls.length = 0;
    flushCalls();
    world().jobs.behaviour = async () => ({ StopCode: 'EssentialContainerExited' });

    const { operation, addon: after } = await restore(addon, backup.id);

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    expect(jobSpecOf(world().runTaskCalls[0])).toEqual({
      kind: 'restore',
      operationId: operation.id,
      projectId: PROJECT,
      addonId: addon.id,
      backupId: backup.id,
      engine: 'mysql',
      artifact: backup.artifact,
      compression: 'zstd',
      expectedSha256: 'a'.repeat(64),
    });
    expect(world().fake.commands('rds')).toEqual([]);
  });
});

describe('delete-addon for MySQL on AWS', () => {
  it('deletes the instance (protection off, no final snapshot), its security group and its secret', async () => {
    const addon = await running();

    expect(await deleteAddon(addon.id)).toMatchObject({ status: 'completed', error: null });
    await expectAddonGone(addon);
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, DeletionProtection: false, ApplyImmediately: true },
    ]);
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, SkipFinalSnapshot: true, DeleteAutomatedBackups: false },
    ]);
    expect(world().fake.instances.has(addon.resourceId)).toBe(false);
  });
});

describe('the workflow function role, over MySQL addons', () => {
  it('allows every AWS action the workflow function sent for them, on the resources it sent them to', () => {
    flushCalls();
    const { json } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, world().synthesized.stack.workflows.taskFunction.role);
    const env = callEnvironment();
    expect(recorded.some((call) => call.command === 'RestoreDBInstanceFromDBSnapshot')).toBe(true);
    expect(recorded.some((call) => call.input.Engine === 'mysql')).toBe(true);
    expect(deniedPermissions(roleStatements(json, roleId), recorded, env)).toEqual([]);
  });
});
