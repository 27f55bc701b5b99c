import {
  type DBCluster,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  type DocDBClient,
  ListTagsForResourceCommand,
  type Tag,
} from '@aws-sdk/client-docdb';
import { TransientError } from '../../../errors.ts';
import type { Leftover, LeftoverSource } from '../../../ports/reconciler.ts';
import { addonIdOf, renameSwapLeftovers, snapshotOwnerOf } from '../addon-resource-names.ts';
import { isAwsError, toPlatformError, transientErrors } from '../aws-errors.ts';
import { TAG_KEYS } from '../tags.ts';
import { DELETING_STATUSES, DocdbClusters, type DocdbSend, tagValue } from './docdb-clusters.ts';
import { DocdbReplicas, readersOf } from './docdb-replicas.ts';
import { deleteClusterSnapshot } from './docdb-snapshots.ts';

/** DescribeDBClusters and DescribeDBClusterSnapshots return no tags: ListTagsForResource. */
const tagsOf = async (docdb: DocdbSend, arn: string | undefined): Promise<Tag[]> => {
  if (!arn) return [];
  try {
    return (await docdb(new ListTagsForResourceCommand({ ResourceName: arn }))).TagList ?? [];
  } catch (error) {
    if (isAwsError(error, 'DBClusterNotFound', 'DBClusterSnapshotNotFound')) return [];
    throw toPlatformError(error, `reading the tags of ${arn}`);
  }
};

/**
 * DocumentDB clusters of this deployment (tag `addons:deployment`): the addon's own cluster and the
 * staging and retired clusters of a snapshot restore. Removal deletes the instances, then the
 * cluster, without a final snapshot, like the delete workflow; a cluster DocumentDB does not let go
 * of yet (instances not deleting yet) throws, and the next run carries on. The readers of an
 * addon's own cluster are listed too (`db-instance`, numbered 1..n as `readersOf` orders them):
 * one above the addon's count while no operation runs (a removal whose compensation kept failing)
 * is deleted alone.
 */
export class DocdbClusterLeftovers implements LeftoverSource {
  readonly name = 'DocumentDB clusters';
  private readonly docdb: DocdbSend;
  private readonly clusters: DocdbClusters;
  private readonly readers: DocdbReplicas;

  constructor(private readonly props: { docdb: DocDBClient; deployment: string }) {
    this.docdb = transientErrors(props.docdb, 'DocumentDB');
    this.clusters = new DocdbClusters(this.docdb);
    this.readers = new DocdbReplicas(this.docdb, this.clusters);
  }

  private async ours(): Promise<DBCluster[]> {
    const found: DBCluster[] = [];
    let marker: string | undefined;
    do {
      const page = await this.docdb(
        new DescribeDBClustersCommand({ Filters: [{ Name: 'engine', Values: ['docdb'] }], Marker: marker }),
      );
      for (const cluster of page.DBClusters ?? []) {
        if (!cluster.DBClusterIdentifier?.startsWith('addon-')) continue;
        if (DELETING_STATUSES.has(cluster.Status ?? '')) continue;
        const tags = await tagsOf(this.docdb, cluster.DBClusterArn);
        if (tagValue(tags, TAG_KEYS.deployment) === this.props.deployment) found.push(cluster);
      }
      marker = page.Marker;
    } while (marker);
    return found;
  }

  async list(): Promise<Leftover[]> {
    // Named and restored as the RDS engines' instances are (rename swaps).
    const clusters = await this.ours();
    const found = renameSwapLeftovers(
      'db-cluster',
      clusters.map((cluster) => ({
        id: cluster.DBClusterIdentifier as string,
        createdAt: cluster.ClusterCreateTime ?? new Date(),
      })),
    );
    for (const cluster of clusters) {
      const addonId = addonIdOf(cluster.DBClusterIdentifier as string);
      if (!addonId || (cluster.DBClusterMembers?.length ?? 0) < 2) continue;
      const readers = readersOf(cluster, await this.clusters.instancesOf(cluster));
      for (const [index, reader] of readers.entries()) {
        if (DELETING_STATUSES.has(reader.DBInstanceStatus ?? '')) continue;
        found.push({
          kind: 'db-instance',
          id: reader.DBInstanceIdentifier as string,
          createdAt: reader.InstanceCreateTime ?? new Date(),
          owner: { kind: 'replica', addonId, number: index + 1 },
        });
      }
    }
    return found;
  }

  async remove(leftover: Leftover): Promise<void> {
    // A reader: deleted alone (its cluster, when it goes too, deletes its instances itself).
    if (leftover.kind === 'db-instance') return this.readers.delete(leftover.id);
    const cluster = await this.clusters.find(leftover.id);
    if (cluster && !(await this.clusters.delete(cluster))) {
      throw new TransientError(`DocumentDB does not let leftover cluster ${leftover.id} be deleted yet`);
    }
  }
}

/** Manual cluster snapshots of this deployment named after a backup. */
export class DocdbSnapshotLeftovers implements LeftoverSource {
  readonly name = 'DocumentDB cluster snapshots';
  private readonly docdb: DocdbSend;

  constructor(private readonly props: { docdb: DocDBClient; deployment: string }) {
    this.docdb = transientErrors(props.docdb, 'DocumentDB');
  }

  async list(): Promise<Leftover[]> {
    const found: Leftover[] = [];
    let marker: string | undefined;
    do {
      const page = await this.docdb(
        new DescribeDBClusterSnapshotsCommand({ SnapshotType: 'manual', Marker: marker }),
      );
      for (const snapshot of page.DBClusterSnapshots ?? []) {
        const owner = snapshotOwnerOf(snapshot.DBClusterSnapshotIdentifier ?? '');
        if (!owner || snapshot.Status === 'deleting') continue;
        const tags = await tagsOf(this.docdb, snapshot.DBClusterSnapshotArn);
        if (tagValue(tags, TAG_KEYS.deployment) !== this.props.deployment) continue;
        found.push({
          kind: 'db-snapshot',
          id: snapshot.DBClusterSnapshotIdentifier as string,
          createdAt: snapshot.SnapshotCreateTime ?? new Date(),
          owner: { kind: 'backup', ...owner },
        });
      }
      marker = page.Marker;
    } while (marker);
    return found;
  }

  remove(leftover: Leftover): Promise<void> {
    return deleteClusterSnapshot(this.docdb, leftover.id);
  }
}
