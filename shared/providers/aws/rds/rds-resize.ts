import { type DBInstance, ModifyDBInstanceCommand, type ModifyDBInstanceMessage } from '@aws-sdk/client-rds';
import { ProviderError } from '../../../errors.ts';
import type { ResizeRequest, ResizeState } from '../../../ports/engine-provider.ts';
import { toPlatformError } from '../aws-errors.ts';
import { instanceStateOf, type RdsInstances, type RdsSend } from './rds-instances.ts';

/** The ModifyDBInstance fields of one change; a plan also brings its point-in-time window. */
const modificationOf = (change: ResizeRequest): Partial<ModifyDBInstanceMessage> => {
  if (change.plan) {
    return {
      DBInstanceClass: change.plan.instanceClass,
      ...(change.plan.pitrRetentionDays ? { BackupRetentionPeriod: change.plan.pitrRetentionDays } : {}),
    };
  }
  if (change.storageGiB !== undefined) return { AllocatedStorage: change.storageGiB };
  return { MultiAZ: Boolean(change.multiAz) };
};

/** Whether the instance runs with `change` (`current`), or has it pending. */
const standing = (instance: DBInstance, change: ResizeRequest): { current: boolean; pending: boolean } => {
  const pending = instance.PendingModifiedValues ?? {};
  if (change.plan) {
    return {
      current: instance.DBInstanceClass === change.plan.instanceClass,
      pending: pending.DBInstanceClass === change.plan.instanceClass,
    };
  }
  if (change.storageGiB !== undefined) {
    return {
      current: instance.AllocatedStorage === change.storageGiB,
      pending: pending.AllocatedStorage === change.storageGiB,
    };
  }
  return { current: instance.MultiAZ === change.multiAz, pending: pending.MultiAZ === change.multiAz };
};

/**
 * One scaling change of an RDS instance: ModifyDBInstance with ApplyImmediately, so it starts now
 * rather than in the maintenance window. RDS keeps serving through a storage growth or a Multi-AZ
 * change, and fails over to the standby (or restarts, without one) for a class change. Idempotent:
 * a change already applied or pending is not asked again. RDS's own refusals (a growth under 10 %,
 * a second storage change within six hours, a class the engine version lacks) fail the operation
 * with RDS's words.
 */
export const resizeRdsInstance = async (
  rds: RdsSend,
  instances: RdsInstances,
  resourceId: string,
  change: ResizeRequest,
): Promise<void> => {
  const instance = await instances.find(resourceId);
  if (!instance) throw new ProviderError(`The database instance ${resourceId} does not exist`, 'NotFound');
  const { current, pending } = standing(instance, change);
  if (current || pending) return;
  try {
    await rds(
      new ModifyDBInstanceCommand({
        DBInstanceIdentifier: resourceId,
        ...modificationOf(change),
        ApplyImmediately: true,
      }),
    );
  } catch (error) {
    throw toPlatformError(error, 'modifying the database instance');
  }
};

/** Applied once the instance serves again with the change and nothing of it is pending. */
export const describeRdsResize = async (
  instances: RdsInstances,
  resourceId: string,
  change: ResizeRequest,
): Promise<ResizeState> => {
  const instance = await instances.find(resourceId);
  if (!instance) return { status: 'failed', reason: `The database instance ${resourceId} no longer exists` };
  const state = instanceStateOf(instance);
  if (state.status === 'failed') return state;
  const { current, pending } = standing(instance, change);
  return state.status === 'available' && current && !pending && instance.DBInstanceStatus !== 'modifying'
    ? { status: 'applied' }
    : { status: 'applying' };
};
