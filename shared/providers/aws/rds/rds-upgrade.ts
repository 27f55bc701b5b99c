import { type DBInstance, ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import { ProviderError } from '../../../errors.ts';
import type { UpgradeSpec, UpgradeState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
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
 * (for PostgreSQL, pg_upgrade --check) and leaves the instance on its old version, available,
 * when the check fails; `describe` then reports the upgrade failed, with the instance's events
 * as the place to read why.
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
    if (state.status !== 'available' || instance.PendingModifiedValues?.EngineVersion) {
      return { status: 'upgrading' };
    }
    if (runsVersion(instance, upgrade.version)) return { status: 'available', endpoint: state.endpoint };
    return {
      status: 'failed',
      reason: `RDS left instance ${resourceId} on ${instance.EngineVersion ?? 'its version'}: the upgrade to ${upgrade.version} was refused (its RDS events say why, e.g. a pre-upgrade check)`,
    };
  }

  /** RDS cannot undo an upgrade: `completed` when the instance runs the new version, else nothing changed. */
  async discard(resourceId: string, upgrade: UpgradeSpec): Promise<'discarded' | 'completed'> {
    const instance = await this.instances.find(resourceId);
    return instance && runsVersion(instance, upgrade.version) ? 'completed' : 'discarded';
  }
}
