import * as z from 'zod/mini';
import { hasCapability } from '../catalog/engines.ts';
import { engineFacts } from '../engines/index.ts';
import type { EngineRegistry } from '../engines/registry.ts';
import { ProviderError } from '../errors.ts';
import type { EngineAdapters, SnapshotProvider } from '../ports/engine-provider.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { BackupArtifacts } from '../providers/backup-artifacts.ts';
import type { BackupStatus } from '../schemas/backup.ts';
import type { Target } from '../schemas/catalog.ts';
import type { JobLaunchConfig, JobSpec } from '../schemas/job.ts';
import { TERMINAL_STATUSES } from '../schemas/operation.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import type { BackupRecord, BackupStore } from '../store/backup-store.ts';
import { nowIso } from '../util/ids.ts';
import {
  ImportRestoreTasks,
  type ImportTaskDeps,
  isImportSource,
  type RestoreTask,
} from './import-restore-tasks.ts';
import { isPointInTimeSource, PitrRestoreTasks } from './pitr-restore-tasks.ts';
import { discardOrFollowRestore, judgeRestore } from './restore-endpoint.ts';
import { restoredButLoginsFailed } from './restored-logins.ts';
import {
  CaughtErrorSchema,
  CleanupFailureFields,
  failureReason,
  readableReason,
  WaitFields,
} from './workflow-tasks.ts';

const Ref = { projectId: z.string(), addonId: z.string(), operationId: z.string(), backupId: z.string() };

export const BackupTaskSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('startBackup'), ...Ref }),
  z.object({ action: z.literal('createSnapshot'), ...Ref }),
  z.object({ action: z.literal('describeSnapshot'), ...Ref, ...WaitFields }),
  z.object({ action: z.literal('prepareDumpJob'), ...Ref }),
  z.object({
    action: z.literal('completeDump'),
    ...Ref,
    /** The backup workflow's: complete the backup and its operation in the same step. */
    complete: z.optional(z.boolean()),
  }),
  z.object({ action: z.literal('completeBackup'), ...Ref }),
  z.object({
    action: z.literal('failBackup'),
    ...Ref,
    error: CaughtErrorSchema,
    ...CleanupFailureFields,
    /** The final backup of a delete: the delete fails with it, and the addon is left running. */
    final: z._default(z.boolean(), false),
  }),
  z.object({ action: z.literal('startRestore'), ...Ref }),
  z.object({ action: z.literal('restoreSnapshot'), ...Ref }),
  /** The point-in-time path: `backupId` is a `pointInTimeKey` (pitr-restore-tasks.ts). */
  z.object({ action: z.literal('restoreToPointInTime'), ...Ref }),
  z.object({ action: z.literal('describeRestore'), ...Ref, ...WaitFields }),
  z.object({ action: z.literal('prepareRestoreJob'), ...Ref }),
  z.object({ action: z.literal('completeRestore'), ...Ref }),
  z.object({ action: z.literal('failRestore'), ...Ref, error: CaughtErrorSchema, ...CleanupFailureFields }),
]);
export type BackupTask = z.infer<typeof BackupTaskSchema>;
type Task<A extends BackupTask['action']> = Extract<BackupTask, { action: A }>;

export interface BackupTaskDeps {
  store: AddonStore;
  backups: BackupStore;
  artifacts: BackupArtifacts;
  /** The adapters of each engine; a backup's snapshots go through its engine's. */
  engines: EngineRegistry<EngineAdapters>;
  jobs: JobLaunchConfig;
  /** Which column of the catalog applies: whether an engine's snapshots are exported for download. */
  target: Target;
  /** The connection details, rewritten when a restore moves the addon to a new endpoint. */
  secrets?: SecretStore;
  /** The schedule clock, for retention expiry. */
  now?: () => Date;
  /** Restores whose source is an uploaded file (an import id in `backupId`); refused without. */
  imports?: Omit<ImportTaskDeps, 'store' | 'engines'>;
}

