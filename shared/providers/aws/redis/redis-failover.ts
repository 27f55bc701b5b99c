import { ModifyReplicationGroupCommand, type ReplicationGroup } from '@aws-sdk/client-elasticache';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import type { ElastiCacheSend } from './elasticache-groups.ts';

/**
 * Multi-AZ and automatic failover of a replication group, which the platform turns on and off
 * together: ElastiCache's Multi-AZ needs automatic failover, and either needs a replica to promote
 * (with them on, DecreaseReplicaCount keeps at least one).
 */

/** ElastiCache is switching automatic failover (`enabling`, `disabling`, or a pending change). */
export const failoverChanging = (group: ReplicationGroup): boolean =>
  group.AutomaticFailover === 'enabling' ||
  group.AutomaticFailover === 'disabling' ||
  group.PendingModifiedValues?.AutomaticFailoverStatus !== undefined;

/** Both on (`on`), or both off, and not being switched. */
export const failoverIs = (group: ReplicationGroup, on: boolean): boolean =>
  !failoverChanging(group) &&
  (on
    ? group.MultiAZ === 'enabled' && group.AutomaticFailover === 'enabled'
    : group.MultiAZ !== 'enabled' && group.AutomaticFailover !== 'enabled');

/**
 * ModifyReplicationGroup with MultiAZEnabled and AutomaticFailoverEnabled as `on`, applied at once.
 * The caller has found the group `available` and not there yet; false when ElastiCache refuses for
 * now (busy: look again later), true once asked.
 */
export const switchFailover = async (elasticache: ElastiCacheSend, id: string, on: boolean) => {
  try {
    await elasticache(
      new ModifyReplicationGroupCommand({
        ReplicationGroupId: id,
        MultiAZEnabled: on,
        AutomaticFailoverEnabled: on,
        ApplyImmediately: true,
      }),
    );
    return true;
  } catch (error) {
    if (isAwsError(error, 'InvalidReplicationGroupState')) return false;
    throw toPlatformError(error, `turning Multi-AZ ${on ? 'on' : 'off'} on replication group ${id}`);
  }
};
