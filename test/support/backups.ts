import { S3Client } from '@aws-sdk/client-s3';
import { EngineRegistry } from '#shared/engines/registry.ts';
import type {
  EngineAdapters,
  EngineProvider,
  SnapshotDeleter,
  SnapshotProvider,
} from '#shared/ports/engine-provider.ts';
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

/** A provider that refuses every call: for tests that only exercise snapshots. */
export const refusingProvider = (reason: string): EngineProvider => {
  const refuse = () => Promise.reject(new Error(reason));
  return { createInstance: refuse, describeInstance: refuse, deleteInstance: refuse };
};

/** The same adapters for every engine, as a composition root's registry would give them. */
export const engineAdapters = (adapters: Partial<EngineAdapters>): EngineRegistry<EngineAdapters> =>
  EngineRegistry.everyEngine('test engine', () => ({
    provider: adapters.provider ?? refusingProvider('no provider in this test'),
    snapshots: adapters.snapshots ?? refusingSnapshots('no snapshots in this test'),
    ...(adapters.replicas ? { replicas: adapters.replicas } : {}),
  }));

/** Every engine's snapshot backups deleted by `deleter`. */
export const snapshotDeleters = (deleter: SnapshotDeleter): EngineRegistry<SnapshotDeleter> =>
  EngineRegistry.everyEngine('test snapshots', () => deleter);
