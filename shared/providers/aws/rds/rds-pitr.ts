import {
  type DBInstanceAutomatedBackup,
  DescribeDBInstanceAutomatedBackupsCommand,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { ProviderError } from '../../../errors.ts';
import type { RestorableWindow } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError, transientErrors } from '../aws-errors.ts';
import { RdsInstances, type RdsSend } from './rds-instances.ts';

/*
 * Point-in-time recovery on RDS comes from its automated backups (daily snapshots plus
 * transaction logs shipped every five minutes, kept `BackupRetentionPeriod` days):
 *
 * - the window: `LatestRestorableTime` of the instance (DescribeDBInstances), and the
 *   `RestoreWindow.EarliestTime` of its automated backups (DescribeDBInstanceAutomatedBackups, by
 *   the instance's DbiResourceId, which a rename does not change);
 * - a deleted instance (a fork of a deleted addon): its automated backups are `retained`
 *   (the platform deletes instances with `DeleteAutomatedBackups: false`) until their retention
 *   ends, and are restored from by `SourceDbiResourceId`, their window being `RestoreWindow`.
 *
 * The restore itself is RestoreDBInstanceToPointInTime into the restore's staging instance, then
 * the same swap as a snapshot restore (`RdsRestoreSwap.startPointInTime`).
 */

/** The automated backups of a live instance, by its DbiResourceId (none yet: []). */
const automatedBackupsOf = async (
  rds: RdsSend,
  dbiResourceId: string,
): Promise<DBInstanceAutomatedBackup[]> => {
  try {
    const result = await rds(new DescribeDBInstanceAutomatedBackupsCommand({ DbiResourceId: dbiResourceId }));
    return result.DBInstanceAutomatedBackups ?? [];
  } catch (error) {
    if (isAwsError(error, 'DBInstanceAutomatedBackupNotFound')) return [];
    throw toPlatformError(error, 'looking up the automated backups');
  }
};

/**
 * The retained automated backups of a deleted instance, the ones with the latest window (a name
 * used again has several). DescribeDBInstanceAutomatedBackups' DBInstanceIdentifier must name an
 * existing instance, so the retained ones are listed (a filter on status) and matched by name.
 */
const retainedBackupOf = async (
  rds: RdsSend,
  resourceId: string,
): Promise<DBInstanceAutomatedBackup | undefined> => {
  const retained: DBInstanceAutomatedBackup[] = [];
  let marker: string | undefined;
  try {
    do {
      const page = await rds(
        new DescribeDBInstanceAutomatedBackupsCommand({
          Filters: [{ Name: 'status', Values: ['retained'] }],
          ...(marker ? { Marker: marker } : {}),
        }),
      );
      for (const backup of page.DBInstanceAutomatedBackups ?? []) {
        if (backup.DBInstanceIdentifier === resourceId && backup.RestoreWindow?.LatestTime)
          retained.push(backup);
      }
      marker = page.Marker;
    } while (marker);
  } catch (error) {
    throw toPlatformError(error, 'looking up the retained automated backups');
  }
  const latest = (backup: DBInstanceAutomatedBackup) => backup.RestoreWindow?.LatestTime?.getTime() ?? 0;
  return retained.sort((a, b) => latest(b) - latest(a))[0];
};

const windowOf = (earliest: Date | undefined, latest: Date | undefined): RestorableWindow | null =>
  earliest && latest && earliest <= latest
    ? { earliestRestorableTime: earliest.toISOString(), latestRestorableTime: latest.toISOString() }
    : null;

/** The window of an RDS instance, or of the retained automated backups of a deleted one; null when none. */
export const describeRdsRestorableWindow = async (
  rds: RdsSend,
  instances: RdsInstances,
  resourceId: string,
): Promise<RestorableWindow | null> => {
  const instance = await instances.find(resourceId);
  if (!instance) {
    const retained = await retainedBackupOf(rds, resourceId);
    return windowOf(retained?.RestoreWindow?.EarliestTime, retained?.RestoreWindow?.LatestTime);
  }
  // Automated backups off, or none taken yet (a new instance): no window.
  if (!instance.BackupRetentionPeriod || !instance.LatestRestorableTime || !instance.DbiResourceId) {
    return null;
  }
  const [backup] = await automatedBackupsOf(rds, instance.DbiResourceId);
  return windowOf(backup?.RestoreWindow?.EarliestTime, instance.LatestRestorableTime);
};

/**
 * What RestoreDBInstanceToPointInTime restores from: the source instance by name while it exists,
 * else its retained automated backups by DbiResourceId.
 */
export const pointInTimeSourceOf = async (
  rds: RdsSend,
  instances: RdsInstances,
  sourceResourceId: string,
): Promise<{ SourceDBInstanceIdentifier: string } | { SourceDbiResourceId: string }> => {
  if (await instances.find(sourceResourceId)) return { SourceDBInstanceIdentifier: sourceResourceId };
  const retained = await retainedBackupOf(rds, sourceResourceId);
  if (!retained?.DbiResourceId) {
    throw new ProviderError(
      `The database instance ${sourceResourceId} is gone and RDS keeps no automated backups of it: there is nothing to restore from`,
      'NotFound',
    );
  }
  return { SourceDbiResourceId: retained.DbiResourceId };
};

/**
 * The restorable windows of RDS addons, for the API functions (GET of an addon, the restore's
 * window check): they need an RDS client and read-only calls, not the provisioning settings.
 */
export class RdsRestorableWindows {
  private readonly rds: RdsSend;
  private readonly instances: RdsInstances;

  constructor(client: RDSClient) {
    this.rds = transientErrors(client, 'RDS');
    this.instances = new RdsInstances(this.rds);
  }

  describeRestorableWindow(resourceId: string): Promise<RestorableWindow | null> {
    return describeRdsRestorableWindow(this.rds, this.instances, resourceId);
  }
}
