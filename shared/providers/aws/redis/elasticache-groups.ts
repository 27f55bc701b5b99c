import {
  type CacheCluster,
  CreateReplicationGroupCommand,
  type CreateReplicationGroupMessage,
  DeleteReplicationGroupCommand,
  DescribeCacheClustersCommand,
  DescribeReplicationGroupsCommand,
  type ElastiCacheClient,
  type ReplicationGroup,
} from '@aws-sdk/client-elasticache';
import type { InstanceState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';

/** `ElastiCacheClient.send` wrapped by `transientErrors`: what every helper of this folder calls. */
export type ElastiCacheSend = ElastiCacheClient['send'];

/** Statuses in which the group answers on its primary endpoint. */
const SERVING = new Set(['available', 'modifying', 'snapshotting']);

/** The primary endpoint of a group without cluster mode (the only kind the platform creates). */
export const primaryEndpointOf = (group: ReplicationGroup): { host: string; port: number } | undefined => {
  const endpoint = group.NodeGroups?.[0]?.PrimaryEndpoint;
  return endpoint?.Address && endpoint.Port ? { host: endpoint.Address, port: endpoint.Port } : undefined;
};

/** What a replication group's status means for the workflow; anything unlisted is "not yet". */
export const groupStateOf = (group: ReplicationGroup): InstanceState => {
  const status = group.Status ?? 'unknown';
  if (status === 'deleting') return { status: 'deleting' };
  if (status === 'create-failed') {
    return {
      status: 'failed',
      reason: `ElastiCache could not create replication group ${group.ReplicationGroupId} (create-failed): check the node type's availability and the subnet group's capacity`,
    };
  }
  // Seeding failed (an RDB of a newer format than the engine, larger than the node, or corrupt).
  if (status === 'restore-failed') {
    return {
      status: 'failed',
      reason: `ElastiCache could not load the data into replication group ${group.ReplicationGroupId} (restore-failed): the RDB file may be of a newer format than the engine version, larger than the node's memory, or damaged`,
    };
  }
  const endpoint = primaryEndpointOf(group);
  if (SERVING.has(status) && endpoint) return { status: 'available', endpoint };
  return { status: 'creating' };
};

/**
 * Replication group operations, each idempotent: a retried task finds the work done (an
 * existing group is "created", a missing or deleting one "deleted").
 */
export class ReplicationGroups {
  constructor(private readonly elasticache: ElastiCacheSend) {}

  async find(id: string): Promise<ReplicationGroup | undefined> {
    try {
      const result = await this.elasticache(new DescribeReplicationGroupsCommand({ ReplicationGroupId: id }));
      return result.ReplicationGroups?.[0];
    } catch (error) {
      if (isAwsError(error, 'ReplicationGroupNotFound')) return undefined;
      throw toPlatformError(error, `looking up replication group ${id}`);
    }
  }

  async create(input: CreateReplicationGroupMessage, action: string): Promise<void> {
    try {
      await this.elasticache(new CreateReplicationGroupCommand(input));
    } catch (error) {
      // A retried task: the first attempt got through.
      if (isAwsError(error, 'ReplicationGroupAlreadyExists')) return;
      throw toPlatformError(error, action);
    }
  }

  /**
   * Delete without a final snapshot (backups are the backup workflow's job). False when
   * ElastiCache refuses for now (the group is being modified or snapshotted): call again.
   */
  async delete(group: ReplicationGroup): Promise<boolean> {
    const id = group.ReplicationGroupId;
    if (!id || group.Status === 'deleting') return true;
    try {
      await this.elasticache(
        new DeleteReplicationGroupCommand({ ReplicationGroupId: id, RetainPrimaryCluster: false }),
      );
      return true;
    } catch (error) {
      if (isAwsError(error, 'ReplicationGroupNotFound')) return true;
      if (isAwsError(error, 'InvalidReplicationGroupState')) return false;
      throw toPlatformError(error, `deleting replication group ${id}`);
    }
  }
}

/** The group's first node (its version, and a version change it holds as pending). */
export const nodeOf = async (
  elasticache: ElastiCacheSend,
  group: ReplicationGroup,
): Promise<CacheCluster | undefined> => {
  const member = group.MemberClusters?.[0];
  if (!member) return undefined;
  try {
    const result = await elasticache(new DescribeCacheClustersCommand({ CacheClusterId: member }));
    return result.CacheClusters?.[0];
  } catch (error) {
    throw toPlatformError(error, `looking up the engine version of ${member}`);
  }
};

/** The full engine version a group's nodes run ("7.1.0"; a replication group reports none). */
export const nodeVersionOf = async (
  elasticache: ElastiCacheSend,
  group: ReplicationGroup,
): Promise<string | undefined> => (await nodeOf(elasticache, group))?.EngineVersion;
