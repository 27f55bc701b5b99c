import {
  CreateDBInstanceCommand,
  type DBCluster,
  type DBInstance,
  RestoreDBClusterFromSnapshotCommand,
  type Tag,
} from '@aws-sdk/client-docdb';
import { ProviderError, TransientError } from '../../../errors.ts';
import type { RestoreState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import { restoreIdentifiers } from '../rds/rds-restore.ts';
import { TAG_KEYS } from '../tags.ts';
import {
  clusterStateOf,
  DOCDB_PORT,
  type DocdbClusters,
  type DocdbSend,
  nodeIdentifiers,
  tagValue,
} from './docdb-clusters.ts';

export interface DocdbRestoreSwapProps {
  docdb: DocdbSend;
  clusters: DocdbClusters;
  /** The deployment's DB subnet group, when the addon's cluster does not name one. */
  subnetGroupName: string;
}

/** Our tags of a resource, without a previous restore's marker. */
const addonTagsOf = (tags: Tag[]) =>
  tags.filter((tag) => tag.Key !== TAG_KEYS.restore && tag.Key?.startsWith('addons:'));

/*
 * Restoring a cluster snapshot. DocumentDB, like RDS, cannot restore in place: a snapshot always
 * becomes a new cluster, and a restored cluster has no instances until they are created. So a
 * restore is "restore to new, then swap" (stack-facts.md), the cluster version of RdsRestoreSwap,
 * each step inferable from what DescribeDBClusters shows so a retried or restarted call carries on:
 *
 *   1. start: RestoreDBClusterFromSnapshot into a staging cluster (`restoreIdentifiers`: the
 *      addon's identifier and a hash of the restore id) with the addon's subnet group, security
 *      groups, cluster parameter group and port, tagged `addons:restore=<restore id>`.
 *   2. describe, staging cluster available without its instances: create them, as many and of the
 *      same classes as the addon's cluster has (DocumentDB only takes instances into a restored
 *      cluster once it is available).
 *   3. describe, staging cluster and instances available: rename the addon's cluster to the
 *      retired name (ModifyDBCluster NewDBClusterIdentifier).
 *   4. describe, retired renamed: rename the staging cluster to the addon's identifier. The
 *      cluster endpoint is derived from the identifier, so the connection details stay right;
 *      clients reconnect as after a failover.
 *   5. describe, the cluster answering to the addon's identifier carries our restore tag and is
 *      available: turn its deletion protection on, delete the retired cluster (its instances, then it, no final snapshot) and
 *      report `available` once DocumentDB accepted that.
 *
 * Until step 3 a failure deletes the staging cluster and reports `failed`: the addon keeps its
 * cluster and data. From step 3 on, the steps left are renames of healthy clusters; the bounded
 * wait of the workflow fails the operation with both clusters under predictable names otherwise.
 */
export class DocdbRestoreSwap {
  constructor(private readonly props: DocdbRestoreSwapProps) {}

  async start(resourceId: string, snapshotId: string, restoreId: string): Promise<void> {
    const { staging } = restoreIdentifiers(resourceId, restoreId);
    const { clusters } = this.props;
    const current = await clusters.find(resourceId);
    if (!current) {
      throw new ProviderError(`The addon's DocumentDB cluster ${resourceId} does not exist`, 'NotFound');
    }
    const tags = await clusters.tagsOf(current);
    // A retried call: the restore already started, or even finished the swap.
    if (tagValue(tags, TAG_KEYS.restore) === restoreId || (await clusters.find(staging))) return;
    const groupIds = (current.VpcSecurityGroups ?? [])
      .map((group) => group.VpcSecurityGroupId)
      .filter((id): id is string => Boolean(id));
    try {
      await this.props.docdb(
        new RestoreDBClusterFromSnapshotCommand({
          DBClusterIdentifier: staging,
          SnapshotIdentifier: snapshotId,
          Engine: 'docdb',
          EngineVersion: current.EngineVersion,
          Port: current.Port ?? DOCDB_PORT,
          DBSubnetGroupName: current.DBSubnetGroup ?? this.props.subnetGroupName,
          VpcSecurityGroupIds: groupIds,
          ...(current.DBClusterParameterGroup
            ? { DBClusterParameterGroupName: current.DBClusterParameterGroup }
            : {}),
          // No KmsKeyId: a restored cluster is encrypted with the snapshot's key, the addon's own.
          // Unprotected until it is the addon's (step 5): a staging cluster that fails must be
          // deletable, and DocumentDB refuses to modify a cluster in a failed state.
          DeletionProtection: false,
          Tags: [...addonTagsOf(tags), { Key: TAG_KEYS.restore, Value: restoreId }],
        }),
      );
    } catch (error) {
      if (isAwsError(error, 'DBClusterAlreadyExists')) return;
      throw toPlatformError(error, 'restoring the snapshot into a new DocumentDB cluster');
    }
  }

  async describe(resourceId: string, restoreId: string): Promise<RestoreState> {
    const { staging, retired } = restoreIdentifiers(resourceId, restoreId);
    const { clusters } = this.props;
    const current = await clusters.find(resourceId);

    if (current && tagValue(await clusters.tagsOf(current), TAG_KEYS.restore) === restoreId) {
      // Step 5: the restored cluster answers to the addon's identifier.
      const state = clusterStateOf(current, await clusters.instancesOf(current));
      if (state.status !== 'available') return { status: 'restoring' };
      await clusters.protect(current);
      const old = await clusters.find(retired);
      if (old && !(await clusters.delete(old))) return { status: 'restoring' };
      return { status: 'available' };
    }

    if (current) {
      // Before the swap: `current` is still the addon's original cluster.
      const restored = await clusters.find(staging);
      if (!restored) {
        return {
          status: 'failed',
          reason: `The cluster restored from the snapshot (${staging}) is gone; the addon keeps its data as it was`,
        };
      }
      const restoredInstances = await clusters.instancesOf(restored);
      const state = clusterStateOf(restored, restoredInstances);
      if (state.status === 'failed' || state.status === 'deleting') {
        await clusters.delete(restored);
        return {
          status: 'failed',
          reason: `${state.status === 'failed' ? state.reason : `DocumentDB is deleting ${staging}`}; the addon keeps its data as it was`,
        };
      }
      const originals = await clusters.instancesOf(current);
      if (restored.Status === 'available' && restoredInstances.length < originals.length) {
        // Step 2 (again, after a crash between two creates: the existing ones are skipped).
        await this.createInstances(restored, originals, staging);
        return { status: 'restoring' };
      }
      // Wait for the restored cluster, and for the current one to be idle (a rename is refused
      // while DocumentDB is, say, taking its automated backup).
      if (state.status !== 'available' || current.Status !== 'available') return { status: 'restoring' };
      // Step 3.
      await clusters.rename(resourceId, retired);
      return { status: 'restoring' };
    }

    // Between the renames: nothing answers to the addon's identifier.
    const old = await clusters.find(retired);
    const restored = await clusters.find(staging);
    if (old?.Status === 'available' && restored?.Status === 'available') {
      // Step 4.
      await clusters.rename(staging, resourceId);
    }
    // Otherwise a rename is in flight (DocumentDB shows `renaming`); the next call sees its result.
    return { status: 'restoring' };
  }

  /**
   * The workflow gave up on the restore. Before the swap: delete the staging cluster, and the
   * addon keeps its cluster and data. Between the renames: rename the original back first
   * (TransientError until DocumentDB has done it, so the compensation retries). After the swap:
   * the addon already runs on the snapshot's data; finish step 5 and report `completed`.
   */
  async discard(resourceId: string, restoreId: string): Promise<'discarded' | 'completed'> {
    const { staging, retired } = restoreIdentifiers(resourceId, restoreId);
    const { clusters } = this.props;
    const current = await clusters.find(resourceId);
    if (current && tagValue(await clusters.tagsOf(current), TAG_KEYS.restore) === restoreId) {
      await clusters.protect(current);
      const old = await clusters.find(retired);
      if (old && !(await clusters.delete(old))) {
        throw new TransientError(`DocumentDB does not let ${retired} be deleted yet`);
      }
      return 'completed';
    }
    if (!current) {
      const old = await clusters.find(retired);
      if (!old) {
        throw new ProviderError(`The addon's DocumentDB cluster ${resourceId} does not exist`, 'NotFound');
      }
      if (old.Status === 'available') await clusters.rename(retired, resourceId);
      throw new TransientError(`Renaming ${retired} back to ${resourceId} before discarding the restore`);
    }
    const restored = await clusters.find(staging);
    if (restored && !(await clusters.delete(restored))) {
      throw new TransientError(`DocumentDB does not let ${staging} be deleted yet`);
    }
    return 'discarded';
  }

  /** The restored cluster's instances: as many as the addon's cluster has, of the same classes. */
  private async createInstances(restored: DBCluster, originals: DBInstance[], staging: string) {
    const tags = addonTagsOf(await this.props.clusters.tagsOf(restored));
    const classes = originals.map((instance) => instance.DBInstanceClass).filter(Boolean) as string[];
    if (classes.length === 0) {
      throw new ProviderError(`The addon's DocumentDB cluster has no instances to copy`, 'NotFound');
    }
    const ids = nodeIdentifiers(staging, classes.length);
    for (const [index, id] of ids.entries()) {
      try {
        await this.props.docdb(
          new CreateDBInstanceCommand({
            DBInstanceIdentifier: id,
            DBClusterIdentifier: staging,
            DBInstanceClass: classes[index],
            Engine: 'docdb',
            AutoMinorVersionUpgrade: true,
            Tags: tags,
          }),
        );
      } catch (error) {
        if (isAwsError(error, 'DBInstanceAlreadyExists')) continue;
        throw toPlatformError(error, 'creating an instance of the restored DocumentDB cluster');
      }
    }
  }
}
