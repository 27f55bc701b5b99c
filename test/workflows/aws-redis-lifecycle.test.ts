import { ElastiCacheServiceException } from '@aws-sdk/client-elasticache';
import { S3Client } from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from 'vitest';
import { UnsupportedError } from '#shared/errors.ts';
import { baseIdOf, restoredGroupIdOf, userGroupIdOf } from '#shared/providers/aws/redis/names.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { type ImportObjects, ImportUploads } from '#shared/providers/import-uploads.ts';
import { ImportService } from '#shared/services/import-service.ts';
import { UpgradeService } from '#shared/services/upgrade-service.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import {
  type CallEnvironment,
  deniedPermissions,
  FUNCTION_BASELINE_ACTIONS,
  roleStatements,
  unusedActions,
} from '../infra/support/iam.ts';
import { snapshotDeleters } from '../support/backups.ts';
import { createRequest } from '../support/fixtures.ts';
import { awsWorkflowSuite } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';
import { FakeElastiCache, REDIS_ENGINE_ACTIONS } from './support/fake-elasticache.ts';

/**
 * Redis addons on AWS as deployed: provision-addon, backup-addon (snapshot), restore-addon and
 * delete-addon from the ASL files with the stack's substitutions, the workflow function's AWS
 * composition root with the environment CDK gives it (the cache subnet group comes from the Redis
 * engine construct), ElastiCache, EC2, S3 and Secrets Manager faked, DynamoDB real. The role
 * must allow everything the function sent.
 */

const PROJECT = 'proj-redis-aws';
const { world, recorded, flushCalls, provision, running, backUp, restore, deleteAddon, secretName } =
  awsWorkflowSuite(PROJECT, { namePrefix: 'rd', defaults: { engine: 'redis' } });

let cache: FakeElastiCache | undefined;
const elasticache = () => {
  cache ??= new FakeElastiCache(world().fake);
  return cache;
};
// After the suite's reset of the shared fakes (which drops the S3 behaviours this fake adds).
beforeEach(() => elasticache().reset());

const secretOf = (addonId: string) => JSON.parse(String(world().fake.secrets.get(secretName(addonId))));
const hostOf = (groupId: string) => `master.${groupId}.abc123.euw1.cache.amazonaws.com`;

describe('provision-addon for Redis on AWS', () => {
  it('creates an encrypted, TLS-only ElastiCache replication group with an RBAC user, and publishes a rediss:// URI naming database 0', async () => {
    const { addon, operation } = await provision({ name: 'sessions' });

    expect(operation).toMatchObject({ status: 'completed', error: null });
    const group = baseIdOf(addon.resourceId);
    expect(addon).toMatchObject({
      status: 'running',
      engine: 'redis',
      version: '7.1',
      tls: true,
      endpoint: { host: hostOf(group), port: 6379 },
      network: { clientSecurityGroupId: expect.stringMatching(/^sg-/) },
    });
    const secret = secretOf(addon.id);
    const username = `app-${addon.id.replace(/^adn-/, '')}`.toLowerCase();
    expect(secret).toEqual({
      engine: 'redis',
      host: hostOf(group),
      port: 6379,
      database: '0',
      username,
      password: expect.any(String),
      uri: `rediss://${username}:${secret.password}@${hostOf(group)}:6379/0`,
      tls: true,
    });
    expect(world().fake.inputsOf('elasticache', 'CreateReplicationGroup')).toMatchObject([
      {
        ReplicationGroupId: group,
        Engine: 'redis',
        EngineVersion: '7.1',
        CacheNodeType: 'cache.t4g.micro',
        NumCacheClusters: 1,
        AtRestEncryptionEnabled: true,
        KmsKeyId: world().env.STORAGE_KMS_KEY_ID,
        TransitEncryptionEnabled: true,
        CacheSubnetGroupName: world().env.CACHE_SUBNET_GROUP_NAME,
        UserGroupIds: [userGroupIdOf(addon.resourceId)],
        Tags: [
          { Key: TAG_KEYS.deployment, Value: world().env.DEPLOYMENT_NAME },
          { Key: TAG_KEYS.project, Value: PROJECT },
          { Key: TAG_KEYS.addon, Value: addon.id },
        ],
      },
    ]);
    expect(world().fake.inputsOf('elasticache', 'CreateUser')[0]).toMatchObject({
      UserName: username,
      AuthenticationMode: { Type: 'password', Passwords: [secret.password] },
    });
    // The addon's security group admits 6379 from the project's client group only.
    expect(world().fake.inputsOf('ec2', 'AuthorizeSecurityGroupIngress')).toMatchObject([
      { IpPermissions: [{ IpProtocol: 'tcp', FromPort: 6379, ToPort: 6379 }] },
    ]);
  });

  it('refuses tls: false with a 422 naming the field, before anything starts', async () => {
    const refused = await world()
      .service.create(PROJECT, createRequest({ name: 'plain', engine: 'redis', tls: false }))
      .catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(UnsupportedError);
    expect((refused as UnsupportedError).issues).toContainEqual({
      path: 'body.tls',
      message: expect.stringContaining('always use TLS'),
    });
    await world().workflows.idle();
    expect(world().fake.calls).toEqual([]);
  });

  it('fails the operation when ElastiCache refuses CreateReplicationGroup, and leaves nothing behind', async () => {
    world().fake.failNext.set('CreateReplicationGroup', [
      new ElastiCacheServiceException({
        name: 'InvalidParameterCombination',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'Cache node type not supported in this Region',
      }),
    ]);
    const { addon, operation } = await provision();

    expect(operation).toMatchObject({
      status: 'failed',
      error: { message: expect.stringContaining('creating the Redis replication group') },
    });
    expect(addon.status).toBe('failed');
    expect(elasticache().leftovers()).toEqual([]);
    expect([...world().fake.groups.values()].some((group) => group.name === addon.resourceId)).toBe(false);
    expect(world().fake.secrets.has(secretName(addon.id))).toBe(false);
  });
});

