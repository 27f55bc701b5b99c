import { importPathOf } from '../catalog/engines.ts';
import type { EngineRegistry } from '../engines/registry.ts';
import { ConflictError, ProviderError } from '../errors.ts';
import type { EngineAdapters, SnapshotProvider } from '../ports/engine-provider.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { ImportObjects } from '../providers/import-uploads.ts';
import type { JobSpec } from '../schemas/job.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import type { ImportRecord, ImportStore } from '../store/import-store.ts';
import { nowIso } from '../util/ids.ts';
import type { BackupTask } from './backup-workflow-tasks.ts';
import { forgetLiveSource, liveImportJob } from './live-imports.ts';
import { discardOrFollowRestore, finishRestoreOperation, judgeRestore } from './restore-endpoint.ts';
import { failureReason } from './workflow-tasks.ts';

/** The restore actions; an import-sourced restore runs each of them here. */
export const RESTORE_ACTIONS = [
  'startRestore',
  'restoreSnapshot',
  'describeRestore',
  'prepareRestoreJob',
  'completeRestore',
  'failRestore',
] as const;
type RestoreAction = (typeof RESTORE_ACTIONS)[number];
export type RestoreTask = Extract<BackupTask, { action: RestoreAction }>;
type Task<A extends RestoreAction> = Extract<RestoreTask, { action: A }>;

/** The restore workflow's `backupId` names an import when it is an import id (`imp-...`). */
export const isImportSource = (task: BackupTask): boolean =>
  (RESTORE_ACTIONS as readonly string[]).includes(task.action) && task.backupId.startsWith('imp-');

export interface ImportTaskDeps {
  store: AddonStore;
  imports: ImportStore;
  uploads: ImportObjects;
  engines: EngineRegistry<EngineAdapters>;
  /** The target of the import (the catalog says which engines load files with a job). */
  target: 'aws' | 'local';
  /** The connection details, rewritten when the restore moves the addon (ElastiCache: a new group). */
  secrets?: SecretStore | undefined;
  /** Where live-import jobs run (AWS: subnets with a NAT route, a group with database-port egress). */
  liveImportNetwork?: { subnets: string[]; securityGroups: string[] } | undefined;
}

/**
 * The restore workflow's steps when its source is an uploaded file rather than a backup. A dump
 * (PostgreSQL, MySQL) is loaded by the same restore job as a dump backup, all or nothing; an RDB
 * (Redis) first becomes a provider snapshot (`importSnapshot`), then is restored as snapshots are.
 * The uploaded object is deleted once its data is in the addon, kept after a failure for a retry.
 */
export class ImportRestoreTasks {
  constructor(
    private readonly deps: ImportTaskDeps,
    /** The RunTask parameters of a job for this addon (the backup tasks' `launch`). */
    private readonly launch: (spec: JobSpec, addon: AddonRecord) => unknown,
  ) {}

