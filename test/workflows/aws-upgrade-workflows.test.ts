import { describe, expect, it } from 'vitest';
import { UnsupportedError } from '#shared/errors.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { UpgradeService } from '#shared/services/upgrade-service.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import { deniedPermissions, roleStatements } from '../infra/support/iam.ts';
import { awsWorkflowSuite } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';

/**
 * RDS engine upgrades as deployed: upgrade-addon with the stack's substitutions and the workflow
 * function's AWS composition root, RDS faked. A snapshot first (pinned, the way back), then
 * ModifyDBInstance with the new EngineVersion, AllowMajorVersionUpgrade, ApplyImmediately and the
 * deployment's parameter group of the new family; a refused upgrade leaves the addon on its old
 * version, running, with a readable reason.
 */
const PROJECT = 'proj-upgrade-aws';
const { world, recorded, flushCalls, provision, callEnvironment } = awsWorkflowSuite(PROJECT, {
  namePrefix: 'upg',
});

const upgrades = () =>
  new UpgradeService({
    store: world().store,
    backups: world().backupStore,
    artifacts: new BackupArtifacts({ client: world().fake.s3 as never, bucket: world().env.BACKUP_BUCKET }),
    workflows: world().workflows,
    target: 'aws',
  });

const upgrade = async (addon: AddonRecord, version: string) => {
  const { operation, backup } = await upgrades().upgrade(PROJECT, addon.id, version);
  await world().workflows.idle();
  return {
    operation: await world().store.getOperation(PROJECT, operation.id),
    addon: await world().store.getAddon(PROJECT, addon.id),
    backup: await world().backupStore.getBackup(PROJECT, backup.id),
  };
};

const postgres16 = async () => {
  const { addon } = await provision({ version: '16' });
  expect(addon).toMatchObject({ status: 'running', version: '16' });
  flushCalls();
  return addon;
};

describe('upgrade-addon on AWS (RDS)', () => {
  it('snapshots the instance, then modifies it to the next major with its parameter group', async () => {
    const addon = await postgres16();

    const { operation, addon: after, backup } = await upgrade(addon, '17');

    expect(operation).toMatchObject({
      type: 'upgrade',
      status: 'completed',
      error: null,
      backupId: backup.id,
      upgrade: { fromVersion: '16', toVersion: '17' },
    });
    expect(after).toMatchObject({ status: 'running', version: '17', currentOperationId: null });
    expect(backup).toMatchObject({ type: 'snapshot', status: 'completed', pinned: true, source: 'upgrade' });
    const commands = world()
      .fake.commands('rds')
      .filter((command) => command !== 'DescribeDBInstances' && command !== 'DescribeDBSnapshots');
    expect(commands).toEqual(['CreateDBSnapshot', 'ModifyDBInstance']);
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance')).toEqual([
      {
        DBInstanceIdentifier: addon.resourceId,
        EngineVersion: '17',
        AllowMajorVersionUpgrade: true,
        ApplyImmediately: true,
        DBParameterGroupName: world().env.TLS_PARAMETER_GROUPS.postgresql?.['17'],
      },
    ]);
  });

  it('leaves the addon on its old version, running, when RDS refuses the upgrade; the backup is kept', async () => {
    const addon = await postgres16();
    world().fake.upgradeOutcome = 'refused';

    const { operation, addon: after, backup } = await upgrade(addon, '17');

    expect(operation).toMatchObject({ status: 'failed', error: { code: 'ProviderError' } });
    expect(operation.error?.message).toContain('The upgrade to 17 failed and the addon still runs 16');
    expect(operation.error?.message).toContain(
      'was refused (no RDS event of the instance says why) (6 checks in a row)',
    );
    expect(after).toMatchObject({ status: 'running', version: '16', currentOperationId: null });
    expect(backup).toMatchObject({ status: 'completed', pinned: true });
    // Back to available on 16 with nothing pending: a bounded wait (RDS may not show the change at
    // once), one look at the instance's events per check, then the failure.
    expect(
      world()
        .fake.commands('rds')
        .filter((command) => command === 'DescribeEvents'),
    ).toHaveLength(6);
  });

  it('fails at once with the words of the RDS event that says why the upgrade was refused', async () => {
    const addon = await postgres16();
    world().fake.upgradeOutcome = 'refused';
    const refusal =
      'Database instance is in a state that cannot be upgraded: PreUpgrade checks failed: the instance has unsupported extensions';
    world().fake.rdsEvents.push(
      // An older event of the instance: before the operation began, not about this upgrade.
      {
        SourceIdentifier: addon.resourceId,
        Message: 'Database instance could not be upgraded (old)',
        Date: new Date(0),
      },
      { SourceIdentifier: addon.resourceId, Message: refusal, Date: new Date(Date.now() + 1000) },
    );

    const { operation, addon: after, backup } = await upgrade(addon, '17');

    expect(operation).toMatchObject({ status: 'failed', error: { code: 'ProviderError' } });
    expect(operation.error?.message).toContain('The upgrade to 17 failed and the addon still runs 16');
    expect(operation.error?.message).toContain(`the upgrade to 17 was refused: ${refusal}`);
    expect(operation.error?.message).not.toContain('(old)');
    expect(after).toMatchObject({ status: 'running', version: '16', currentOperationId: null });
    expect(backup).toMatchObject({ status: 'completed', pinned: true });
    expect(world().fake.inputsOf('rds', 'DescribeEvents')).toEqual([
      {
        SourceIdentifier: addon.resourceId,
        SourceType: 'db-instance',
        StartTime: new Date(operation.startedAt ?? ''),
      },
    ]);
  });

  it('refuses a skipped major, a downgrade and the same version with a 422 naming body.version', async () => {
    const addon = await postgres16();
    for (const version of ['14', '16', '18', 'latest']) {
      const refused = await upgrades()
        .upgrade(PROJECT, addon.id, version)
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(UnsupportedError);
      expect((refused as UnsupportedError).issues).toEqual([
        { path: 'body.version', message: 'must be one of 17' },
      ]);
    }
    expect(world().fake.commands('rds')).toEqual([]);
    expect((await world().store.getAddon(PROJECT, addon.id)).currentOperationId).toBeNull();
  });

  it('the workflow function may send every call the upgrades sent', () => {
    flushCalls();
    const { synthesized } = world();
    const statements = roleStatements(
      synthesized.json,
      logicalIdOf(synthesized, synthesized.stack.workflows.taskFunction.role),
    );
    expect(recorded.some((call) => call.command === 'ModifyDBInstance')).toBe(true);
    expect(recorded.some((call) => call.command === 'DescribeEvents')).toBe(true);
    expect(deniedPermissions(statements, recorded, callEnvironment())).toEqual([]);
  });
});
