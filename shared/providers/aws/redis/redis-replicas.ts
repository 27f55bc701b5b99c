import {
  DecreaseReplicaCountCommand,
  IncreaseReplicaCountCommand,
  type ReplicationGroup,
} from '@aws-sdk/client-elasticache';
import { ProviderError, TransientError } from '../../../errors.ts';
import type { ReplicaAddress, ReplicaProvider, ReplicaSetState } from '../../../ports/replica-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import { type ElastiCacheSend, groupStateOf, type ReplicationGroups } from './elasticache-groups.ts';
import type { RedisUsers } from './redis-users.ts';

/** Replicas of a group without cluster mode: its nodes but the primary. */
export const replicaCountOf = (group: ReplicationGroup): number =>
  Math.max(0, (group.MemberClusters?.length ?? 1) - 1);

/**
 * Whether ElastiCache keeps at least one replica in the group: with Multi-AZ (and automatic
 * failover, which the platform turns on with it), DecreaseReplicaCount refuses 0.
 */
export const keepsOneReplica = (group: ReplicationGroup): boolean =>
  group.MultiAZ === 'enabled' ||
  group.AutomaticFailover === 'enabled' ||
  group.AutomaticFailover === 'enabling';

/**
 * The replica nodes of a group (`nodeId`) other than its primary, in id order: what the leftovers
 * sweep numbers 1..n (the primary may be any node after a failover).
 */
export const replicaNodesOf = (group: ReplicationGroup): string[] => {
  const members = group.NodeGroups?.[0]?.NodeGroupMembers ?? [];
  const primary = members.find((member) => member.CurrentRole === 'primary')?.CacheClusterId;
  // Without roles yet (a group being created), the first node is the primary ElastiCache made.
  const nodes = [...(group.MemberClusters ?? [])].sort();
  return nodes.filter((id, index) => (primary ? id !== primary : index > 0));
};

/** The reader endpoint of a group without cluster mode: it spreads connections over the replicas. */
export const readerEndpointOf = (group: ReplicationGroup): ReplicaAddress | undefined => {
  const endpoint = group.NodeGroups?.[0]?.ReaderEndpoint;
  return endpoint?.Address && endpoint.Port ? { host: endpoint.Address, port: endpoint.Port } : undefined;
};

/**
 * Read replicas of a Redis addon: the replica nodes of its current replication group (cluster mode
 * disabled: one node group), changed in place with IncreaseReplicaCount / DecreaseReplicaCount
 * (`NewReplicaCount`, `ApplyImmediately: true`, the only value ElastiCache takes). ElastiCache
 * names the nodes (`<group>-00n`) and picks which one goes on a decrease; the primary keeps serving.
 *
 * What is published is the group's reader endpoint, once: ElastiCache spreads its connections over
 * the replicas and moves it with a failover, where a node's own endpoint may become the primary's.
 *
 * A group with Multi-AZ and automatic failover (made with replicas at create) keeps at least one
 * replica (ElastiCache refuses 0): a change to 0 fails at once, before any request, saying so.
 */
export class ElastiCacheReplicas implements ReplicaProvider {
  constructor(
    private readonly elasticache: ElastiCacheSend,
    private readonly groups: ReplicationGroups,
    private readonly users: RedisUsers,
  ) {}

  private async current(resourceId: string) {
    const { current } = await this.users.pointer(resourceId);
    return { id: current, group: await this.groups.find(current) };
  }

  async setReplicaCount(resourceId: string, count: number): Promise<void> {
    const { id, group } = await this.current(resourceId);
    if (!group) {
      if (count === 0) return;
      throw new ProviderError(`The replication group ${id} does not exist`, 'NotFound');
    }
    const replicas = replicaCountOf(group);
    // Done, or in flight (ElastiCache lists the nodes it adds or removes until it is done).
    if (replicas === count) return;
    if (count === 0 && keepsOneReplica(group)) {
      throw new ProviderError(
        `Replication group ${id} has Multi-AZ with automatic failover, so ElastiCache keeps at least 1 replica (DecreaseReplicaCount refuses 0): set replicas to 1 or more`,
        'UnsupportedOption',
      );
    }
    if (group.Status !== 'available') {
      throw new TransientError(
        `Replication group ${id} is ${group.Status}; its replicas change once it is available`,
      );
    }
    const input = { ReplicationGroupId: id, NewReplicaCount: count, ApplyImmediately: true };
    try {
      await this.elasticache(
        count > replicas ? new IncreaseReplicaCountCommand(input) : new DecreaseReplicaCountCommand(input),
      );
    } catch (error) {
      // Busy (a snapshot, a resize, or this change already under way): the Retry calls again.
      if (isAwsError(error, 'InvalidReplicationGroupState')) {
        throw new TransientError(`Replication group ${id} is busy; changing its replicas later`, {
          cause: error,
        });
      }
      throw toPlatformError(error, `changing the replicas of replication group ${id} to ${count}`);
    }
  }

  async describeReplicas(resourceId: string, count: number): Promise<ReplicaSetState> {
    const { id, group } = await this.current(resourceId);
    if (!group) return { status: 'failed', reason: `The replication group ${id} does not exist` };
    const state = groupStateOf(group);
    if (state.status === 'failed') return state;
    if (state.status === 'deleting') {
      return { status: 'failed', reason: `Replication group ${id} is being deleted` };
    }
    const replicas = replicaCountOf(group);
    const reader = readerEndpointOf(group);
    if (group.Status === 'available' && replicas === count && (count === 0 || reader)) {
      return { status: 'available', endpoints: count > 0 && reader ? [reader] : [] };
    }
    return {
      status: 'applying',
      ready: group.Status === 'available' ? Math.min(replicas, count) : 0,
      wanted: count,
    };
  }
}
