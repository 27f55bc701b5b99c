import { hasCapability } from '../catalog/engines.ts';
import { engineFacts } from '../engines/index.ts';
import { ConflictError, NotFoundError, UnsupportedError } from '../errors.ts';
import type { WorkflowStarter } from '../ports/workflow-starter.ts';
import type { Backup } from '../schemas/backup.ts';
import type { Target } from '../schemas/catalog.ts';
import type { ExportBackupRequest } from '../schemas/export.ts';
import type { Operation } from '../schemas/operation.ts';
import type { AddonStore } from '../store/addon-store.ts';
import type { BackupRecord, BackupStore } from '../store/backup-store.ts';
import { nowIso } from '../util/ids.ts';
import { userFacingMessage } from '../util/redact.ts';
import { toBackup } from './backup-records.ts';
import { newOperation } from './operation-lock.ts';

export interface ExportServiceDeps {
  store: AddonStore;
  backups: BackupStore;
  workflows: WorkflowStarter;
  target: Target;
}

/**
 * The key an export writes: always under the project id, so the user's bucket policy can let
 * the platform write `<projectId>/*` only, and no other project can be made to write there.
 */
export const exportKeyOf = (backup: BackupRecord, prefix: string | undefined): string => {
  const facts = engineFacts(backup.engine);
  const file =
    backup.type === 'snapshot'
      ? `${backup.id}.${facts.dumpExtension}`
      : `${backup.id}.${facts.dumpExtension}.${backup.compression === 'gzip' ? 'gz' : 'zst'}`;
  const folder = prefix ? `${prefix.replace(/\/+$/, '')}/` : '';
  return `${backup.projectId}/${folder}${backup.addonName ?? backup.addonId}/${file}`;
};

/**
 * Exports: a completed backup's file (a dump, or a snapshot's downloadable copy) copied to a
 * bucket the user owns, as an operation of the export-backup workflow. The addon is not locked
 * (the backup, not the addon, is read), and a deleted addon's backups can be exported during their
 * grace period as they can be downloaded.
 */
export class ExportService {
  constructor(private readonly deps: ExportServiceDeps) {}

  async start(
    projectId: string,
    addonId: string,
    backupId: string,
    request: ExportBackupRequest,
  ): Promise<{ backup: Backup; operation: Operation }> {
    const backup = await this.deps.backups.getBackup(projectId, backupId);
    if (backup.addonId !== addonId) {
      throw new NotFoundError(`Backup '${backupId}' was not found for addon '${addonId}'`);
    }
    const facts = engineFacts(backup.engine);
    if (backup.type === 'snapshot' && !hasCapability(backup.engine, this.deps.target, 'snapshotDownload')) {
      throw new UnsupportedError(
        `${facts.catalog.displayName} snapshots are storage-level copies and cannot be exported; export a dump backup`,
        [{ path: 'backupId', message: 'is a snapshot without a downloadable copy' }],
      );
    }
    if (backup.status !== 'completed') {
      throw new ConflictError(
        `Backup ${backupId} is ${backup.status}; only a completed backup can be exported`,
        {
          field: 'status',
        },
      );
    }
    if (!backup.artifact || backup.sha256 === null || backup.sizeBytes === null) {
      throw new UnsupportedError('This backup has no file to export', [
        { path: 'backupId', message: 'has no file to export' },
      ]);
    }
    const operation: Operation = {
      ...newOperation('export', projectId, addonId),
      backupId,
      export: {
        bucket: request.bucket,
        key: exportKeyOf(backup, request.prefix),
        sha256: null,
        sizeBytes: null,
        verifiedBy: null,
      },
    };
    await this.deps.store.putOperation(operation);
    try {
      await this.deps.workflows.start({
        workflow: 'export-backup',
        input: { projectId, addonId, operationId: operation.id, backupId },
      });
    } catch (error) {
      await this.deps.store.updateOperation(projectId, operation.id, {
        status: 'failed',
        error: {
          code: 'ExportStartFailed',
          message: `The export could not be started: ${userFacingMessage(error)}`,
        },
        completedAt: nowIso(),
      });
      throw error;
    }
    return { backup: toBackup(backup), operation };
  }
}