describe('snapshot backup and restore of Redis on AWS', () => {
  it('restores into a new replication group, rewrites the connection details, says so, and deletes the old group after the switch', async () => {
    const addon = await running();
    const before = secretOf(addon.id);
    const { backup, operation: backupOperation } = await backUp(addon, 'snapshot');
    expect(backupOperation.status).toBe('completed');
    expect(backup).toMatchObject({ status: 'completed', type: 'snapshot' });
    expect(world().fake.inputsOf('elasticache', 'CreateSnapshot')).toMatchObject([
      { SnapshotName: backup.snapshotId, ReplicationGroupId: baseIdOf(addon.resourceId) },
    ]);
    flushCalls();

    const { operation, addon: after } = await restore(addon, backup.id);

    expect(operation).toMatchObject({
      status: 'completed',
      error: null,
      message: expect.stringContaining('connection details changed'),
    });
    const target = restoredGroupIdOf(addon.resourceId, operation.id);
    expect(world().fake.inputsOf('elasticache', 'CreateReplicationGroup')).toMatchObject([
      {
        ReplicationGroupId: target,
        SnapshotName: backup.snapshotId,
        UserGroupIds: [userGroupIdOf(addon.resourceId)],
      },
    ]);
    expect(after.endpoint).toEqual({ host: hostOf(target), port: 6379 });
    expect(secretOf(addon.id)).toEqual({
      ...before,
      host: hostOf(target),
      uri: `rediss://${before.username}:${before.password}@${hostOf(target)}:6379/0`,
    });
    // The old group goes only once the addon was switched (the pointer tag on the user group).
    const calls = world().fake.calls.filter((call) => call.service === 'elasticache');
    const switched = calls.findIndex((call) => call.command === 'AddTagsToResource');
    const deleted = calls.findIndex((call) => call.command === 'DeleteReplicationGroup');
    expect(switched).toBeGreaterThanOrEqual(0);
    expect(deleted).toBeGreaterThan(switched);
    expect(calls[deleted]?.input).toEqual({
      ReplicationGroupId: baseIdOf(addon.resourceId),
      RetainPrimaryCluster: false,
    });

    // The addon lives on in the new group: deleting it deletes that and everything else.
    const deletion = await deleteAddon(addon.id);
    expect(deletion).toMatchObject({ status: 'completed', error: null });
    expect(elasticache().leftovers()).toEqual([]);
    expect(world().fake.secrets.has(secretName(addon.id))).toBe(false);
  });

  it('a restore whose new group fails leaves the addon, its endpoint and its connection details as they were', async () => {
    const addon = await running();
    const before = secretOf(addon.id);
    const { backup } = await backUp(addon, 'snapshot');
    elasticache().script = { statuses: ['creating', 'create-failed'] };

    const { operation, addon: after } = await restore(addon, backup.id);

    expect(operation).toMatchObject({
      status: 'failed',
      error: { message: expect.stringContaining('keeps its data') },
    });
    expect(operation.message).toBeUndefined();
    expect(after.endpoint).toEqual(addon.endpoint);
    expect(secretOf(addon.id)).toEqual(before);
    expect(elasticache().groups.get(baseIdOf(addon.resourceId))?.deletingDescribes).toBeUndefined();
    expect(
      elasticache().groups.get(restoredGroupIdOf(addon.resourceId, operation.id))?.deletingDescribes,
    ).toBeDefined();
  });
});

