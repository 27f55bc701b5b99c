import { DocDBServiceException, InsufficientDBInstanceCapacityFault } from '@aws-sdk/client-docdb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { restoreIdentifiers } from '#shared/providers/aws/rds/rds-restore.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import {
  deniedPermissions,
  FUNCTION_BASELINE_ACTIONS,
  roleStatements,
  unusedActions,
} from '../infra/support/iam.ts';
import { DOCUMENTDB_ACTIONS } from '../infra/support/iam-documentdb.ts';
import { awsWorkflowSuite, jobSpecOf } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';
import { clusterEndpoint, FakeDocdb } from './support/fake-docdb.ts';

/**
 * MongoDB addons on AWS as deployed: provision-addon, backup-addon, restore-addon and delete-addon
 * from the ASL files with the stack's substitutions, the workflow function's AWS composition root
 * with the environment CDK gives it (the DocumentDB cluster parameter groups come from the MongoDB
 * engine construct), DocumentDB, EC2, S3 and Secrets Manager faked, DynamoDB real, `ecs:runTask.sync`
 * served by a stand-in for the Fargate job. The role must allow every DocumentDB call it made.
 */

const PROJECT = 'proj-mongodb-aws';
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
} = awsWorkflowSuite(PROJECT, { namePrefix: 'mg', defaults: { engine: 'mongodb' } });

let docdb: FakeDocdb;
beforeAll(() => {
  docdb = new FakeDocdb(world().fake.calls, world().fake.failNext);
});
afterEach(() => docdb.reset());
afterAll(() => docdb.restore());

const $metadata = { httpStatusCode: 400 };

describe('provision-addon for MongoDB on AWS', () => {
  it('creates a DocumentDB 5.0 cluster (TLS parameter group, KMS, shared subnet group, tags) with one instance, and publishes a mongodb:// URI on the cluster endpoint', async () => {
    const { addon, operation } = await provision({ name: 'catalog' });

    expect(operation).toMatchObject({ status: 'completed', error: null });
    const host = clusterEndpoint(addon.resourceId);
    expect(addon).toMatchObject({
      status: 'running',
      engine: 'mongodb',
      version: '5.0',
      tls: true,
      endpoint: { host, port: 27017 },
      network: { clientSecurityGroupId: expect.any(String) },
    });
    const password = secretOf(addon.id).password as string;
    expect(world().fake.inputsOf('rds', 'CreateDBCluster')).toEqual([
      {
        DBClusterIdentifier: addon.resourceId,
        Engine: 'docdb',
        EngineVersion: '5.0.0',
        MasterUsername: 'addonadmin',
        MasterUserPassword: password,
        Port: 27017,
        DBSubnetGroupName: world().env.DB_SUBNET_GROUP_NAME,
        VpcSecurityGroupIds: [addonGroups()[0]?.id],
        DBClusterParameterGroupName: world().env.TLS_PARAMETER_GROUPS.mongodb?.['5.0'],
        StorageEncrypted: true,
        KmsKeyId: world().env.STORAGE_KMS_KEY_ID,
        BackupRetentionPeriod: 7,
        DeletionProtection: true,
        Tags: [
          { Key: TAG_KEYS.deployment, Value: world().env.DEPLOYMENT_NAME },
          { Key: TAG_KEYS.project, Value: PROJECT },
          { Key: TAG_KEYS.addon, Value: addon.id },
        ],
      },
    ]);
    expect(world().fake.inputsOf('rds', 'CreateDBInstance')).toEqual([
      {
        DBInstanceIdentifier: `${addon.resourceId}-1`,
        DBClusterIdentifier: addon.resourceId,
        DBInstanceClass: 'db.t4g.medium',
        Engine: 'docdb',
        AutoMinorVersionUpgrade: true,
        Tags: expect.arrayContaining([{ Key: TAG_KEYS.deployment, Value: world().env.DEPLOYMENT_NAME }]),
      },
    ]);
    expect(world().fake.inputsOf('ec2', 'AuthorizeSecurityGroupIngress')).toMatchObject([
      { IpPermissions: [{ IpProtocol: 'tcp', FromPort: 27017, ToPort: 27017 }] },
    ]);
    const secret = secretOf(addon.id);
    expect(secret).toMatchObject({
      engine: 'mongodb',
      host,
      port: 27017,
      database: 'catalog',
      username: 'addonadmin',
      password,
      tls: true,
    });
    // What DocumentDB needs: TLS, its replica set, no retryable writes, users in `admin`.
    expect(secret.uri).toBe(
      `mongodb://addonadmin:${password}@${host}:27017/catalog?tls=true&replicaSet=rs0&readPreference=secondaryPreferred&retryWrites=false&authSource=admin`,
    );
  });

  it('creates one instance per node for replicas', async () => {
    const { addon, operation } = await provision({ replicas: 2 });

    expect(operation.status).toBe('completed');
    expect(
      world()
        .fake.inputsOf('rds', 'CreateDBInstance')
        .map((input) => input.DBInstanceIdentifier),
    ).toEqual([1, 2, 3].map((node) => `${addon.resourceId}-${node}`));
  });

  it('refuses tls: false with a 422 naming the field, before anything starts', async () => {
    await expectRefusedBeforeStart(
      { name: 'plain', tls: false },
      { path: 'body.tls', message: expect.stringContaining('TLS cannot be turned off') },
    );
  });

  it('fails the operation when DocumentDB refuses CreateDBCluster, and leaves nothing behind', async () => {
    world().fake.failNext.set('CreateDBCluster', [
      new DocDBServiceException({
        name: 'InvalidParameterCombination',
        $fault: 'client',
        $metadata,
        message: 'The requested DB instance class is not supported',
      }),
    ]);
    const { addon, operation } = await provision();

    expect(operation).toMatchObject({
      status: 'failed',
      error: { code: 'ProviderError', message: expect.stringContaining('creating the DocumentDB cluster') },
    });
    expect(addon).toMatchObject({ status: 'failed', currentOperationId: null, endpoint: null });
    expect(docdb.clusters.size).toBe(0);
    expect(docdb.instances.size).toBe(0);
    expect(addonGroups()).toEqual([]);
    expect(world().fake.secrets.has(secretName(addon.id))).toBe(false);
  });

  it('compensates an instance DocumentDB cannot create: the half-made cluster is deleted (retried until DocumentDB lets it go)', async () => {
    world().fake.failNext.set('CreateDBInstance', [
      new InsufficientDBInstanceCapacityFault({ $metadata, message: 'no capacity for db.t4g.medium' }),
    ]);
    const { addon, operation } = await provision();

    expect(operation).toMatchObject({ status: 'failed', error: { code: 'ProviderError' } });
    expect(addon).toMatchObject({ status: 'failed', endpoint: null });
    // The first compensation found the cluster still creating (DocumentDB refuses to modify it):
    // retried, it turned protection off and deleted the cluster.
    expect(world().fake.inputsOf('rds', 'ModifyDBCluster').length).toBeGreaterThanOrEqual(2);
    expect(world().fake.inputsOf('rds', 'ModifyDBCluster')).toContainEqual({
      DBClusterIdentifier: addon.resourceId,
      DeletionProtection: false,
      ApplyImmediately: true,
    });
    expect(world().fake.inputsOf('rds', 'DeleteDBCluster')).toEqual([
      { DBClusterIdentifier: addon.resourceId, SkipFinalSnapshot: true },
    ]);
    expect(docdb.clusters.get(addon.resourceId)?.deletingDescribes).toBeDefined();
    expect(world().fake.secrets.has(secretName(addon.id))).toBe(false);
  });
});

