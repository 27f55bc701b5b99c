import { S3Client } from '@aws-sdk/client-s3';
import type { SnapshotProvider } from '#shared/ports/engine-provider.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';

/** Backup artifacts on an S3 client pointed nowhere: a test whose path reaches S3 fails. */
export const unreachableArtifacts = () =>
  new BackupArtifacts({
    client: new S3Client({ region: 'local', endpoint: 'http://127.0.0.1:9' }),
    bucket: 'b',
  });

/** A snapshot provider whose every call is refused with `reason`, except those in `allowed`. */
export const refusingSnapshots = (
  reason: string,
  allowed: Partial<SnapshotProvider> = {},
): SnapshotProvider => {
  const refuse = () => Promise.reject(new Error(reason));
  return {
    createSnapshot: refuse,
    describeSnapshot: refuse,
    deleteSnapshot: refuse,
    restoreSnapshot: refuse,
    describeRestore: refuse,
    discardRestore: refuse,
    ...allowed,
  };
};