/**
 * The API side of imports as the backups function composes it, but for the upload: the test puts
 * the file into the fake S3 itself, and the service's own look at it (size, header) reads that
 * directly, so the recorded calls stay the workflow function's.
 */
const importService = () => {
  const objectOf = (object: { bucket: string; key: string }) => `${object.bucket}/${object.key}`;
  const real = new ImportUploads({
    client: new S3Client({ region: 'eu-west-1' }),
    bucket: world().env.BACKUP_BUCKET,
  });
  const uploads: ImportObjects = {
    objectFor: (ref) => real.objectFor(ref),
    uploadUrl: async () => ({
      url: 'https://upload.invalid/',
      headers: {},
      expiresAt: '2099-01-01T00:00:00Z',
    }),
    size: async (object) => {
      const body = world().fake.objects.get(objectOf(object));
      return body === undefined ? undefined : Buffer.byteLength(body, 'latin1');
    },
    head: async (object, bytes = 512) =>
      Buffer.from(world().fake.objects.get(objectOf(object)) ?? '', 'latin1').subarray(0, bytes),
    delete: async (object) => {
      world().fake.objects.delete(objectOf(object));
    },
  };
  return new ImportService({
    store: world().store,
    imports: world().importStore,
    uploads,
    workflows: world().workflows,
    snapshotDeleters: snapshotDeleters({
      deleteSnapshot: () => Promise.reject(new Error('not in these tests')),
    }),
    target: 'aws',
  });
};

/** Create an import, upload `rdb` (into the fake S3), start it and wait for its restore. */
const importRdb = async (
  addon: { id: string },
  rdb: string,
  whileRunning: (imports: ImportService, importId: string) => Promise<void> = async () => {},
) => {
  const imports = importService();
  const { import: created } = await imports.create(PROJECT, addon.id, {
    kind: 'upload',
    sizeBytes: Buffer.byteLength(rdb, 'latin1'),
  });
  const record = await world().importStore.getImport(PROJECT, created.id);
  world().fake.objects.set(`${record.object.bucket}/${record.object.key}`, rdb);
  const { operation } = await imports.start(PROJECT, addon.id, created.id, {});
  await whileRunning(imports, created.id);
  await world().workflows.idle();
  return {
    record,
    operation: await world().store.getOperation(PROJECT, operation.id),
    addon: await world().store.getAddon(PROJECT, addon.id),
    after: await world().importStore.getImport(PROJECT, created.id),
  };
};

