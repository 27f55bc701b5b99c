import {
  DecreaseReplicaCountCommand,
  IncreaseReplicaCountCommand,
  type ReplicationGroup,
} from '@aws-sdk/client-elasticache';
import { ProviderError } from '../../../errors.ts';
import type {
  ReplicaAddress,
  ReplicaChange,
  ReplicaProvider,
  ReplicaSetState,
} from '../../../ports/replica-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import { type ElastiCacheSend, groupStateOf, type ReplicationGroups } from './elasticache-groups.ts';
import { failoverChanging, failoverIs, switchFailover } from './redis-failover.ts';
import type { RedisUsers } from './redis-users.ts';

/** Replicas of a group without cluster mode: its nodes but the primary. */
export const replicaCountOf = (group: ReplicationGroup): number =>
  Math.max(0, (group.MemberClusters?.length ?? 1) - 1);

/**
 * Whether ElastiCache keeps at least one replica in the group: with Multi-AZ or automatic failover
 * on (or being switched), DecreaseReplicaCount refuses 0.
 */
export const keepsOneReplica = (group: ReplicationGroup): boolean => !failoverIs(group, false);

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
 * Multi-AZ and automatic failover (redis-failover.ts) go with the replicas, one step at a time,
 * each once the group is `available` again (`advance`, taken by `setReplicaCount` and by each
 * check of the workflow's wait): to 0, they are turned off first (ElastiCache keeps a replica
 * while they are on), then the replicas go; a group that gains replicas gets them, then Multi-AZ
 * back on where the addon's `multiAz` says so.
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

  /**
   * The next step toward `count` replicas (and Multi-AZ as `change` says, where given): nothing
   * while ElastiCache is busy with the group or once it is there (`done`), so a retried or
   * repeated call sends nothing twice.
   */
  private async advance(
    id: string,
    group: ReplicationGroup,
    count: number,
    change?: ReplicaChange,
  ): Promise<'done' | 'more'> {
    const replicas = replicaCountOf(group);
    const busy = group.Status !== 'available' || failoverChanging(group);
    if (count === 0 && replicas > 0 && keepsOneReplica(group)) {
      if (!busy) await switchFailover(this.elasticache, id, false);
      return 'more';
    }
    if (replicas !== count) {
      if (!busy) await this.changeCount(id, replicas, count);
      return 'more';
    }
    if (count > 0 && change?.multiAz && !failoverIs(group, true)) {
      if (!busy) await switchFailover(this.elasticache, id, true);
      return 'more';
    }
    return busy ? 'more' : 'done';
  }

  private async changeCount(id: string, replicas: number, count: number): Promise<void> {
    const input = { ReplicationGroupId: id, NewReplicaCount: count, ApplyImmediately: true };
    try {
      await this.elasticache(
        count > replicas ? new IncreaseReplicaCountCommand(input) : new DecreaseReplicaCountCommand(input),
      );
    } catch (error) {
      // Busy (a snapshot, a resize, or this change already under way): the next look asks again.
      if (isAwsError(error, 'InvalidReplicationGroupState')) return;
      throw toPlatformError(error, `changing the replicas of replication group ${id} to ${count}`);
    }
  }

  async setReplicaCount(
    resourceId: string,
    count: number,
    change?: ReplicaChange,
  ): Promise<'more' | undefined> {
    const { id, group } = await this.current(resourceId);
    if (!group) {
      if (count === 0) return;
      throw new ProviderError(`The replication group ${id} does not exist`, 'NotFound');
    }
    return (await this.advance(id, group, count, change)) === 'more' ? 'more' : undefined;
  }

  async describeReplicas(
    resourceId: string,
    count: number,
    change?: ReplicaChange,
  ): Promise<ReplicaSetState> {
    const { id, group } = await this.current(resourceId);
    if (!group) return { status: 'failed', reason: `The replication group ${id} does not exist` };
    const state = groupStateOf(group);
    if (state.status === 'failed') return state;
    if (state.status === 'deleting') {
      return { status: 'failed', reason: `Replication group ${id} is being deleted` };
    }
    // The workflow's wait takes the next step of the change (never a read of the replicas alone).
    const more = change ? (await this.advance(id, group, count, change)) === 'more' : false;
    const replicas = replicaCountOf(group);
    const reader = readerEndpointOf(group);
    if (!more && group.Status === 'available' && replicas === count && (count === 0 || reader)) {
      return { status: 'available', endpoints: count > 0 && reader ? [reader] : [] };
    }
    return {
      status: 'applying',
      ready: group.Status === 'available' ? Math.min(replicas, count) : 0,
      wanted: count,
    };
  }
}
