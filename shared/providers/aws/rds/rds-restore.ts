import { createHash } from 'node:crypto';
import {
  type DBInstance,
  RestoreDBInstanceFromDBSnapshotCommand,
  type RestoreDBInstanceFromDBSnapshotCommandInput,
  RestoreDBInstanceToPointInTimeCommand,
  type RestoreDBInstanceToPointInTimeCommandInput,
} from '@aws-sdk/client-rds';
import { errorMessage, ProviderError, TransientError } from '../../../errors.ts';
import type { RestoreState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import { TAG_KEYS } from '../tags.ts';
import { instanceStateOf, instanceTag, type RdsInstances, type RdsSend } from './rds-instances.ts';

/**
 * The staging and retired instance identifiers of one restore: the addon's identifier plus a
 * short hash of the restore id, so they are deterministic (a restarted call finds them), start
 * with `addon-` (the workflow role's IAM scope) and stay within RDS's 63 characters.
 */
export const restoreIdentifiers = (resourceId: string, restoreId: string) => {
  const hash = createHash('sha256').update(restoreId).digest('hex').slice(0, 8);
  const base = resourceId.slice(0, 63 - 10).replace(/-+$/, '');
  return { staging: `${base}-r${hash}`, retired: `${base}-o${hash}` };
};

/** What both restores give the staging instance: the shape of the addon's current one. */
type StagingShape = Pick<
  RestoreDBInstanceFromDBSnapshotCommandInput & RestoreDBInstanceToPointInTimeCommandInput,
  | 'DBInstanceClass'
  | 'AllocatedStorage'
  | 'StorageType'
  | 'DBSubnetGroupName'
  | 'VpcSecurityGroupIds'
  | 'DBParameterGroupName'
  | 'Port'
  | 'MultiAZ'
  | 'PubliclyAccessible'
  | 'AutoMinorVersionUpgrade'
  | 'BackupRetentionPeriod'
  | 'CopyTagsToSnapshot'
  | 'DeletionProtection'
  | 'Tags'
>;

const restoredBy = (instance: DBInstance): string | undefined => instanceTag(instance, TAG_KEYS.restore);

export interface RdsRestoreSwapProps {
  rds: RdsSend;
  instances: RdsInstances;
  /** The deployment's DB subnet group, when the addon's instance does not name one. */
  subnetGroupName: string;
  /** The engine's port, when the addon's instance does not report one. */
  defaultPort: number;
  /** @default 7 */
  backupRetentionDays?: number;
}

/*
 * Restoring a snapshot. RDS cannot restore in place: a snapshot always becomes a new DB
 * instance. So a restore is "restore to new, then swap" (stack-facts.md), in four steps,
 * each inferable from what DescribeDBInstances shows, so that any retried or restarted call
 * carries on from where the last one stopped:
 *
 *   1. start: RestoreDBInstanceFromDBSnapshot (or, for point-in-time recovery, startPointInTime:
 *      RestoreDBInstanceToPointInTime) into a staging instance named after the addon and
 *      the restore (`restoreIdentifiers`), with the addon's subnet group, security group,
 *      parameter group, class and storage, tagged `addons:restore=<restore id>`.
 *   2. describe, staging available: rename the addon's instance to the retired name.
 *   3. describe, retired renamed: rename the staging instance to the addon's identifier.
 *      The endpoint hostname is derived from the identifier, so the connection details in
 *      Secrets Manager stay right; clients reconnect as after a failover.
 *   4. describe, the instance answering to the addon's identifier carries our restore tag and is
 *      available: delete the retired instance (protection off, no final snapshot; its automated
 *      backups are kept for their retention, a last way back) and report `available`.
 *
 * Until step 2 starts, a failure deletes the staging instance and reports `failed`: the addon
 * keeps its old instance and data untouched. From step 2 on there is no automatic way back
 * (a rename cannot be undone atomically); the steps left are renames of healthy instances,
 * and if they do not finish within the workflow's bounded wait, the operation fails with
 * both instances still there under predictable names for an operator.
 *
 * Nothing here depends on the engine: the restored instance takes the engine, version,
 * parameter group and port of the addon's own instance and of the snapshot.
 */
export class RdsRestoreSwap {
  constructor(private readonly props: RdsRestoreSwapProps) {}

  /** Step 1 for a snapshot: RestoreDBInstanceFromDBSnapshot into the staging instance. */
  start(resourceId: string, snapshotId: string, restoreId: string): Promise<void> {
    const what = 'restoring the snapshot into a new database instance';
    return this.begin(resourceId, restoreId, what, (staging, like) =>
      this.props.rds(
        // AllocatedStorage: at least the snapshot's size; the addon's storage may have grown since.
        new RestoreDBInstanceFromDBSnapshotCommand({
          ...like,
          DBInstanceIdentifier: staging,
          DBSnapshotIdentifier: snapshotId,
        }),
      ),
    );
  }

  /**
   * Step 1 for a point in time (rds-pitr.ts): RestoreDBInstanceToPointInTime into the same
   * staging instance, so steps 2 to 4 and the discard are the snapshot restore's.
   */
  startPointInTime(
    resourceId: string,
    restoreId: string,
    /** Resolved only when the restore is not under way yet (a retried call skips it). */
    sourceOf: () => Promise<{ SourceDBInstanceIdentifier: string } | { SourceDbiResourceId: string }>,
    time: Date,
  ): Promise<void> {
    const what = 'restoring the point in time into a new database instance';
    return this.begin(resourceId, restoreId, what, async (staging, like) =>
      this.props.rds(
        new RestoreDBInstanceToPointInTimeCommand({
          ...like,
          ...(await sourceOf()),
          TargetDBInstanceIdentifier: staging,
          RestoreTime: time,
        }),
      ),
    );
  }

  /**
   * Step 1: `send` creates the staging instance, shaped like the addon's current instance
   * (`like`: its class, storage, network, parameter group and port, tagged with the restore).
   * Idempotent: a retried call finds the staging instance, or the swap already done.
   */
  private async begin(
    resourceId: string,
    restoreId: string,
    what: string,
    send: (staging: string, like: StagingShape) => Promise<unknown>,
  ): Promise<void> {
    const { staging } = restoreIdentifiers(resourceId, restoreId);
    const { instances } = this.props;
    const current = await instances.find(resourceId);
    if (!current) {
      throw new ProviderError(`The addon's database instance ${resourceId} does not exist`, 'NotFound');
    }
    // A retried call: the restore already started, or even finished the swap.
    if (restoredBy(current) === restoreId || (await instances.find(staging))) return;
    const tags = (current.TagList ?? []).filter(
      (tag) => tag.Key !== TAG_KEYS.restore && tag.Key?.startsWith('addons:'),
    );
    const groupIds = (current.VpcSecurityGroups ?? [])
      .map((group) => group.VpcSecurityGroupId)
      .filter((id): id is string => Boolean(id));
    const parameterGroup = current.DBParameterGroups?.[0]?.DBParameterGroupName;
    try {
      await send(staging, {
        DBInstanceClass: current.DBInstanceClass,
        AllocatedStorage: current.AllocatedStorage,
        StorageType: current.StorageType,
        DBSubnetGroupName: current.DBSubnetGroup?.DBSubnetGroupName ?? this.props.subnetGroupName,
        VpcSecurityGroupIds: groupIds,
        ...(parameterGroup ? { DBParameterGroupName: parameterGroup } : {}),
        Port: current.Endpoint?.Port ?? this.props.defaultPort,
        MultiAZ: current.MultiAZ ?? false,
        // A public addon stays public: same subnets, same security group (its allow rules).
        PubliclyAccessible: current.PubliclyAccessible ?? false,
        AutoMinorVersionUpgrade: true,
        BackupRetentionPeriod: current.BackupRetentionPeriod ?? this.props.backupRetentionDays ?? 7,
        CopyTagsToSnapshot: true,
        // It becomes the addon's instance. There is no KmsKeyId here: a restored instance is
        // encrypted with its source's key (the snapshot's, the automated backups'): the addon's own.
        DeletionProtection: true,
        Tags: [...tags, { Key: TAG_KEYS.restore, Value: restoreId }],
      });
    } catch (error) {
      if (isAwsError(error, 'DBInstanceAlreadyExists')) return;
      if (isAwsError(error, 'InvalidRestore', 'PointInTimeRestoreNotEnabled')) {
        throw new ProviderError(
          `RDS refused the restore: ${errorMessage(error)}; the addon keeps its data as it was`,
          'InvalidRestore',
          { cause: error },
        );
      }
      throw toPlatformError(error, what);
    }
  }

  async describe(resourceId: string, restoreId: string): Promise<RestoreState> {
    const { staging, retired } = restoreIdentifiers(resourceId, restoreId);
    const { instances } = this.props;
    const current = await instances.find(resourceId);

    if (current && restoredBy(current) === restoreId) {
      // Step 4: the restored instance answers to the addon's identifier.
      if (instanceStateOf(current).status !== 'available') return { status: 'restoring' };
      const old = await instances.find(retired);
      if (old) await instances.delete(old);
      return { status: 'available' };
    }

    if (current) {
      // Before the swap: `current` is still the addon's original instance.
      const restored = await instances.find(staging);
      if (!restored) {
        return {
          status: 'failed',
          reason: `The instance restored from the snapshot (${staging}) is gone; the addon keeps its data as it was`,
        };
      }
      const state = instanceStateOf(restored);
      if (state.status === 'failed' || state.status === 'deleting') {
        await instances.delete(restored);
        return {
          status: 'failed',
          reason: `${state.status === 'failed' ? state.reason : `RDS is deleting ${staging}`}; the addon keeps its data as it was`,
        };
      }
      // Wait for the restored instance, and for the current one to be idle (a rename is
      // refused while RDS is, say, taking its automated backup).
      if (state.status !== 'available' || current.DBInstanceStatus !== 'available') {
        return { status: 'restoring' };
      }
      // Step 2.
      await instances.rename(resourceId, retired);
      return { status: 'restoring' };
    }

    // Between the renames: nothing answers to the addon's identifier.
    const old = await instances.find(retired);
    const restored = await instances.find(staging);
    if (old && old.DBInstanceStatus === 'available' && restored?.DBInstanceStatus === 'available') {
      // Step 3.
      await instances.rename(staging, resourceId);
    }
    // Otherwise a rename is in flight (RDS shows `renaming`); the next call sees its result.
    return { status: 'restoring' };
  }

  /**
   * The workflow gave up on the restore. Before the swap: delete the staging instance, and the
   * addon keeps its instance and data. Between the renames: rename the original back first
   * (TransientError until RDS has done it, so the compensation retries). After the swap: the
   * addon already runs on the snapshot's data; finish step 4 and report `completed`.
   */
  async discard(resourceId: string, restoreId: string): Promise<'discarded' | 'completed'> {
    const { staging, retired } = restoreIdentifiers(resourceId, restoreId);
    const { instances } = this.props;
    const current = await instances.find(resourceId);
    if (current && restoredBy(current) === restoreId) {
      const old = await instances.find(retired);
      if (old) await instances.delete(old);
      return 'completed';
    }
    if (!current) {
      const old = await instances.find(retired);
      if (!old)
        throw new ProviderError(`The addon's database instance ${resourceId} does not exist`, 'NotFound');
      if (old.DBInstanceStatus === 'available') await instances.rename(retired, resourceId);
      throw new TransientError(`Renaming ${retired} back to ${resourceId} before discarding the restore`);
    }
    const restored = await instances.find(staging);
    if (restored) await instances.delete(restored);
    return 'discarded';
  }
}