describe('an RDB import into Redis on AWS', () => {
  const exportObjects = () =>
    [...world().fake.objects.keys()].filter((key) => key.startsWith(`${world().env.REDIS_EXPORT_BUCKET}/`));

  it('seeds a new replication group with a copy of the upload, moves the addon onto it, and cleans up', async () => {
    const addon = await running();
    const before = secretOf(addon.id);

    const { record, operation, addon: after, after: imported } = await importRdb(addon, 'REDIS0010 imported');

    expect(operation).toMatchObject({
      status: 'completed',
      error: null,
      message: expect.stringContaining('connection details changed'),
    });
    expect(imported.status).toBe('completed');
    const target = restoredGroupIdOf(addon.resourceId, operation.id);
    const copied = `imports/${addon.resourceId}-${record.id}.rdb`;
    expect(world().fake.inputsOf('s3', 'CopyObject')).toMatchObject([
      {
        Bucket: world().env.REDIS_EXPORT_BUCKET,
        Key: copied,
        CopySource: `${record.object.bucket}/${record.object.key}`,
      },
    ]);
    expect(world().fake.inputsOf('elasticache', 'CreateReplicationGroup')).toMatchObject([
      {
        ReplicationGroupId: target,
        SnapshotArns: [`arn:aws:s3:::${world().env.REDIS_EXPORT_BUCKET}/${copied}`],
        // The version the addon runs (its primary's), not ElastiCache's default.
        EngineVersion: '7.1.0',
        UserGroupIds: [userGroupIdOf(addon.resourceId)],
      },
    ]);
    expect(world().fake.inputsOf('elasticache', 'CreateReplicationGroup')[0]).not.toHaveProperty(
      'SnapshotName',
    );
    expect(after.endpoint).toEqual({ host: hostOf(target), port: 6379 });
    expect(secretOf(addon.id)).toEqual({
      ...before,
      host: hostOf(target),
      uri: `rediss://${before.username}:${before.password}@${hostOf(target)}:6379/0`,
    });
    expect(world().fake.inputsOf('elasticache', 'DeleteReplicationGroup')).toEqual([
      { ReplicationGroupId: baseIdOf(addon.resourceId), RetainPrimaryCluster: false },
    ]);
    // Neither the copy nor the upload is left.
    expect(exportObjects()).toEqual([]);
    expect(world().fake.objects.has(`${record.object.bucket}/${record.object.key}`)).toBe(false);
  });

  it('an RDB ElastiCache cannot load (restore-failed) fails the import and leaves the addon as it was', async () => {
    const addon = await running();
    const before = secretOf(addon.id);
    elasticache().script = { statuses: ['creating', 'restore-failed'] };

    const { record, operation, addon: after, after: imported } = await importRdb(addon, 'REDIS0012 too new');

    expect(operation).toMatchObject({
      status: 'failed',
      error: { message: expect.stringContaining('restore-failed') },
    });
    expect(imported.status).toBe('failed');
    expect(after.endpoint).toEqual(addon.endpoint);
    expect(secretOf(addon.id)).toEqual(before);
    const target = restoredGroupIdOf(addon.resourceId, operation.id);
    expect(elasticache().groups.get(target)?.deletingDescribes).toBeDefined();
    expect(elasticache().groups.get(baseIdOf(addon.resourceId))?.deletingDescribes).toBeUndefined();
    // The copy goes; the upload stays for a retry.
    expect(exportObjects()).toEqual([]);
    expect(world().fake.objects.has(`${record.object.bucket}/${record.object.key}`)).toBe(true);
  });
});

describe('aborting an RDB import into Redis on AWS', () => {
  it('is refused with a 422 naming the import (ElastiCache is seeding a new group), and the import completes', async () => {
    const addon = await running();
    let refused: unknown;
    const { operation, after } = await importRdb(addon, 'REDIS0010 imported', async (imports, importId) => {
      refused = await imports.abort(PROJECT, addon.id, importId).catch((error: unknown) => error);
    });

    expect(refused).toBeInstanceOf(UnsupportedError);
    expect((refused as UnsupportedError).issues).toContainEqual({
      path: 'importId',
      message: expect.stringContaining('cannot be aborted'),
    });
    expect(operation.status).toBe('completed');
    expect(after.status).toBe('completed');
  });
});

describe('a failed snapshot backup of Redis on AWS', () => {
  it('deletes what ElastiCache left of the snapshot, fails the backup and leaves the addon running', async () => {
    const addon = await running();
    elasticache().snapshotScript = { statuses: ['creating', 'failed'] };

    const { backup, operation, addon: after } = await backUp(addon, 'snapshot');

    expect(operation).toMatchObject({
      status: 'failed',
      error: { message: expect.stringContaining('failed') },
    });
    expect(backup.status).toBe('failed');
    expect(after.status).toBe('running');
    expect(world().fake.inputsOf('elasticache', 'DeleteSnapshot')).toEqual([
      { SnapshotName: backup.snapshotId },
    ]);
    expect(elasticache().snapshots.size).toBe(0);
  });
});

