import { ModifyReplicationGroupCommand } from '@aws-sdk/client-elasticache';
import { ProviderError, TransientError } from '../../../errors.ts';
import type { ResizeRequest, ResizeState } from '../../../ports/engine-provider.ts';
import { toPlatformError } from '../aws-errors.ts';
import { type ElastiCacheSend, groupStateOf, type ReplicationGroups } from './elasticache-groups.ts';
import { failoverIs, switchFailover } from './redis-failover.ts';

const nodeTypeOf = (change: ResizeRequest): string => {
  if (!change.plan) {
    throw new ProviderError(
      'Redis addons on ElastiCache change their plan or Multi-AZ only (Redis has no storage size)',
      'Unsupported',
    );
  }
  return change.plan.instanceClass;
};

/**
 * Multi-AZ with automatic failover on or off (redis-failover.ts): asked once the group is
 * `available`; a group already there, or switching that way, is not asked again. The API refuses
 * `on` without a replica (catalog `multiAzNeedsReplicas`); ElastiCache would too.
 */
const switchMultiAz = async (
  elasticache: ElastiCacheSend,
  groups: ReplicationGroups,
  groupId: string,
  on: boolean,
): Promise<void> => {
  const group = await groups.find(groupId);
  if (!group) throw new ProviderError(`The replication group ${groupId} does not exist`, 'NotFound');
  if (failoverIs(group, on) || group.AutomaticFailover === (on ? 'enabling' : 'disabling')) return;
  if (group.Status !== 'available' || !(await switchFailover(elasticache, groupId, on))) {
    throw new TransientError(`Replication group ${groupId} is ${group.Status}; switching Multi-AZ later`);
  }
};

/**
 * A plan change of the addon's replication group: ModifyReplicationGroup with the plan's node type,
 * applied at once. ElastiCache scales a group without cluster mode online (a new node per member,
 * data copied, DNS moved: the endpoint stays). Idempotent: a group already on that node type is
 * left alone, and one being modified is not asked twice. Or Multi-AZ on or off (`switchMultiAz`).
 */
export const resizeReplicationGroup = async (
  elasticache: ElastiCacheSend,
  groups: ReplicationGroups,
  groupId: string,
  change: ResizeRequest,
): Promise<void> => {
  if (change.multiAz !== undefined) return switchMultiAz(elasticache, groups, groupId, change.multiAz);
  const nodeType = nodeTypeOf(change);
  const group = await groups.find(groupId);
  if (!group) throw new ProviderError(`The replication group ${groupId} does not exist`, 'NotFound');
  if (group.CacheNodeType === nodeType || group.Status === 'modifying') return;
  try {
    await elasticache(
      new ModifyReplicationGroupCommand({
        ReplicationGroupId: groupId,
        CacheNodeType: nodeType,
        ApplyImmediately: true,
      }),
    );
  } catch (error) {
    throw toPlatformError(error, 'modifying the node type of the Redis replication group');
  }
};

/** Applied once the group is `available` again on the plan's node type, or with Multi-AZ as asked. */
export const describeReplicationGroupResize = async (
  groups: ReplicationGroups,
  groupId: string,
  change: ResizeRequest,
): Promise<ResizeState> => {
  const group = await groups.find(groupId);
  if (!group) return { status: 'failed', reason: `The replication group ${groupId} no longer exists` };
  const state = groupStateOf(group);
  if (state.status === 'failed') return state;
  const reached =
    change.multiAz !== undefined
      ? failoverIs(group, change.multiAz)
      : group.CacheNodeType === nodeTypeOf(change);
  return group.Status === 'available' && reached ? { status: 'applied' } : { status: 'applying' };
};
