import {
  type DBCluster,
  type DBInstance,
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  type DocDBClient,
  ListTagsForResourceCommand,
  ModifyDBClusterCommand,
  type Tag,
} from '@aws-sdk/client-docdb';
import type { InstanceState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';

/** `DocDBClient.send` wrapped by `transientErrors`: what every helper of this folder calls. */
export type DocdbSend = DocDBClient['send'];

/** The port DocumentDB listens on by default, and the one the addon's security group admits. */
export const DOCDB_PORT = 27017;

/**
 * The DB instance identifiers of a cluster's nodes: the cluster's identifier and the node's
 * number (1 is the first, the writer), so a retried create finds the instances it made. The
 * suffix also keeps them out of the RDS instance leftovers sweep, which only takes `addon-<id>`
 * and restore copies (`aws-leftovers.ts`): DocumentDB instances show in RDS's DescribeDBInstances.
 */
export const nodeIdentifiers = (clusterId: string, nodes: number): string[] => {
  const base = clusterId.slice(0, 63 - 3).replace(/-+$/, '');
  return Array.from({ length: nodes }, (_, index) => `${base}-${index + 1}`);
};

/** Cluster statuses in which it will not become available by waiting, with what they mean. */
const FAILED_CLUSTER_STATUSES: Record<string, string> = {
  failed: 'DocumentDB could not create or recover the cluster',
  'inaccessible-encryption-credentials': 'the KMS key is disabled or DocumentDB may no longer use it',
  'inaccessible-encryption-credentials-recoverable':
    'the KMS key is disabled or DocumentDB may no longer use it; re-enable it to recover the cluster',
  'incompatible-network': 'the subnet group has no free IP addresses, or one of its subnets is gone',
  'incompatible-parameters': "the cluster parameter group's values do not fit this engine version",
  'incompatible-restore': 'the restore could not complete',
  stopped: 'the cluster is stopped',
  stopping: 'the cluster is stopping',
};

/** Instance statuses in which it will not become available by waiting. */
const FAILED_INSTANCE_STATUSES: Record<string, string> = {
  failed: 'DocumentDB could not create or recover the instance',
  'incompatible-network': 'the subnet group has no free IP addresses, or one of its subnets is gone',
  'incompatible-parameters': 'the parameter group does not fit this instance class',
  'inaccessible-encryption-credentials': 'the KMS key is disabled or DocumentDB may no longer use it',
  'insufficient-capacity': 'AWS has no capacity for this instance class right now',
  'storage-full': 'the cluster ran out of storage',
  stopped: 'the instance is stopped',
};

export const DELETING_STATUSES = new Set(['deleting', 'delete-precheck']);

/**
 * What a cluster and its instances mean for the workflow: `available` once the cluster and every
 * instance serve connections (the endpoint is the cluster's, which follows the writer across
 * failovers), `failed` as soon as one of them cannot get there by waiting.
 */
export const clusterStateOf = (cluster: DBCluster, instances: DBInstance[]): InstanceState => {
  const id = cluster.DBClusterIdentifier ?? 'unknown';
  const status = cluster.Status ?? 'unknown';
  if (DELETING_STATUSES.has(status)) return { status: 'deleting' };
  const failure = FAILED_CLUSTER_STATUSES[status];
  if (failure)
    return { status: 'failed', reason: `DocumentDB reports cluster ${id} as ${status}: ${failure}` };
  for (const instance of instances) {
    const instanceStatus = instance.DBInstanceStatus ?? 'unknown';
    const instanceFailure = FAILED_INSTANCE_STATUSES[instanceStatus];
    if (instanceFailure) {
      return {
        status: 'failed',
        reason: `DocumentDB reports instance ${instance.DBInstanceIdentifier} of cluster ${id} as ${instanceStatus}: ${instanceFailure}`,
      };
    }
  }
  const host = cluster.Endpoint;
  const ready =
    status === 'available' &&
    instances.length > 0 &&
    instances.every((instance) => instance.DBInstanceStatus === 'available');
  if (ready && host) return { status: 'available', endpoint: { host, port: cluster.Port ?? DOCDB_PORT } };
  return { status: 'creating' };
};

/** The value of one tag. */
export const tagValue = (tags: Tag[], key: string): string | undefined =>
  tags.find((tag) => tag.Key === key)?.Value;

/**
 * The DocumentDB cluster operations the provider and the restore share: look a cluster up (with
 * its instances and tags), rename one, delete one with its instances. Each is idempotent (a
 * retried task finds the work done), because Step Functions retries tasks.
 */
export class DocdbClusters {
  constructor(private readonly docdb: DocdbSend) {}

  async find(clusterId: string): Promise<DBCluster | undefined> {
    try {
      const result = await this.docdb(new DescribeDBClustersCommand({ DBClusterIdentifier: clusterId }));
      return result.DBClusters?.[0];
    } catch (error) {
      if (isAwsError(error, 'DBClusterNotFound')) return undefined;
      throw toPlatformError(error, 'looking up the DocumentDB cluster');
    }
  }

  /**
   * The cluster's instances, whatever their names (a restored cluster keeps its staging names):
   * its members, each described by identifier, so the role's DescribeDBInstances stays scoped to
   * `addon-*` instances (a filtered call is authorized on every instance of the account).
   */
  async instancesOf(cluster: DBCluster): Promise<DBInstance[]> {
    const found: DBInstance[] = [];
    for (const member of cluster.DBClusterMembers ?? []) {
      if (!member.DBInstanceIdentifier) continue;
      try {
        const result = await this.docdb(
          new DescribeDBInstancesCommand({ DBInstanceIdentifier: member.DBInstanceIdentifier }),
        );
        found.push(...(result.DBInstances ?? []));
      } catch (error) {
        if (isAwsError(error, 'DBInstanceNotFound')) continue;
        throw toPlatformError(error, "looking up the DocumentDB cluster's instances");
      }
    }
    return found;
  }

  /** DescribeDBClusters returns no tags: ListTagsForResource on the cluster's ARN. */
  async tagsOf(cluster: DBCluster): Promise<Tag[]> {
    if (!cluster.DBClusterArn) return [];
    try {
      const result = await this.docdb(new ListTagsForResourceCommand({ ResourceName: cluster.DBClusterArn }));
      return result.TagList ?? [];
    } catch (error) {
      if (isAwsError(error, 'DBClusterNotFound')) return [];
      throw toPlatformError(error, "reading the DocumentDB cluster's tags");
    }
  }

  async rename(from: string, to: string): Promise<void> {
    try {
      await this.docdb(
        new ModifyDBClusterCommand({
          DBClusterIdentifier: from,
          NewDBClusterIdentifier: to,
          ApplyImmediately: true,
        }),
      );
    } catch (error) {
      // A retried call: the rename already happened.
      if (isAwsError(error, 'DBClusterNotFound')) return;
      throw toPlatformError(error, `renaming DocumentDB cluster ${from} to ${to}`);
    }
  }

  /** Deletion protection on (a restored cluster gets it once it is the addon's). */
  async protect(cluster: DBCluster): Promise<void> {
    if (cluster.DeletionProtection || !cluster.DBClusterIdentifier) return;
    try {
      await this.docdb(
        new ModifyDBClusterCommand({
          DBClusterIdentifier: cluster.DBClusterIdentifier,
          DeletionProtection: true,
          ApplyImmediately: true,
        }),
      );
    } catch (error) {
      throw toPlatformError(error, 'turning on the deletion protection of the DocumentDB cluster');
    }
  }

  /**
   * Deletion protection off, the instances deleted, then the cluster without a final snapshot.
   * DocumentDB refuses to delete a cluster while an instance of it is not yet `deleting`
   * (InvalidDBClusterState, or while the cluster is still being created): false then, and the
   * caller tries again (a TransientError, or its describe loop). True once deleting or gone.
   */
  async delete(cluster: DBCluster): Promise<boolean> {
    const id = cluster.DBClusterIdentifier;
    if (!id || DELETING_STATUSES.has(cluster.Status ?? '')) return true;
    try {
      if (cluster.DeletionProtection) {
        await this.docdb(
          new ModifyDBClusterCommand({
            DBClusterIdentifier: id,
            DeletionProtection: false,
            ApplyImmediately: true,
          }),
        );
      }
      for (const instance of await this.instancesOf(cluster)) {
        const instanceId = instance.DBInstanceIdentifier;
        if (!instanceId || DELETING_STATUSES.has(instance.DBInstanceStatus ?? '')) continue;
        try {
          await this.docdb(new DeleteDBInstanceCommand({ DBInstanceIdentifier: instanceId }));
        } catch (error) {
          if (!isAwsError(error, 'DBInstanceNotFound')) throw error;
        }
      }
      // Backups are the backup workflow's job, not DocumentDB's final snapshot.
      await this.docdb(new DeleteDBClusterCommand({ DBClusterIdentifier: id, SkipFinalSnapshot: true }));
      return true;
    } catch (error) {
      if (isAwsError(error, 'DBClusterNotFound')) return true;
      if (isAwsError(error, 'InvalidDBClusterState', 'InvalidDBInstanceState')) return false;
      throw toPlatformError(error, 'deleting the DocumentDB cluster');
    }
  }
}