describe('delete-addon for Redis on AWS', () => {
  it('deletes the replication group, the user group and users, the security group and the secret', async () => {
    const addon = await running();
    const operation = await deleteAddon(addon.id);

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(await world().store.findAddon(PROJECT, addon.id)).toBeUndefined();
    expect(world().fake.inputsOf('elasticache', 'DeleteReplicationGroup')).toEqual([
      { ReplicationGroupId: baseIdOf(addon.resourceId), RetainPrimaryCluster: false },
    ]);
    expect(elasticache().leftovers()).toEqual([]);
    expect([...world().fake.groups.values()].some((group) => group.name === addon.resourceId)).toBe(false);
    expect(world().fake.secrets.has(secretName(addon.id))).toBe(false);
  });
});

describe('upgrade-addon for Redis on AWS', () => {
  const upgrade = async (addon: AddonRecord, version: string) => {
    const { operation, backup } = await new UpgradeService({
      store: world().store,
      backups: world().backupStore,
      artifacts: new BackupArtifacts({ client: world().fake.s3 as never, bucket: world().env.BACKUP_BUCKET }),
      workflows: world().workflows,
      target: 'aws',
    }).upgrade(PROJECT, addon.id, version);
    await world().workflows.idle();
    return {
      operation: await world().store.getOperation(PROJECT, operation.id),
      addon: await world().store.getAddon(PROJECT, addon.id),
      backup: await world().backupStore.getBackup(PROJECT, backup.id),
    };
  };

  it('7.0 to 7.1: a kept snapshot first, then ModifyReplicationGroup EngineVersion, waited out until the nodes run 7.1', async () => {
    const { addon } = await provision({ version: '7.0' });
    expect(addon.status).toBe('running');
    const group = baseIdOf(addon.resourceId);
    flushCalls();

    const { operation, addon: after, backup } = await upgrade(addon, '7.1');

    expect(operation).toMatchObject({ type: 'upgrade', status: 'completed', error: null });
    expect(after).toMatchObject({ version: '7.1', status: 'running', currentOperationId: null });
    expect(backup).toMatchObject({ type: 'snapshot', status: 'completed', pinned: true, source: 'upgrade' });
    const commands = world().fake.commands('elasticache');
    expect(commands.indexOf('CreateSnapshot')).toBeLessThan(commands.indexOf('ModifyReplicationGroup'));
    expect(world().fake.inputsOf('elasticache', 'ModifyReplicationGroup')).toEqual([
      { ReplicationGroupId: group, EngineVersion: '7.1', ApplyImmediately: true },
    ]);
    // Described through `modifying` until `available`, then the node's version read.
    expect(commands.slice(commands.indexOf('ModifyReplicationGroup'))).toEqual(
      expect.arrayContaining(['DescribeReplicationGroups', 'DescribeCacheClusters']),
    );
    expect(elasticache().groups.get(group)?.input.EngineVersion).toBe('7.1');
  });

  it('7.1 has no upgrade target: a 422 naming the version', async () => {
    const { addon } = await provision({ version: '7.1' });
    await expect(upgrade(addon, '7.0')).rejects.toMatchObject({
      name: 'UnsupportedError',
      issues: [{ path: 'body.version', message: 'this version has no upgrade target' }],
    });
  });
});

describe('the workflow function role, over Redis addons', () => {
  it('allows every AWS action the workflow function sent for them, on the resources it sent them to', () => {
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
      recorded.some((call) => call.command === 'CreateReplicationGroup' && call.input.SnapshotName),
    ).toBe(true);
    expect(
      recorded.some((call) => call.command === 'CreateReplicationGroup' && call.input.SnapshotArns),
    ).toBe(true);
    expect(deniedPermissions(roleStatements(json, roleId), recorded, env)).toEqual([]);
    // Least privilege: the Redis statements grant nothing these workflows do not send.
    const unused = unusedActions(roleStatements(json, roleId), recorded, env, FUNCTION_BASELINE_ACTIONS);
    expect(unused.filter((action) => REDIS_ENGINE_ACTIONS.includes(action))).toEqual([]);
  });
});