describe('backup-addon for MongoDB on AWS', () => {
  it('takes a DocumentDB cluster snapshot', async () => {
    const addon = await running();
    const { backup, operation } = await backUp(addon, 'snapshot');

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(backup).toMatchObject({
      status: 'completed',
      type: 'snapshot',
      snapshotId: `${addon.resourceId}-${backup.id}`,
    });
    expect(world().fake.inputsOf('rds', 'CreateDBClusterSnapshot')).toEqual([
      {
        DBClusterSnapshotIdentifier: backup.snapshotId,
        DBClusterIdentifier: addon.resourceId,
        Tags: snapshotTags(addon),
      },
    ]);
    expect(world().runTaskCalls).toEqual([]);
  });

  it('deletes what is left of a cluster snapshot that failed, and fails the backup, the addon running', async () => {
    const addon = await running();
    docdb.snapshotScript = { statuses: ['creating', 'failed'] };
    const { backup, operation, addon: after } = await backUp(addon, 'snapshot');

    expect(operation).toMatchObject({ status: 'failed' });
    expect(backup).toMatchObject({ status: 'failed' });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    expect(world().fake.inputsOf('rds', 'DeleteDBClusterSnapshot')).toEqual([
      { DBClusterSnapshotIdentifier: backup.snapshotId },
    ]);
    expect(docdb.snapshots.size).toBe(0);
  });

  it('runs the dump job on Fargate with a MongoDB job spec, joined to the project client group', async () => {
    const addon = await running();
    world().jobs.behaviour = dumpJob('mongodump archive');
    const { backup, operation } = await backUp(addon, 'dump');

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(world().runTaskCalls[0]).toMatchObject({
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          SecurityGroups: [...world().env.JOB_SECURITY_GROUP_IDS, addon.network?.clientSecurityGroupId],
        },
      },
    });
    expect(jobSpecOf(world().runTaskCalls[0])).toMatchObject({
      kind: 'dump',
      engine: 'mongodb',
      addonId: addon.id,
      backupId: backup.id,
    });
    expect(world().fake.commands('rds')).toEqual([]);
  });
});