  run(task: RestoreTask): Promise<unknown> {
    switch (task.action) {
      case 'startRestore':
        return this.startRestore(task);
      case 'restoreSnapshot':
        return this.restoreSnapshot(task);
      case 'describeRestore':
        return this.describeRestore(task);
      case 'prepareRestoreJob':
        return this.prepareRestoreJob(task);
      case 'completeRestore':
        return this.completeRestore(task);
      case 'failRestore':
        return this.failRestore(task);
      default: {
        const exhaustive: never = task;
        throw new Error(`Unknown import task ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  private addonAndImport(task: { projectId: string; addonId: string; backupId: string }) {
    return Promise.all([
      this.deps.store.getAddon(task.projectId, task.addonId),
      this.deps.imports.getImport(task.projectId, task.backupId),
    ]);
  }

  private snapshotsOf(record: Pick<ImportRecord, 'engine'>): SnapshotProvider {
    return this.deps.engines.of(record.engine).snapshots;
  }

  /** The snapshot an RDB upload becomes: named after the addon's instance and the import. */
  private snapshotIdOf(addon: AddonRecord, record: ImportRecord): string {
    return `${addon.resourceId}-${record.id}`.slice(0, 200);
  }

  private progress(task: { projectId: string; operationId: string }, step: string, percent: number) {
    return this.deps.store.updateOperation(task.projectId, task.operationId, { progress: { step, percent } });
  }

  private async startRestore(task: Task<'startRestore'>) {
    const operation = await this.deps.store.getOperation(task.projectId, task.operationId);
    if (operation.status === 'pending') {
      await this.deps.store.updateOperation(task.projectId, task.operationId, {
        status: 'in-progress',
        startedAt: nowIso(),
        progress: { step: 'importing', percent: 5 },
      });
    }
    const record = await this.deps.imports.getImport(task.projectId, task.backupId);
    return { type: importPathOf(record.engine, this.deps.target), compression: record.compression };
  }

  private async restoreSnapshot(task: Task<'restoreSnapshot'>) {
    await this.progress(task, 'loading-upload', 10);
    const [addon, record] = await this.addonAndImport(task);
    const snapshots = this.snapshotsOf(record);
    if (!snapshots.importSnapshot) {
      throw new ProviderError(
        `${record.engine} snapshots cannot be made from an uploaded file here`,
        'Unsupported',
      );
    }
    const snapshotId = this.snapshotIdOf(addon, record);
    if (record.snapshotId !== snapshotId) await this.deps.imports.updateImport(record, { snapshotId });
    await snapshots.importSnapshot(addon.resourceId, snapshotId, record.object);
    await this.progress(task, 'restoring-snapshot', 40);
    await snapshots.restoreSnapshot(addon.resourceId, snapshotId, task.operationId);
    return {};
  }

  private async describeRestore(task: Task<'describeRestore'>) {
    const [addon, record] = await this.addonAndImport(task);
    const state = await this.snapshotsOf(record).describeRestore(
      addon.resourceId,
      this.snapshotIdOf(addon, record),
      task.operationId,
    );
    return judgeRestore(this.deps, state, task, addon, 'The import');
  }

  private async prepareRestoreJob(task: Task<'prepareRestoreJob'>) {
    await this.progress(task, 'restoring-dump', 20);
    const [addon, record] = await this.addonAndImport(task);
    if (record.kind === 'live')
      return liveImportJob(this.launch, this.deps.liveImportNetwork, task, addon, record);
    // Imports started before contents were detected were compressed custom-format dumps.
    if (!record.compression && !record.contents) {
      throw new ProviderError(`Import ${record.id} has no known compression`);
    }
    const format = record.contents === 'redis-rdb' ? undefined : (record.contents ?? undefined);
    return this.launch(
      {
        kind: 'restore',
        operationId: task.operationId,
        projectId: task.projectId,
        addonId: task.addonId,
        backupId: record.id,
        engine: addon.engine,
        artifact: record.object,
        compression: record.compression ?? 'none',
        ...(format ? { format } : {}),
        // Verified when the user gave it; else the job checks the size S3 reports.
        ...(record.sha256 ? { expectedSha256: record.sha256 } : {}),
      },
      addon,
    );
  }

  /** The snapshot made of the upload is only a means: it goes once the restore is over. */
  private async dropSnapshot(record: ImportRecord) {
    if (record.snapshotId) await this.snapshotsOf(record).deleteSnapshot(record.snapshotId);
  }

  private async completeRestore(task: RestoreTask) {
    const record = await this.deps.imports.getImport(task.projectId, task.backupId);
    if (record.status === 'importing') {
      await this.deps.imports.updateImport(
        record,
        { status: 'completed', completedAt: nowIso(), error: null },
        ['importing'],
      );
    }
    await this.dropSnapshot(record);
    await this.deps.uploads.delete(record.object);
    await forgetLiveSource(this.deps.secrets, record);
    return this.finish(task, null);
  }

  /**
   * A failed import changes nothing: a snapshot restore still running is discarded first (one that
   * had finished is kept and reported completed). The uploaded file stays for a retry.
   */
  private async failRestore(task: Task<'failRestore'>) {
    const [addon, record] = await Promise.all([
      this.deps.store.findAddon(task.projectId, task.addonId),
      this.deps.imports.findImport(task.projectId, task.backupId),
    ]);
    if (!task.skipCleanup && addon && record?.snapshotId) {
      const outcome = await discardOrFollowRestore(
        this.deps,
        this.deps.engines.of(addon.engine),
        { ...task, snapshotId: record.snapshotId },
        addon,
      );
      if (outcome === 'completed') {
        return this.completeRestore(task);
      }
      await this.dropSnapshot(record);
    }
    const reason = failureReason(task, 'start the import again or contact an operator');
    if (record?.status === 'importing') {
      await this.deps.imports
        .updateImport(record, { status: 'failed', error: reason, completedAt: nowIso() }, ['importing'])
        .catch((error: unknown) => {
          if (!(error instanceof ConflictError)) throw error;
        });
    }
    // A live import's connection string goes with its failure: a retry is a new import.
    if (record) await forgetLiveSource(this.deps.secrets, record);
    return this.finish(task, reason);
  }

  private finish(task: RestoreTask, reason: { code: string; message: string } | null) {
    return finishRestoreOperation(this.deps.store, task, reason);
  }
}
