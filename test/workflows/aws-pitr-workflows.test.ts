import { InvalidRestoreFault, RDSClient } from '@aws-sdk/client-rds';
import { beforeEach, describe, expect, it } from 'vitest';
import { EngineRegistry } from '#shared/engines/registry.ts';
import { pointInTimeKey } from '#shared/ports/engine-provider.ts';
import { RdsRestorableWindows } from '#shared/providers/aws/rds/rds-pitr.ts';
import { restoreIdentifiers } from '#shared/providers/aws/rds/rds-restore.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { newOperation } from '#shared/services/operation-lock.ts';
import { PitrService } from '#shared/services/pitr-service.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import {
  type AwsCall,
  type CallEnvironment,
  deniedPermissions,
  FUNCTION_BASELINE_ACTIONS,
  roleStatements,
  unusedActions,
} from '../infra/support/iam.ts';
import { PITR_WINDOW_ACTIONS, PITR_WORKFLOW_ACTIONS } from '../infra/support/iam-pitr.ts';
import { awsWorkflowSuite } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';
import { FakeRdsPitr } from './support/fake-rds-pitr.ts';

/**
 * Point-in-time recovery of RDS addons as deployed: restore-addon's point-in-time path with the
 * stack's substitutions and the workflow function's AWS composition root, RDS faked. The restore
 * is RestoreDBInstanceToPointInTime into the swap's staging instance, then the same swap as a
 * snapshot restore; a failure discards the staging instance and the addon keeps its data.
 */

const PROJECT = 'proj-pitr-aws';
const { world, recorded, flushCalls, running, provision, secretName } = awsWorkflowSuite(PROJECT, {
  namePrefix: 'pitr',
});
const TIME = '2026-11-29T08:15:30Z';
let pitr: FakeRdsPitr;

beforeEach(() => {
  // After the suite's reset of the fakes (afterEach), RDS's point-in-time calls are added again.
  pitr = new FakeRdsPitr(world().fake);
  pitr.install();
});

/** The API's restore, with a window wide enough for TIME (the window's own checks: api-pitr.test.ts). */
const restoreTo = async (addon: AddonRecord, time = TIME) => {
  const service = new PitrService({
    store: world().store,
    workflows: world().workflows,
    windows: EngineRegistry.everyEngine('restorable windows', () => ({
      describeRestorableWindow: async () => ({
        earliestRestorableTime: '2026-11-22T00:00:00Z',
        latestRestorableTime: '2026-11-30T00:00:00Z',
      }),
    })),
    target: 'aws',
  });
  const { operation } = await service.restore(PROJECT, addon.id, time);
  await world().workflows.idle();
  return {
    operation: await world().store.getOperation(PROJECT, operation.id),
    addon: await world().store.getAddon(PROJECT, addon.id),
  };
};

