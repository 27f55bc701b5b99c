import {
  CreateDBSnapshotCommand,
  DeleteDBSnapshotCommand,
  DescribeDBSnapshotsCommand,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { ProviderError } from '../../../errors.ts';
import type { SnapshotDeleter, SnapshotState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError, transientErrors } from '../aws-errors.ts';
import { TAG_KEYS } from '../tags.ts';
import type { RdsSend } from './rds-instances.ts';

/** Snapshot statuses that end in `available` by waiting. */
const SNAPSHOT_PENDING_STATUSES = new Set(['creating', 'pending', 'copying']);

/** Delete a DB snapshot; an absent one is already deleted. */
export const deleteDbSnapshot = async (rds: RDSClient, snapshotId: string): Promise<void> => {
  try {
    await transientErrors(rds, 'RDS')(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: snapshotId }));
  } catch (error) {
    if (isAwsError(error, 'DBSnapshotNotFound')) return;
    throw toPlatformError(error, 'deleting the snapshot');
  }
};

/**
 * The snapshot deleter of the functions that only delete snapshots (the backups API, the
 * retention sweep): they need an RDS client, not the provisioning settings of the workflow
 * function. DB snapshots are deleted the same way whatever the engine.
 */
export class RdsSnapshotDeleter implements SnapshotDeleter {
  constructor(private readonly rds: RDSClient) {}

  deleteSnapshot(snapshotId: string): Promise<void> {
    return deleteDbSnapshot(this.rds, snapshotId);
  }
}

/** Manual DB snapshots of addon instances, the same for every RDS engine. */
export class RdsSnapshots {
  constructor(
    private readonly rds: RdsSend,
    /** Value of the `addons:deployment` tag. */
    private readonly deployment: string,
  ) {}

  async create(resourceId: string, snapshotId: string): Promise<void> {
    try {
      await this.rds(
        new CreateDBSnapshotCommand({
          DBSnapshotIdentifier: snapshotId,
          DBInstanceIdentifier: resourceId,
          // Explicit tags replace the ones CopyTagsToSnapshot would copy: keep the deployment's.
          Tags: [
            { Key: TAG_KEYS.deployment, Value: this.deployment },
            { Key: TAG_KEYS.source, Value: resourceId },
          ],
        }),
      );
    } catch (error) {
      // A retried task: the first attempt got through.
      if (isAwsError(error, 'DBSnapshotAlreadyExists')) return;
      if (isAwsError(error, 'SnapshotQuotaExceeded')) {
        throw new ProviderError(
          'RDS keeps at most 100 manual snapshots per Region and account, and this one would exceed it. Delete snapshot backups you no longer need, take a dump backup instead, or ask for a higher quota in Service Quotas.',
          'QuotaExceeded',
          { cause: error },
        );
      }
      throw toPlatformError(error, 'taking the snapshot');
    }
  }

  async describe(snapshotId: string): Promise<SnapshotState> {
    let snapshot: { Status?: string; AllocatedStorage?: number } | undefined;
    try {
      const result = await this.rds(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: snapshotId }));
      snapshot = result.DBSnapshots?.[0];
    } catch (error) {
      if (isAwsError(error, 'DBSnapshotNotFound')) return { status: 'absent' };
      throw toPlatformError(error, 'looking up the snapshot');
    }
    const status = snapshot?.Status;
    if (!snapshot || status === 'deleting') return { status: 'absent' };
    if (status === 'available') {
      // RDS does not report a snapshot's own (incremental) size; the allocated storage of the
      // instance it was taken from is what a restore needs, so that is what we show.
      const size = snapshot.AllocatedStorage;
      return { status: 'available', sizeBytes: size ? size * 1024 ** 3 : null };
    }
    if (status === undefined || SNAPSHOT_PENDING_STATUSES.has(status)) return { status: 'creating' };
    return { status: 'failed', reason: `RDS reports snapshot ${snapshotId} as ${status}` };
  }
}
