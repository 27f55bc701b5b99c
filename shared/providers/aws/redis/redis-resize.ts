import { ModifyReplicationGroupCommand } from '@aws-sdk/client-elasticache';
import { ProviderError } from '../../../errors.ts';
import type { ResizeRequest, ResizeState } from '../../../ports/engine-provider.ts';
import { toPlatformError } from '../aws-errors.ts';
import { type ElastiCacheSend, groupStateOf, type ReplicationGroups } from './elasticache-groups.ts';

const nodeTypeOf = (change: ResizeRequest): string => {
  if (!change.plan) {
    throw new ProviderError(
      'Redis addons on ElastiCache change their plan only (no storage size; Multi-AZ comes with replicas)',
      'Unsupported',
    );
  }
  return change.plan.instanceClass;
};

/**
 * A plan change of the addon's replication group: ModifyReplicationGroup with the plan's node type,
 * applied at once. ElastiCache scales a group without cluster mode online (a new node per member,
 * data copied, DNS moved: the endpoint stays). Idempotent: a group already on that node type is
 * left alone, and one being modified is not asked twice.
 */
export const resizeReplicationGroup = async (
  elasticache: ElastiCacheSend,
  groups: ReplicationGroups,
  groupId: string,
  change: ResizeRequest,
): Promise<void> => {
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

/** Applied once the group is `available` again on the plan's node type. */
export const describeReplicationGroupResize = async (
  groups: ReplicationGroups,
  groupId: string,
  change: ResizeRequest,
): Promise<ResizeState> => {
  const nodeType = nodeTypeOf(change);
  const group = await groups.find(groupId);
  if (!group) return { status: 'failed', reason: `The replication group ${groupId} no longer exists` };
  const state = groupStateOf(group);
  if (state.status === 'failed') return state;
  return group.Status === 'available' && group.CacheNodeType === nodeType
    ? { status: 'applied' }
    : { status: 'applying' };
};
