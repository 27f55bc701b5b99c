import {
  CreateDBClusterSnapshotCommand,
  DeleteDBClusterSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  type DocDBClient,
} from '@aws-sdk/client-docdb';
import { ProviderError } from '../../../errors.ts';
import type { SnapshotDeleter, SnapshotState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError, transientErrors } from '../aws-errors.ts';
import { TAG_KEYS } from '../tags.ts';
import type { DocdbSend } from './docdb-clusters.ts';

/** Snapshot statuses that end in `available` by waiting. */
const SNAPSHOT_PENDING_STATUSES = new Set(['creating', 'pending', 'copying']);

/** Delete a cluster snapshot; an absent one is already deleted. */
export const deleteClusterSnapshot = async (docdb: DocdbSend, snapshotId: string): Promise<void> => {
  try {
    await docdb(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: snapshotId }));
  } catch (error) {
    if (isAwsError(error, 'DBClusterSnapshotNotFound')) return;
    throw toPlatformError(error, 'deleting the DocumentDB cluster snapshot');
  }
};

/**
 * The snapshot deleter of the functions that only delete snapshots (the backups API, the
 * retention sweep): a DocumentDB client, not the provisioning settings of the workflow function.
 */
export class DocdbSnapshotDeleter implements SnapshotDeleter {
  constructor(private readonly docdb: DocDBClient) {}

  deleteSnapshot(snapshotId: string): Promise<void> {
    return deleteClusterSnapshot(transientErrors(this.docdb, 'DocumentDB'), snapshotId);
  }
}

/**
 * Manual cluster snapshots of addon clusters. DocumentDB snapshots are of the cluster's shared
 * storage volume (incremental, like Aurora's); they count against the same per-Region manual
 * snapshot quota as RDS's.
 */
export class DocdbSnapshots {
  constructor(
    private readonly docdb: DocdbSend,
    /** Value of the `addons:deployment` tag. */
    private readonly deployment: string,
  ) {}

  async create(clusterId: string, snapshotId: string): Promise<void> {
    try {
      await this.docdb(
        new CreateDBClusterSnapshotCommand({
          DBClusterSnapshotIdentifier: snapshotId,
          DBClusterIdentifier: clusterId,
          Tags: [
            { Key: TAG_KEYS.deployment, Value: this.deployment },
            { Key: TAG_KEYS.source, Value: clusterId },
          ],
        }),
      );
    } catch (error) {
      // A retried task: the first attempt got through.
      if (isAwsError(error, 'DBClusterSnapshotAlreadyExists')) return;
      if (isAwsError(error, 'SnapshotQuotaExceeded')) {
        throw new ProviderError(
          'DocumentDB keeps at most 100 manual cluster snapshots per Region and account, and this one would exceed it. Delete snapshot backups you no longer need, take a dump backup instead, or ask for a higher quota in Service Quotas.',
          'QuotaExceeded',
          { cause: error },
        );
      }
      throw toPlatformError(error, 'taking the DocumentDB cluster snapshot');
    }
  }

  async describe(snapshotId: string): Promise<SnapshotState> {
    let status: string | undefined;
    let found = false;
    try {
      const result = await this.docdb(
        new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: snapshotId }),
      );
      const snapshot = result.DBClusterSnapshots?.[0];
      found = snapshot !== undefined;
      status = snapshot?.Status;
    } catch (error) {
      if (isAwsError(error, 'DBClusterSnapshotNotFound')) return { status: 'absent' };
      throw toPlatformError(error, 'looking up the DocumentDB cluster snapshot');
    }
    if (!found || status === 'deleting') return { status: 'absent' };
    // DocumentDB reports no size for a cluster snapshot (its storage is shared and incremental).
    if (status === 'available') return { status: 'available', sizeBytes: null };
    if (status === undefined || SNAPSHOT_PENDING_STATUSES.has(status)) return { status: 'creating' };
    return { status: 'failed', reason: `DocumentDB reports cluster snapshot ${snapshotId} as ${status}` };
  }
}