describe('restore-addon to a point in time on AWS', () => {
  it('restores the addon’s instance at that second to a staging instance, swaps it in and deletes the old one', async () => {
    const addon = await running();

    const { operation, addon: after } = await restoreTo(addon);

    expect(operation).toMatchObject({ status: 'completed', error: null, pointInTime: TIME, backupId: null });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null, endpoint: addon.endpoint });
    const { staging, retired } = restoreIdentifiers(addon.resourceId, operation.id);
    expect(world().fake.inputsOf('rds', 'RestoreDBInstanceToPointInTime')).toEqual([
      {
        SourceDBInstanceIdentifier: addon.resourceId,
        TargetDBInstanceIdentifier: staging,
        RestoreTime: new Date(TIME),
        DBInstanceClass: 'db.t4g.micro',
        AllocatedStorage: 20,
        StorageType: 'gp3',
        DBSubnetGroupName: world().env.RDS_SUBNET_GROUP_NAME,
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
    // The snapshot restore's swap: retire the addon's instance, rename the staging one, delete the old.
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, NewDBInstanceIdentifier: retired, ApplyImmediately: true },
      { DBInstanceIdentifier: staging, NewDBInstanceIdentifier: addon.resourceId, ApplyImmediately: true },
      { DBInstanceIdentifier: retired, DeletionProtection: false, ApplyImmediately: true },
      // The copy's logins (restored-logins.ts): the master user gets the published password.
      {
        DBInstanceIdentifier: addon.resourceId,
        MasterUserPassword: JSON.parse(String(world().fake.secrets.get(secretName(addon.id)))).password,
        ApplyImmediately: true,
      },
    ]);
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      // Automated backups kept: the retired instance's window stays restorable for its retention.
      { DBInstanceIdentifier: retired, SkipFinalSnapshot: true, DeleteAutomatedBackups: false },
    ]);
    expect(world().fake.instances.get(addon.resourceId)?.tags).toContainEqual({
      Key: TAG_KEYS.restore,
      Value: operation.id,
    });
    expect(world().fake.commands('rds')).not.toContain('RestoreDBInstanceFromDBSnapshot');
  });

  it('keeps the plan’s retention for MySQL: automated backups of pitrRetentionDays, restored and swapped the same way', async () => {
    // The medium plan keeps 14 days of point-in-time history.
    const { addon } = await provision({ engine: 'mysql', plan: 'medium' });
    expect(addon.status).toBe('running');
    expect(world().fake.inputsOf('rds', 'CreateDBInstance')).toEqual([
      expect.objectContaining({
        Engine: 'mysql',
        DBInstanceClass: 'db.t4g.medium',
        BackupRetentionPeriod: 14,
      }),
    ]);
    flushCalls();

    const { operation, addon: after } = await restoreTo(addon);

    expect(operation).toMatchObject({ status: 'completed', error: null, pointInTime: TIME });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    const { staging } = restoreIdentifiers(addon.resourceId, operation.id);
    expect(world().fake.inputsOf('rds', 'RestoreDBInstanceToPointInTime')).toEqual([
      expect.objectContaining({
        SourceDBInstanceIdentifier: addon.resourceId,
        TargetDBInstanceIdentifier: staging,
        RestoreTime: new Date(TIME),
        Port: 3306,
        BackupRetentionPeriod: 14,
        DBParameterGroupName: world().env.TLS_PARAMETER_GROUPS.mysql?.['8.4'],
      }),
    ]);
    expect(world().fake.instances.get(addon.resourceId)?.tags).toContainEqual({
      Key: TAG_KEYS.restore,
      Value: operation.id,
    });
  });

  it('deletes the staging instance and keeps the addon’s own when the restored instance fails', async () => {
    const addon = await running();
    world().fake.restoreScript = { statuses: ['creating', 'incompatible-restore'] };

    const { operation, addon: after } = await restoreTo(addon);

    const { staging } = restoreIdentifiers(addon.resourceId, operation.id);
    expect(operation).toMatchObject({
      status: 'failed',
      pointInTime: TIME,
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
    ).toEqual(['RestoreDBInstanceToPointInTime', 'ModifyDBInstance', 'DeleteDBInstance']);
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: staging, SkipFinalSnapshot: true, DeleteAutomatedBackups: false },
    ]);
    // RDS is deleting it (the fake reports `deleting` for a few describes, then forgets it).
    expect(world().fake.instances.get(staging)?.deletingDescribes).toBeDefined();
    const original = world().fake.instances.get(addon.resourceId);
    expect(original?.deletionProtection).toBe(true);
    expect(original?.tags.some((tag) => tag.Key === TAG_KEYS.restore)).toBe(false);
  });

  it('fails the operation with RDS’s reason when RDS refuses the time, and leaves nothing behind', async () => {
    const addon = await running();
    world().fake.failNext.set('RestoreDBInstanceToPointInTime', [
      new InvalidRestoreFault({
        $metadata: { httpStatusCode: 400 },
        message: 'The requested restore time is after the latest restorable time',
      }),
    ]);

    const { operation, addon: after } = await restoreTo(addon);

    expect(operation).toMatchObject({
      status: 'failed',
      error: {
        code: 'ProviderError',
        message:
          'RDS refused the restore: The requested restore time is after the latest restorable time; the addon keeps its data as it was',
      },
    });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    const { staging } = restoreIdentifiers(addon.resourceId, operation.id);
    expect(world().fake.instances.has(staging)).toBe(false);
    expect(world().fake.commands('rds')).not.toContain('ModifyDBInstance');
  });

  it('restores from a deleted instance’s retained automated backups by DbiResourceId (a source that is gone)', async () => {
    const addon = await running();
    const gone = 'addon-gone0source';
    pitr.retained.set(gone, {
      dbiResourceId: 'db-GONE0EXAMPLE',
      earliest: new Date('2026-11-22T00:00:00Z'),
      latest: new Date('2026-11-29T12:00:00Z'),
      engine: 'postgres',
      engineVersion: '17',
      masterUsername: 'ledger',
    });
    // The restore workflow as a fork into an existing instance starts it: the source is another instance.
    const operation = { ...newOperation('restore', PROJECT, addon.id), pointInTime: TIME };
    await world().store.beginOperation(addon, operation, 'restoring');
    await world().workflows.start({
      workflow: 'restore-addon',
      input: {
        projectId: PROJECT,
        addonId: addon.id,
        operationId: operation.id,
        backupId: pointInTimeKey(gone, TIME),
      },
    });
    await world().workflows.idle();

    expect(await world().store.getOperation(PROJECT, operation.id)).toMatchObject({ status: 'completed' });
    const [input] = world().fake.inputsOf('rds', 'RestoreDBInstanceToPointInTime');
    expect(input).toMatchObject({
      SourceDbiResourceId: 'db-GONE0EXAMPLE',
      TargetDBInstanceIdentifier: restoreIdentifiers(addon.resourceId, operation.id).staging,
      RestoreTime: new Date(TIME),
    });
    expect(input).not.toHaveProperty('SourceDBInstanceIdentifier');
    expect(world().fake.inputsOf('rds', 'DescribeDBInstanceAutomatedBackups')).toEqual([
      { Filters: [{ Name: 'status', Values: ['retained'] }] },
    ]);
  });
});

