import { type DBInstance, DescribeEventsCommand, ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import { ProviderError } from '../../../errors.ts';
import type { UpgradeSpec, UpgradeState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import { eventsSaying } from '../upgrade-events.ts';
import { instanceStateOf, type RdsInstances, type RdsSend } from './rds-instances.ts';

/** Whether RDS's full engine version ("16.4", "8.4.3") is of the catalog version ("16", "8.4"). */
export const runsVersion = (instance: DBInstance, version: string): boolean => {
  const actual = instance.EngineVersion ?? '';
  return actual === version || actual.startsWith(`${version}.`);
};

/**
 * Engine upgrades of an RDS instance in place: ModifyDBInstance with the new EngineVersion (a
 * major alone: RDS picks its default minor), AllowMajorVersionUpgrade, ApplyImmediately, and the
 * deployment's parameter group of the new family with the addon's TLS setting (CDK creates one
 * per major and TLS setting, as for creates: `parameterGroup`). RDS checks the upgrade first
 * (its pre-upgrade checks) and leaves the instance on its old version, available, when a check
 * fails: `describe` reads the instance's events since the operation began and fails the upgrade
 * with the event's words; without such an event it reports `unchanged`, and the workflow fails the
 * upgrade after a few checks in a row (RDS may not show the change at once). A change RDS keeps
 * pending on an available instance is waited on within the workflow's bound, then named.
 */
export class RdsUpgrades {
  constructor(
    private readonly rds: RdsSend,
    private readonly instances: RdsInstances,
    private readonly parameterGroup: (version: string, tls: boolean) => string,
  ) {}

  async start(resourceId: string, upgrade: UpgradeSpec): Promise<void> {
    const instance = await this.instances.find(resourceId);
    if (!instance) throw new ProviderError(`The database instance ${resourceId} does not exist`, 'NotFound');
    // A retried task: the first attempt got through.
    if (runsVersion(instance, upgrade.version) || instance.PendingModifiedValues?.EngineVersion) return;
    try {
      await this.rds(
        new ModifyDBInstanceCommand({
          DBInstanceIdentifier: resourceId,
          EngineVersion: upgrade.version,
          AllowMajorVersionUpgrade: true,
          ApplyImmediately: true,
          DBParameterGroupName: this.parameterGroup(upgrade.version, upgrade.tls),
        }),
      );
    } catch (error) {
      // Upgrading already (a retry whose first attempt was applied): describe follows it.
      if (isAwsError(error, 'InvalidDBInstanceState') && instance.DBInstanceStatus === 'upgrading') return;
      throw toPlatformError(error, `upgrading the database instance to ${upgrade.version}`);
    }
  }

  async describe(resourceId: string, upgrade: UpgradeSpec): Promise<UpgradeState> {
    const instance = await this.instances.find(resourceId);
    if (!instance) return { status: 'failed', reason: `The database instance ${resourceId} does not exist` };
    const state = instanceStateOf(instance);
    if (state.status === 'failed') return state;
    if (state.status !== 'available') return { status: 'upgrading' };
    const pending = instance.PendingModifiedValues?.EngineVersion;
    if (pending) {
      return {
        status: 'upgrading',
        detail: `RDS holds the upgrade of instance ${resourceId} to ${pending} as pending; the instance is available on ${instance.EngineVersion}`,
      };
    }
    if (runsVersion(instance, upgrade.version)) return { status: 'available', endpoint: state.endpoint };
    const left = `RDS left instance ${resourceId} on ${instance.EngineVersion ?? 'its version'}: the upgrade to ${upgrade.version} was refused`;
    const event = await eventsSaying(async () => {
      const { Events } = await this.rds(
        new DescribeEventsCommand({
          SourceIdentifier: resourceId,
          SourceType: 'db-instance',
          ...(upgrade.since ? { StartTime: new Date(upgrade.since) } : { Duration: 24 * 60 }),
        }),
      );
      return (Events ?? []).map((event) => event.Message);
    });
    return event
      ? { status: 'failed', reason: `${left}: ${event}` }
      : { status: 'unchanged', reason: `${left} (no RDS event of the instance says why)` };
  }

  /** RDS cannot undo an upgrade: `completed` when the instance runs the new version, else nothing changed. */
  async discard(resourceId: string, upgrade: UpgradeSpec): Promise<'discarded' | 'completed'> {
    const instance = await this.instances.find(resourceId);
    return instance && runsVersion(instance, upgrade.version) ? 'completed' : 'discarded';
  }
}