describe('restore-addon for MongoDB on AWS', () => {
  it('restores a snapshot to a new cluster, gives it the same instances, swaps it in by renames; the endpoint and secret stay', async () => {
    const addon = await running();
    const { backup } = await backUp(addon, 'snapshot');
    const before = secretOf(addon.id);
    flushCalls();

    const { operation, addon: after } = await restore(addon, backup.id);

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null, endpoint: addon.endpoint });
    const { staging, retired } = restoreIdentifiers(addon.resourceId, operation.id);
    expect(world().fake.inputsOf('rds', 'RestoreDBClusterFromSnapshot')).toMatchObject([
      {
        DBClusterIdentifier: staging,
        SnapshotIdentifier: backup.snapshotId,
        DBClusterParameterGroupName: world().env.TLS_PARAMETER_GROUPS.mongodb?.['5.0'],
        Port: 27017,
        Tags: expect.arrayContaining([{ Key: TAG_KEYS.restore, Value: operation.id }]),
      },
    ]);
    expect(world().fake.inputsOf('rds', 'CreateDBInstance')).toMatchObject([
      { DBClusterIdentifier: staging, DBInstanceClass: 'db.t4g.medium' },
    ]);
    expect(
      world()
        .fake.inputsOf('rds', 'ModifyDBCluster')
        .filter((input) => input.NewDBClusterIdentifier),
    ).toEqual([
      { DBClusterIdentifier: addon.resourceId, NewDBClusterIdentifier: retired, ApplyImmediately: true },
      { DBClusterIdentifier: staging, NewDBClusterIdentifier: addon.resourceId, ApplyImmediately: true },
    ]);
    expect(world().fake.inputsOf('rds', 'DeleteDBCluster')).toEqual([
      { DBClusterIdentifier: retired, SkipFinalSnapshot: true },
    ]);
    const swapped = docdb.clusters.get(addon.resourceId);
    expect(swapped?.tags).toContainEqual({ Key: TAG_KEYS.restore, Value: operation.id });
    expect(swapped?.deletionProtection).toBe(true);
    expect(secretOf(addon.id)).toEqual(before);
  });

  it('keeps the old cluster when the restored one fails before the swap', async () => {
    const addon = await running();
    const { backup } = await backUp(addon, 'snapshot');
    flushCalls();
    docdb.restoreScript = { statuses: ['creating', 'incompatible-restore'] };

    const { operation, addon: after } = await restore(addon, backup.id);

    expect(operation).toMatchObject({ status: 'failed', error: { code: 'ProviderError' } });
    expect(after).toMatchObject({ status: 'running', endpoint: addon.endpoint });
    const { staging } = restoreIdentifiers(addon.resourceId, operation.id);
    expect(world().fake.inputsOf('rds', 'DeleteDBCluster')).toEqual([
      { DBClusterIdentifier: staging, SkipFinalSnapshot: true },
    ]);
    const original = docdb.clusters.get(addon.resourceId);
    expect(original?.deletionProtection).toBe(true);
    expect(original?.tags.some((tag) => tag.Key === TAG_KEYS.restore)).toBe(false);
  });
});

describe('delete-addon for MongoDB on AWS', () => {
  it('deletes the instances, then the cluster (protection off, no final snapshot), its security group and its secret', async () => {
    const addon = await running();

    expect(await deleteAddon(addon.id)).toMatchObject({ status: 'completed', error: null });
    await expectAddonGone(addon);
    expect(world().fake.inputsOf('rds', 'ModifyDBCluster')).toEqual([
      { DBClusterIdentifier: addon.resourceId, DeletionProtection: false, ApplyImmediately: true },
    ]);
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: `${addon.resourceId}-1` },
    ]);
    expect(world().fake.inputsOf('rds', 'DeleteDBCluster')).toEqual([
      { DBClusterIdentifier: addon.resourceId, SkipFinalSnapshot: true },
    ]);
    expect(docdb.clusters.has(addon.resourceId)).toBe(false);
    expect(docdb.instances.size).toBe(0);
  });
});

describe('the workflow function role, over MongoDB addons', () => {
  it('allows every DocumentDB, EC2 and other AWS action the workflow function sent for them, on the resources it sent them to', () => {
    flushCalls();
    const { json } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, world().synthesized.stack.workflows.taskFunction.role);
    const env = callEnvironment();
    for (const command of [
      'CreateDBCluster',
      'CreateDBInstance',
      'RestoreDBClusterFromSnapshot',
      'CreateDBClusterSnapshot',
      'ModifyDBCluster',
      'DeleteDBCluster',
      'DeleteDBInstance',
      'ListTagsForResource',
    ]) {
      expect(
        recorded.some((call) => call.command === command),
        command,
      ).toBe(true);
    }
    expect(deniedPermissions(roleStatements(json, roleId), recorded, env)).toEqual([]);
  });

  it('allows no DocumentDB action the workflow function does not send', () => {
    const { json } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, world().synthesized.stack.workflows.taskFunction.role);
    const unused = unusedActions(roleStatements(json, roleId), recorded, {}, FUNCTION_BASELINE_ACTIONS);
    expect(unused.filter((action) => DOCUMENTDB_ACTIONS.includes(action))).toEqual([]);
  });
});