describe('the roles, over point-in-time restores and window reads', () => {
  const env = (): CallEnvironment => ({
    tableKeyArn: world().env.SECRETS_KMS_KEY_ID,
    secretsKeyArn: world().env.SECRETS_KMS_KEY_ID,
    bucketKeyArn: world().env.STORAGE_KMS_KEY_ID,
    storageKeyArn: world().env.STORAGE_KMS_KEY_ID,
  });
  const statementsOf = (role: { node: { defaultChild?: unknown } }) =>
    roleStatements(world().synthesized.json, logicalIdOf(world().synthesized, role));

  it('the workflow function may send every point-in-time call it sent, and each point-in-time action was sent', () => {
    flushCalls();
    const statements = statementsOf(world().synthesized.stack.workflows.taskFunction.role);
    expect(deniedPermissions(statements, recorded, env())).toEqual([]);
    const unused = unusedActions(statements, recorded, env(), FUNCTION_BASELINE_ACTIONS);
    expect(unused.filter((action) => PITR_WORKFLOW_ACTIONS.includes(action))).toEqual([]);
  });

  it('the addons and backups functions may read the window of a live addon and of a deleted one', async () => {
    const addon = await running();
    pitr.retained.set('addon-gone1source', {
      dbiResourceId: 'db-GONE1EXAMPLE',
      earliest: new Date('2026-11-22T00:00:00Z'),
      latest: new Date('2026-11-29T12:00:00Z'),
      engine: 'postgres',
      engineVersion: '17',
      masterUsername: 'ledger',
    });
    const windows = new RdsRestorableWindows(new RDSClient({}));
    await windows.describeRestorableWindow(addon.resourceId);
    expect(await windows.describeRestorableWindow('addon-gone1source')).toEqual({
      earliestRestorableTime: '2026-11-22T00:00:00.000Z',
      latestRestorableTime: '2026-11-29T12:00:00.000Z',
    });
    const sent: AwsCall[] = world().fake.calls.filter((call) => call.service === 'rds');
    expect(new Set(sent.map((call) => `rds:${call.command}`))).toEqual(new Set(PITR_WINDOW_ACTIONS));
    const { api } = world().synthesized.stack;
    for (const fn of [api.functions.addons, api.functions.backups]) {
      if (!fn) throw new Error('no such API function');
      expect(deniedPermissions(statementsOf(fn.role), sent, env())).toEqual([]);
    }
  });
});
