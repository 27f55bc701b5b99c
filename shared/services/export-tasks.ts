import * as z from 'zod/mini';
import { ProviderError } from '../errors.ts';
import type { BackupExporter } from '../providers/backup-export.ts';
import { TERMINAL_STATUSES } from '../schemas/operation.ts';
import type { AddonStore } from '../store/addon-store.ts';
import type { BackupStore } from '../store/backup-store.ts';
import { nowIso } from '../util/ids.ts';
import { CaughtErrorSchema, CleanupFailureFields, failureReason } from './workflow-tasks.ts';

const Ref = { projectId: z.string(), addonId: z.string(), operationId: z.string(), backupId: z.string() };

export const ExportTaskSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('exportBackup'), ...Ref }),
  z.object({ action: z.literal('failExport'), ...Ref, error: CaughtErrorSchema, ...CleanupFailureFields }),
]);
export type ExportTask = z.infer<typeof ExportTaskSchema>;

export interface ExportTaskDeps {
  store: AddonStore;
  backups: BackupStore;
  exporter: Pick<BackupExporter, 'copy' | 'readBackSha256'>;
}

/**
 * The export-backup workflow's steps: one copies the backup's file to the user's bucket and
 * checks the copy's SHA-256 against the backup's, the other records a failure. The addon is not
 * locked: an export reads a finished backup, which nothing changes (a delete of the backup waits
 * for nothing, and a copy that lost its source fails with the reason).
 *
 * Crash safety: the copy step is idempotent (the same key is written again), so Step Functions'
 * retries and a restarted local platform re-running the step resume the export; an operation
 * already ended is left as it is.
 */
export class ExportTasks {
  constructor(private readonly deps: ExportTaskDeps) {}

  run(task: ExportTask): Promise<unknown> {
    return task.action === 'exportBackup' ? this.exportBackup(task) : this.failExport(task);
  }

  private async exportBackup(task: Extract<ExportTask, { action: 'exportBackup' }>) {
    const { store } = this.deps;
    const operation = await store.getOperation(task.projectId, task.operationId);
    if (TERMINAL_STATUSES.includes(operation.status)) return {};
    const target = operation.export;
    if (!target) throw new ProviderError(`Operation ${operation.id} names no export target`, 'ExportFailed');
    await store.updateOperation(task.projectId, task.operationId, {
      status: 'in-progress',
      ...(operation.startedAt ? {} : { startedAt: nowIso() }),
      progress: { step: 'copying', percent: 10 },
    });
    const backup = await this.deps.backups.getBackup(task.projectId, task.backupId);
    if (!backup.artifact || !backup.sha256 || backup.sizeBytes === null) {
      throw new ProviderError(`Backup ${backup.id} has no file to export`, 'ExportFailed');
    }
    const destination = { bucket: target.bucket, key: target.key };
    const copied = await this.deps.exporter.copy(backup.artifact, destination, backup.sizeBytes);
    await store.updateOperation(task.projectId, task.operationId, {
      progress: { step: 'verifying', percent: 70 },
    });
    const verified = copied.sha256
      ? { sha256: copied.sha256, sizeBytes: backup.sizeBytes, verifiedBy: 's3-checksum' as const }
      : { ...(await this.deps.exporter.readBackSha256(destination)), verifiedBy: 'read-back' as const };
    if (verified.sha256 !== backup.sha256) {
      throw new ProviderError(
        `The copy in bucket '${target.bucket}' has SHA-256 ${verified.sha256}, the backup ${backup.sha256}: it was changed in transit or overwritten meanwhile; export again`,
        'ChecksumMismatch',
      );
    }
    await store.updateOperation(task.projectId, task.operationId, {
      status: 'completed',
      completedAt: nowIso(),
      progress: { step: 'completed', percent: 100 },
      export: { ...destination, ...verified },
    });
    return {};
  }

  private async failExport(task: Extract<ExportTask, { action: 'failExport' }>) {
    const reason = failureReason(task, 'export again');
    const operation = await this.deps.store.findOperation(task.projectId, task.operationId);
    if (operation && !TERMINAL_STATUSES.includes(operation.status)) {
      await this.deps.store.updateOperation(task.projectId, task.operationId, {
        status: 'failed',
        error: reason,
        completedAt: nowIso(),
      });
    }
    return { failed: true, reason };
  }
}