/** Backup statuses an abort or a failure ended: the workflow must not revive them. */
const ENDED: readonly BackupStatus[] = ['aborted', 'failed'];

/** The RunTask container command that runs a job; the spec travels in JOB_SPEC. */
export const JOB_COMMAND = ['node', 'jobs/main.mjs'];

/** The engine-agnostic steps of the backup and restore workflows; each is idempotent. */
export class BackupWorkflowTasks {
  private readonly imports: ImportRestoreTasks | undefined;
  private readonly pointInTime: PitrRestoreTasks;

  constructor(private readonly deps: BackupTaskDeps) {
    this.pointInTime = new PitrRestoreTasks(deps);
    this.imports =
      deps.imports &&
      new ImportRestoreTasks(
        { ...deps.imports, store: deps.store, engines: deps.engines, secrets: deps.secrets },
        (spec, addon) => this.launch(spec, addon),
      );
  }

  async run(task: BackupTask): Promise<unknown> {
    if (isImportSource(task)) {
      if (!this.imports)
        throw new ProviderError('This deployment is not configured for imports', 'Misconfigured');
      return this.imports.run(task as RestoreTask);
    }
    if (isPointInTimeSource(task)) return this.pointInTime.run(task);
    switch (task.action) {
      case 'startBackup':
        return this.startBackup(task);
      case 'createSnapshot':
        return this.createSnapshot(task);
      case 'describeSnapshot':
        return this.describeSnapshot(task);
      case 'prepareDumpJob':
        return this.prepareDumpJob(task);
      case 'completeDump':
        return this.completeDump(task);
      case 'completeBackup':
        return this.completeBackup(task);
      case 'failBackup':
        return this.failBackup(task);
      case 'startRestore':
        return this.startRestore(task);
      case 'restoreSnapshot':
        return this.restoreSnapshot(task);
      case 'restoreToPointInTime':
        throw new ProviderError(`${task.backupId} is not a point in time`, 'InvalidWorkflowStep');
      case 'describeRestore':
        return this.describeRestore(task);
      case 'prepareRestoreJob':
        return this.prepareRestoreJob(task);
      case 'completeRestore':
        return this.finishRestore(task, null);
      case 'failRestore':
        return this.failRestore(task);
      default: {
        const exhaustive: never = task;
        throw new Error(`Unknown backup task ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  private backup(task: { projectId: string; backupId: string }) {
    return this.deps.backups.getBackup(task.projectId, task.backupId);
  }

  private addonAndBackup(task: { projectId: string; addonId: string; backupId: string }) {
    return Promise.all([this.deps.store.getAddon(task.projectId, task.addonId), this.backup(task)]);
  }

  private progress(task: { projectId: string; operationId: string }, step: string, percent: number) {
    return this.deps.store.updateOperation(task.projectId, task.operationId, { progress: { step, percent } });
  }

  private async startOperation(task: { projectId: string; operationId: string }, step: string) {
    const operation = await this.deps.store.getOperation(task.projectId, task.operationId);
    if (operation.status === 'pending') {
      await this.deps.store.updateOperation(task.projectId, task.operationId, {
        status: 'in-progress',
        startedAt: nowIso(),
        progress: { step, percent: 5 },
      });
    }
  }

  private async startBackup(task: Task<'startBackup'>) {
    await this.startOperation(task, 'backing-up');
    const backup = await this.backup(task);
    if (backup.status === 'pending') {
      await this.deps.backups.updateBackup(backup, { status: 'in-progress', startedAt: nowIso() });
    }
    // The status lets a delete started again skip a final backup that already completed.
    return { type: backup.type, compression: backup.compression, status: backup.status };
  }

  private snapshotsOf(backup: Pick<BackupRecord, 'engine'>): SnapshotProvider {
    return this.deps.engines.of(backup.engine).snapshots;
  }

  private snapshotIdOf(backup: BackupRecord): string {
    if (!backup.snapshotId) throw new ProviderError(`Backup ${backup.id} is not a snapshot`);
    return backup.snapshotId;
  }

  /**
   * Where the snapshot's downloadable copy goes, for an engine whose catalog says its snapshots
   * can be downloaded here (a Redis RDB); undefined for storage-level snapshots.
   */
  private exportOf(backup: BackupRecord) {
    if (!hasCapability(backup.engine, this.deps.target, 'snapshotDownload')) return undefined;
    const exportTo = this.deps.artifacts.snapshotExportFor(
      { projectId: backup.projectId, addonId: backup.addonId, backupId: backup.id },
      engineFacts(backup.engine).dumpExtension,
    );
    const bucket = this.snapshotsOf(backup).exportBucket;
    return bucket ? { ...exportTo, bucket } : exportTo;
  }

  private async createSnapshot(task: Task<'createSnapshot'>) {
    await this.progress(task, 'snapshotting', 20);
    const [addon, backup] = await this.addonAndBackup(task);
    const exportTo = this.exportOf(backup);
    // Recorded before the copy exists, so a failed, aborted or deleted backup removes whatever
    // part of it was written; it is downloadable only once describeSnapshot records its SHA-256.
    if (exportTo && !backup.artifact) await this.deps.backups.updateBackup(backup, { artifact: exportTo });
    await this.snapshotsOf(backup).createSnapshot(addon.resourceId, this.snapshotIdOf(backup), exportTo);
    return {};
  }

  private async describeSnapshot(task: Task<'describeSnapshot'>) {
    const backup = await this.backup(task);
    const state = await this.snapshotsOf(backup).describeSnapshot(this.snapshotIdOf(backup));
    const attempts = task.attempts + 1;
    switch (state.status) {
      case 'available': {
        const exported = state.exported;
        await this.deps.backups.updateBackup(
          backup,
          exported
            ? {
                // The provider names the object (ElastiCache chooses its key): that is what a download fetches.
                artifact: { bucket: exported.bucket, key: exported.key },
                sha256: exported.sha256,
                sizeBytes: exported.sizeBytes,
              }
            : { sizeBytes: state.sizeBytes },
        );
        return { status: 'available', attempts };
      }
      case 'failed':
        throw new ProviderError(state.reason, 'SnapshotFailed');
      case 'absent':
        return { status: 'absent', attempts };
      case 'creating':
        if (attempts >= task.maxAttempts) {
          throw new ProviderError(
            `The snapshot was still being taken after ${attempts} checks; giving up`,
            'SnapshotWaitTimeout',
          );
        }
        return { status: 'creating', attempts };
    }
  }

  /** RunTask's parameters for the ASL: the job joins the addon's project client group where there is one. */
  launch(spec: JobSpec, addon: AddonRecord) {
    const { cluster, taskDefinition, container, subnets, securityGroups, joinProjectClientGroup } =
      this.deps.jobs;
    const clientGroup = addon.network?.clientSecurityGroupId;
    if (joinProjectClientGroup && !clientGroup) {
      throw new ProviderError(
        `Addon ${addon.id} has no client security group recorded, so a job cannot reach its database`,
        'NoClientSecurityGroup',
      );
    }
    return {
      cluster,
      taskDefinition,
      container,
      subnets,
      securityGroups:
        joinProjectClientGroup && clientGroup ? [...securityGroups, clientGroup] : securityGroups,
      command: JOB_COMMAND,
      environment: [{ Name: 'JOB_SPEC', Value: JSON.stringify(spec) }],
    };
  }

  private artifactOf(backup: BackupRecord) {
    if (!backup.artifact || !backup.compression) throw new ProviderError(`Backup ${backup.id} is not a dump`);
    return { artifact: backup.artifact, compression: backup.compression };
  }

  /** Which backup of which addon a dump or restore job works on, and where its artifact is. */
  private jobTarget(
    task: Task<'prepareDumpJob' | 'prepareRestoreJob'>,
    addon: AddonRecord,
    backup: BackupRecord,
  ) {
    return {
      operationId: task.operationId,
      projectId: task.projectId,
      addonId: task.addonId,
      backupId: backup.id,
      engine: addon.engine,
      ...this.artifactOf(backup),
    };
  }

  private async prepareDumpJob(task: Task<'prepareDumpJob'>) {
    await this.progress(task, 'dumping', 20);
    const [addon, backup] = await this.addonAndBackup(task);
    const target = this.jobTarget(task, addon, backup);
    return this.launch(
      {
        kind: 'dump',
        ...target,
        resultKey: this.deps.artifacts.resultKeyOf(target.artifact),
        estimatedBytes: addon.storageGiB * 1024 ** 3,
      },
      addon,
    );
  }

  private async completeDump(task: Task<'completeDump'>) {
    const backup = await this.backup(task);
    const { artifact } = this.artifactOf(backup);
    if (ENDED.includes(backup.status)) {
      // Aborted (or failed) while the job was uploading: the abort may have deleted the prefix
      // before the job completed its upload, so what the job left must go now.
      await this.deps.artifacts.delete(artifact);
      return { ended: backup.status };
    }
    const [result, size] = await Promise.all([
      this.deps.artifacts.readResult(artifact),
      this.deps.artifacts.size(artifact),
    ]);
    if (!result) throw new ProviderError('The dump job finished without reporting its result');
    if (size !== result.sizeBytes) {
      throw new ProviderError(
        `The dump artifact is ${size ?? 'missing'} bytes, the job reported ${result.sizeBytes}`,
      );
    }
    const recorded = { sizeBytes: result.sizeBytes, sha256: result.sha256 };
    if (task.complete) return this.finishBackup(task, backup, recorded);
    await this.deps.backups.updateBackup(backup, recorded);
    return {};
  }

  private async completeBackup(task: Task<'completeBackup'>) {
    const backup = await this.backup(task);
    // An abort won the race: it already ended the operation and released the addon.
    if (ENDED.includes(backup.status)) return { ended: backup.status };
    return this.finishBackup(task, backup, {});
  }

  /** The backup completed with `recorded` (a dump's size and SHA-256), the addon released, the operation completed. */
  private async finishBackup(
    task: Task<'completeBackup' | 'completeDump'>,
    backup: BackupRecord,
    recorded: Partial<Pick<BackupRecord, 'sizeBytes' | 'sha256'>>,
  ) {
    // A retry after a crash past this write finds the backup completed: its completedAt stays.
    if (backup.status !== 'completed') {
      await this.deps.backups.updateBackup(backup, {
        ...recorded,
        status: 'completed',
        completedAt: nowIso(),
      });
    }
    await this.releaseAddon(task);
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      status: 'completed',
      completedAt: nowIso(),
      progress: { step: 'completed', percent: 100 },
    });
    return {};
  }

  private async releaseAddon(task: { projectId: string; addonId: string; operationId: string }) {
    const addon = await this.deps.store.findAddon(task.projectId, task.addonId);
    if (addon?.currentOperationId === task.operationId) {
      await this.deps.store.updateAddonForOperation(
        addon,
        task.operationId,
        { status: 'running' },
        { release: true },
      );
    }
  }

  /** A failed backup never takes the addon down: partial data goes, the addon is running again. */
  private async failBackup(task: Task<'failBackup'>) {
    const cause = failureReason(task, 'delete the backup to remove what is left');
    const reason = task.final
      ? {
          code: cause.code,
          message: `The final backup failed, so the addon was not deleted and is still running: ${cause.message}`,
        }
      : cause;
    const backup = await this.deps.backups.findBackup(task.projectId, task.backupId);
    if (backup) {
      // A completed backup's data belongs to its record (a final backup outlives the delete that failed after it).
      if (!task.skipCleanup && backup.status !== 'completed') {
        // The snapshot first: deleting it stops an export still writing the artifact.
        if (backup.snapshotId) await this.snapshotsOf(backup).deleteSnapshot(backup.snapshotId);
        if (backup.artifact) await this.deps.artifacts.delete(backup.artifact);
      }
      if (backup.status === 'pending' || backup.status === 'in-progress') {
        await this.deps.backups.updateBackup(backup, {
          status: 'failed',
          error: reason,
          completedAt: nowIso(),
        });
      }
    }
    await this.releaseAddon(task);
    const operation = await this.deps.store.getOperation(task.projectId, task.operationId);
    // An aborted operation stays aborted: this Catch ran because the abort ended the backup. The
    // abort records its intent on the backup first, so a Catch that wins the race to the
    // operation (the killed job failing its state) still ends it as the user asked: aborted.
    if (!TERMINAL_STATUSES.includes(operation.status)) {
      await this.deps.store.updateOperation(
        task.projectId,
        task.operationId,
        backup?.status === 'aborted'
          ? { status: 'aborted', completedAt: nowIso() }
          : { status: 'failed', error: reason, completedAt: nowIso() },
      );
    }
    return { failed: true, reason };
  }

  private async startRestore(task: Task<'startRestore'>) {
    await this.startOperation(task, 'restoring');
    const backup = await this.backup(task);
    return { type: backup.type, compression: backup.compression };
  }

  private async restoreSnapshot(task: Task<'restoreSnapshot'>) {
    await this.progress(task, 'restoring-snapshot', 20);
    const [addon, backup] = await this.addonAndBackup(task);
    await this.snapshotsOf(backup).restoreSnapshot(
      addon.resourceId,
      this.snapshotIdOf(backup),
      task.operationId,
    );
    return {};
  }

  private async describeRestore(task: Task<'describeRestore'>) {
    const [addon, backup] = await this.addonAndBackup(task);
    const state = await this.snapshotsOf(backup).describeRestore(
      addon.resourceId,
      this.snapshotIdOf(backup),
      task.operationId,
    );
    return judgeRestore(this.deps, state, task, addon, 'The restore');
  }

  private async prepareRestoreJob(task: Task<'prepareRestoreJob'>) {
    await this.progress(task, 'restoring-dump', 20);
    const [addon, backup] = await this.addonAndBackup(task);
    const target = this.jobTarget(task, addon, backup);
    if (!backup.sha256) throw new ProviderError(`Backup ${backup.id} has no recorded SHA-256`);
    return this.launch(
      {
        kind: 'restore',
        ...target,
        expectedSha256: backup.sha256,
      },
      addon,
    );
  }

  /**
   * A failed restore changes nothing: a snapshot restore still running (it runs on after the
   * workflow gives up, e.g. a bounded wait) is discarded first. One that had finished is kept and
   * reported completed, so the operation always says which data the addon has; one that failed
   * while its logins were put right (restored-logins.ts) fails saying the data is restored.
   */
  private async failRestore(task: Task<'failRestore'>) {
    if (!task.skipCleanup) {
      const [addon, backup] = await Promise.all([
        this.deps.store.findAddon(task.projectId, task.addonId),
        this.deps.backups.findBackup(task.projectId, task.backupId),
      ]);
      if (addon && backup?.type === 'snapshot' && backup.snapshotId) {
        const outcome = await discardOrFollowRestore(
          this.deps,
          this.deps.engines.of(addon.engine),
          { ...task, snapshotId: backup.snapshotId },
          addon,
        );
        if (outcome === 'completed') {
          return this.finishRestore(
            task,
            await restoredButLoginsFailed(this.deps.store, task, readableReason(task.error)),
          );
        }
      }
    }
    return this.finishRestore(task, failureReason(task, 'restore the backup again or contact an operator'));
  }

  private async finishRestore(
    task: Task<'completeRestore' | 'failRestore'>,
    reason: { code: string; message: string } | null,
  ) {
    await this.releaseAddon(task);
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      status: reason ? 'failed' : 'completed',
      completedAt: nowIso(),
      ...(reason ? { error: reason } : { progress: { step: 'completed', percent: 100 } }),
    });
    return reason ? { failed: true, reason } : {};
  }
}
