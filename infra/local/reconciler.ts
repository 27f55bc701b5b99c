import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { EngineProvider, SnapshotProvider } from '#shared/ports/engine-provider.ts';
import type { WorkflowExecutions } from '#shared/ports/reconciler.ts';
import { DumpObjectLeftovers } from '#shared/providers/dump-leftovers.ts';
import {
  Reconciler,
  type ReconcilerAddonStore,
  type ReconcilerBackupStore,
  type ReconcilerDeps,
} from '#shared/services/reconciler.ts';
import { deadlinesFrom } from '#shared/services/reconciler-policy.ts';
import type { LocalConfig } from './config.ts';
import { EngineDirLeftovers, SecretFileLeftovers, SnapshotDirLeftovers } from './leftovers.ts';

/** The local target's reconciler: the shared service over the local runner, files and s3rver. */
export const createLocalReconciler = (props: {
  config: LocalConfig;
  store: ReconcilerAddonStore;
  backups: ReconcilerBackupStore;
  executions: WorkflowExecutions;
  supervisor: Pick<EngineProvider, 'deleteInstance'> & Pick<SnapshotProvider, 'deleteSnapshot'>;
  s3: S3Client;
  bucket: string;
  backupHealth?: ReconcilerDeps['backupHealth'];
}): Reconciler => {
  const { config } = props;
  return new Reconciler({
    store: props.store,
    backups: props.backups,
    executions: props.executions,
    backupHealth: props.backupHealth,
    sources: [
      new EngineDirLeftovers({ dataDir: config.dataDir, engines: props.supervisor }),
      new SnapshotDirLeftovers({ dataDir: config.dataDir, snapshots: props.supervisor }),
      new SecretFileLeftovers({ secretsDir: join(config.dataDir, 'secrets') }),
      new DumpObjectLeftovers({ client: props.s3, bucket: props.bucket, snapshotCopies: true }),
    ],
    settings: {
      deadlinesMs: deadlinesFrom('local', config.reconciler.deadlines),
      startGraceMs: config.reconciler.startGraceMs,
      leftoverMinAgeMs: config.reconciler.leftoverMinAgeMs,
    },
  });
};
