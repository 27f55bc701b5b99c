import {
  DeleteDBClusterCommand,
  DeleteDBClusterSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  DocDBClient,
  ListTagsForResourceCommand,
  ModifyDBClusterCommand,
} from '@aws-sdk/client-docdb';
import { mockClient } from 'aws-sdk-client-mock';
import type { BackupRecord, BackupStore } from '#shared/store/backup-store.ts';
import { newId, nowIso } from '#shared/util/ids.ts';
import type { AwsCall } from './iam.ts';

type Recorder = (service: AwsCall['service'], command: string) => (input: object) => object;
type TaggedRecorder = (
  service: AwsCall['service'],
  command: string,
  idOf: (input: Record<string, unknown>) => unknown,
) => (input: Record<string, unknown>) => object;

const arnOf = (kind: string, id: string) => `arn:aws:rds:eu-west-1:123456789012:${kind}:${id}`;

/**
 * DocumentDB for the functions' IAM checks (api-iam.test.ts): what the backups API and the sweep
 * send to delete a MongoDB snapshot backup, and what the reconciler sends to find and remove a
 * leftover cluster and cluster snapshot of an addon that is gone. Calls are recorded as `rds`
 * calls (DocumentDB's IAM actions are RDS's).
 */
export const installDocdbFakes = (
  record: Recorder,
  recordTagged: TaggedRecorder,
  gone: { resourceId: string; backupId: string; deployment: () => string; since: Date },
) => {
  const docdb = mockClient(DocDBClient);
  const snapshotId = `${gone.resourceId}-${gone.backupId}`;
  docdb.on(DescribeDBClustersCommand).callsFake((input) => {
    record('rds', 'DescribeDBClusters')(input);
    return {
      DBClusters: [
        {
          DBClusterIdentifier: gone.resourceId,
          DBClusterArn: arnOf('cluster', gone.resourceId),
          Status: 'available',
          DeletionProtection: true,
          DBClusterMembers: [],
          ClusterCreateTime: gone.since,
        },
      ],
    };
  });
  docdb.on(DescribeDBClusterSnapshotsCommand).callsFake((input) => {
    record('rds', 'DescribeDBClusterSnapshots')(input);
    return {
      DBClusterSnapshots: [
        {
          DBClusterSnapshotIdentifier: snapshotId,
          DBClusterSnapshotArn: arnOf('cluster-snapshot', snapshotId),
          Status: 'available',
          SnapshotCreateTime: gone.since,
        },
      ],
    };
  });
  docdb.on(ListTagsForResourceCommand).callsFake((input) => {
    record('rds', 'ListTagsForResource')(input);
    return { TagList: [{ Key: 'addons:deployment', Value: gone.deployment() }] };
  });
  docdb
    .on(ModifyDBClusterCommand)
    .callsFake(recordTagged('rds', 'ModifyDBCluster', (input) => input.DBClusterIdentifier));
  docdb
    .on(DeleteDBClusterCommand)
    .callsFake(recordTagged('rds', 'DeleteDBCluster', (input) => input.DBClusterIdentifier));
  docdb
    .on(DeleteDBClusterSnapshotCommand)
    .callsFake(recordTagged('rds', 'DeleteDBClusterSnapshot', (input) => input.DBClusterSnapshotIdentifier));
  return docdb;
};

/**
 * A completed MongoDB snapshot backup beside `like` (another backup of the addon), as the
 * backup-addon workflow leaves it: deleting it goes to DocumentDB. `expiresAt` makes it the
 * retention sweep's.
 */
export const putMongodbSnapshotBackup = async (
  backups: BackupStore,
  like: BackupRecord,
  resourceId: string,
  expiresAt: string | null = null,
): Promise<string> => {
  const id = newId('bkp');
  await backups.putBackup({
    ...like,
    id,
    engine: 'mongodb',
    engineVersion: '5.0',
    status: 'completed',
    type: 'snapshot',
    compression: null,
    snapshotId: `${resourceId}-${id}`,
    artifact: null,
    completedAt: nowIso(),
    expiresAt,
  });
  return id;
};
