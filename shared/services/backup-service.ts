import { capabilitiesOf, hasCapability } from '../catalog/engines.ts';
import { engineFacts } from '../engines/index.ts';
import type { EngineRegistry } from '../engines/registry.ts';
import { ConflictError, errorMessage, NotFoundError, TransientError, UnsupportedError } from '../errors.ts';
import type { SnapshotDeleter } from '../ports/engine-provider.ts';
import type { WorkflowStarter } from '../ports/workflow-starter.ts';
import type { BackupArtifacts } from '../providers/backup-artifacts.ts';
import type { Backup, CreateBackupRequest, Schedule } from '../schemas/backup.ts';
import type { Target } from '../schemas/catalog.ts';
import type { Page, PaginationQuery } from '../schemas/common.ts';
import type { Operation } from '../schemas/operation.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import type { BackupRecord, BackupStore } from '../store/backup-store.ts';
import { deterministicId, newId, nowIso } from '../util/ids.ts';
import { userFacingMessage } from '../util/redact.ts';
import { compareVersions } from '../util/versions.ts';
import { newBackupRecord, toBackup } from './backup-records.ts';
import { forkSeedingFrom } from './fork-source.ts';
import { failOperationAndRelease, newOperation } from './operation-lock.ts';

export interface BackupServiceDeps {
  store: AddonStore;
  backups: BackupStore;
  workflows: WorkflowStarter;
  artifacts: BackupArtifacts;
  /** Deletes a snapshot backup's data through its engine's snapshots. */
  snapshotDeleters: EngineRegistry<SnapshotDeleter>;
  target: Target;
  /** The schedule clock; a test can run it fast. */
  now?: () => Date;
}

const _DAY_MS = 24 * 60 * 60 * 1000;
const ACTIVE = ['pending', 'in-progress'];

export interface SweepOutcome {
  deleted: string[];
  failed: Array<{ backupId: string; projectId: string; reason: string }>;
}

export type ScheduledRun =
  | { outcome: 'started'; backupId: string }
  | { outcome: 'skipped'; reason: string }
  /** This firing already created its backup (a retried or duplicated delivery): nothing done. */
  | { outcome: 'duplicate'; backupId: string };

/** The progress step of a scheduled backup whose workflow start was throttled and waits for a retry. */
export const START_DEFERRED = 'waiting to start: Step Functions throttled the start; retrying';

/** Scheduled firings are minutes apart (cron); the minute identifies the firing. */
export const scheduledBackupId = (scheduleId: string, scheduledAt: Date): string => {
  const minute = Math.floor(scheduledAt.getTime() / 60_000) * 60_000;
  return deterministicId('bkp', minute, `${scheduleId}@${new Date(minute).toISOString()}`);
};

export class BackupService {
  private readonly now: () => Date;

  constructor(private readonly deps: BackupServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  private checkCapability(addon: AddonRecord, type: Backup['type']) {
    const capabilities = capabilitiesOf(addon.engine, this.deps.target);
    const supported = type === 'dump' ? capabilities.dumpBackup : capabilities.snapshotBackup;
    if (!supported) {
      throw new UnsupportedError(`${addon.engine} addons cannot take ${type} backups on this deployment`, [
        { path: 'body.type', message: `${type} backups are not supported for ${addon.engine} here` },
      ]);
    }
  }

  async create(
    projectId: string,
    addonId: string,
    request: CreateBackupRequest,
    origin: { schedule?: Schedule; backupId?: string } = {},
  ): Promise<{ backup: Backup; operation: Operation }> {
    const addon = await this.deps.store.getAddon(projectId, addonId);
    this.checkCapability(addon, request.type);
    if (addon.status !== 'running' && !addon.currentOperationId) {
      throw new ConflictError(
        `Addon '${addon.name}' is ${addon.status}; only a running addon can be backed up`,
        {},
      );
    }
    const backupId = origin.backupId ?? newId('bkp');
    const operation: Operation = { ...newOperation('backup', projectId, addonId), backupId };
    await this.deps.store.beginOperation(addon, operation, 'backing-up');
    const backup = newBackupRecord({
      addon,
      backupId,
      operationId: operation.id,
      request,
      schedule: origin.schedule,
      artifacts: this.deps.artifacts,
      now: this.now(),
    });
    try {
      await this.deps.backups.putBackup(backup);
      await this.deps.workflows.start({
        workflow: 'backup-addon',
        input: { projectId, addonId, operationId: operation.id, backupId },
      });
    } catch (error) {
      if (origin.schedule && error instanceof TransientError) {
        // A throttled start of a scheduled backup: the firing is delivered again and resumes
        // it (`runScheduled`), with the same execution name, so it can never start twice.
        await this.deps.store.updateOperation(projectId, operation.id, {
          progress: { step: START_DEFERRED, percent: 0 },
        });
        throw error;
      }
      await this.release(addon, operation, `The backup could not be started: ${userFacingMessage(error)}`);
      throw error;
    }
    return { backup: toBackup(backup), operation };
  }

  /**
   * A scheduled run: an operation in flight makes it a recorded skip, never a queue. The backup
   * id is derived from the schedule and the time it was due, so a retried or duplicated
   * delivery of the same firing finds the first one's backup and does nothing.
   */
  async runScheduled(schedule: Schedule, scheduledAt: Date): Promise<ScheduledRun> {
    const backupId = scheduledBackupId(schedule.id, scheduledAt);
    const already = async () => this.deps.backups.findBackup(schedule.projectId, backupId);
    const existing = await already();
    if (existing) return (await this.resumeDeferred(existing)) ?? { outcome: 'duplicate', backupId };
    try {
      const { backup } = await this.create(
        schedule.projectId,
        schedule.addonId,
        schedule.type === 'dump'
          ? { type: 'dump', compression: schedule.compression, pinned: false }
          : { type: 'snapshot', pinned: false },
        { schedule, backupId },
      );
      return { outcome: 'started', backupId: backup.id };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      // A concurrent delivery of the same firing holds the lock, or wrote the backup first.
      if (await already()) return { outcome: 'duplicate', backupId };
      return { outcome: 'skipped', reason: error.message };
    }
  }

  /**
   * A firing delivered again after its start was throttled: start its workflow now, under the
   * execution name the first delivery used (the operation id), which Step Functions accepts
   * once. Undefined when the backup is not waiting for its start.
   */
  private async resumeDeferred(backup: BackupRecord): Promise<ScheduledRun | undefined> {
    if (backup.status !== 'pending') return undefined;
    const operation = await this.deps.store.findOperation(backup.projectId, backup.operationId);
    if (operation?.status !== 'pending' || operation.progress.step !== START_DEFERRED) return undefined;
    await this.deps.workflows.start({
      workflow: 'backup-addon',
      input: {
        projectId: backup.projectId,
        addonId: backup.addonId,
        operationId: operation.id,
        backupId: backup.id,
      },
    });
    return { outcome: 'started', backupId: backup.id };
  }

  private release(addon: AddonRecord, operation: Operation, message: string) {
    return failOperationAndRelease(
      this.deps.store,
      addon,
      operation.id,
      { code: 'BackupStartFailed', message },
      'running',
    );
  }

  async list(projectId: string, addonId: string, page: PaginationQuery): Promise<Page<Backup>> {
    await this.deps.store.getAddon(projectId, addonId);
    const result = await this.deps.backups.listBackups(projectId, addonId, page);
    return { items: result.items.map(toBackup), nextCursor: result.nextCursor };
  }

  /**
   * Every backup of the project, newest first, those of deleted addons included (each says
   * which addon it came from and whether that addon is deleted).
   */
  async listProject(projectId: string, page: PaginationQuery): Promise<Page<Backup>> {
    const result = await this.deps.backups.listProjectBackups(projectId, page);
    return { items: result.items.map(toBackup), nextCursor: result.nextCursor };
  }

  /**
   * A backup by its addon-scoped path. The addon need not exist any more: a deleted addon's
   * backups keep their URLs (get, pin, download, delete) for their grace period.
   */
  private async backupOf(projectId: string, addonId: string, backupId: string): Promise<BackupRecord> {
    const backup = await this.deps.backups.getBackup(projectId, backupId);
    if (backup.addonId !== addonId) {
      throw new NotFoundError(`Backup '${backupId}' was not found for addon '${addonId}'`);
    }
    return backup;
  }

  async get(projectId: string, addonId: string, backupId: string): Promise<Backup> {
    return toBackup(await this.backupOf(projectId, addonId, backupId));
  }

  async setPinned(projectId: string, addonId: string, backupId: string, pinned: boolean): Promise<Backup> {
    await this.backupOf(projectId, addonId, backupId);
    return toBackup(await this.deps.backups.updateBackup({ projectId, id: backupId }, { pinned }));
  }

  /** Delete a finished backup: its data first, then its record. */
  async delete(projectId: string, addonId: string, backupId: string): Promise<void> {
    const backup = await this.backupOf(projectId, addonId, backupId);
    if (ACTIVE.includes(backup.status)) {
      throw new ConflictError(`Backup ${backupId} is ${backup.status}; abort it first`, {
        operationId: backup.operationId,
      });
    }
    const fork = await forkSeedingFrom(this.deps.store, projectId, backupId);
    if (fork) {
      throw new ConflictError(
        `Backup ${backupId} is seeding fork '${fork.name}'; delete it once the fork is created`,
        {
          operationId: fork.currentOperationId ?? undefined,
        },
      );
    }
    await this.deleteData(backup);
    await this.deps.backups.deleteBackupRecord(backup);
  }

  /** The snapshot first: deleting it stops an export still writing the snapshot's downloadable copy. */
  private async deleteData(backup: BackupRecord) {
    if (backup.snapshotId)
      await this.deps.snapshotDeleters.of(backup.engine).deleteSnapshot(backup.snapshotId);
    if (backup.artifact) await this.deps.artifacts.delete(backup.artifact);
  }

  /**
   * Abort a backup in flight. The intent is recorded first (the backup turns `aborted`, which a
   * late workflow step cannot overwrite), then the workflow is stopped (which stops its job), the
   * operation ends and the addon is released. Removing the data comes last and may fail without
   * failing the abort: RDS refuses to delete a snapshot it is still creating, and a job stopped
   * mid-upload can still complete it. The reconciler deletes the data of aborted backups until
   * it is gone.
   */
  async abort(projectId: string, addonId: string, backupId: string): Promise<Backup> {
    const backup = await this.backupOf(projectId, addonId, backupId);
    if (!ACTIVE.includes(backup.status)) {
      throw new ConflictError(
        `Backup ${backupId} is ${backup.status}; only a pending or running backup can be aborted`,
        {
          field: 'status',
        },
      );
    }
    const error = { code: 'Aborted', message: 'Aborted by the user' };
    let aborted = await this.deps.backups.updateBackup(backup, {
      status: 'aborted',
      error,
      completedAt: nowIso(),
    });
    // A stopped execution runs no Catch: what its Catch would do is done here. One that could
    // not be stopped finds the backup aborted at its next step and ends without reviving it
    // (completeDump deletes what the job uploaded); the reconciler removes anything left.
    await this.deps.workflows
      .stop('backup-addon', backup.operationId, 'Aborted by the user')
      .catch(() => undefined);
    await this.deps.store
      .updateOperation(projectId, backup.operationId, { status: 'aborted', error, completedAt: nowIso() })
      .catch((failure: unknown) => {
        if (!(failure instanceof ConflictError)) throw failure;
      });
    const addon = await this.deps.store.getAddon(projectId, addonId);
    if (addon.currentOperationId === backup.operationId) {
      // The stopped workflow may release the addon between the read and this write: then the
      // lock is already gone, which is what this step wants.
      await this.deps.store
        .updateAddonForOperation(addon, backup.operationId, { status: 'running' }, { release: true })
        .catch((failure: unknown) => {
          if (!(failure instanceof ConflictError)) throw failure;
        });
    }
    try {
      await this.deleteData(backup);
    } catch (failure) {
      aborted = await this.deps.backups.updateBackup(backup, {
        error: {
          code: 'Aborted',
          message: `Aborted by the user; its data could not be removed yet (${failure instanceof TransientError ? 'the provider is still writing it' : 'the provider refused'}) and is removed as soon as the provider allows it`,
        },
      });
    }
    return toBackup(aborted);
  }

  /**
   * A signed link to a completed backup's file: a dump, or the exported copy of a snapshot whose
   * engine's snapshots are files (a Redis RDB). Other snapshots are storage-level copies: 422.
   */
  async downloadLink(projectId: string, addonId: string, backupId: string) {
    const backup = await this.backupOf(projectId, addonId, backupId);
    const facts = engineFacts(backup.engine);
    const snapshot = backup.type === 'snapshot';
    if (snapshot && !hasCapability(backup.engine, this.deps.target, 'snapshotDownload')) {
      throw new UnsupportedError(
        `${facts.catalog.displayName} snapshots are storage-level copies and cannot be downloaded; take a dump backup`,
        [{ path: 'backupId', message: 'is a snapshot' }],
      );
    }
    if (!backup.artifact) {
      throw new UnsupportedError('This backup has no downloadable file', [
        { path: 'backupId', message: 'has no file to download' },
      ]);
    }
    if (backup.status !== 'completed' || backup.sha256 === null || backup.sizeBytes === null) {
      if (backup.status === 'completed' && snapshot) {
        throw new UnsupportedError('This snapshot was completed without a downloadable copy', [
          { path: 'backupId', message: 'has no downloadable copy' },
        ]);
      }
      throw new ConflictError(
        `Backup ${backupId} is ${backup.status}; only a completed backup can be downloaded`,
        {
          field: 'status',
        },
      );
    }
    const fileName = snapshot
      ? `${backup.addonName}-${backup.id}.${facts.dumpExtension}`
      : `${backup.id}.${facts.dumpExtension}.${backup.compression === 'gzip' ? 'gz' : 'zst'}`;
    const link = await this.deps.artifacts.downloadUrl(backup.artifact, fileName);
    return { ...link, sizeBytes: backup.sizeBytes, sha256: backup.sha256 };
  }

  async restore(
    projectId: string,
    addonId: string,
    backupId: string,
  ): Promise<{ backup: Backup; operation: Operation }> {
    const addon = await this.deps.store.getAddon(projectId, addonId);
    const backup = await this.deps.backups.getBackup(projectId, backupId);
    if (backup.engine !== addon.engine) {
      throw new UnsupportedError(
        `Backup ${backupId} is a ${engineFacts(backup.engine).catalog.displayName} backup; it cannot be restored into a ${engineFacts(addon.engine).catalog.displayName} addon`,
        [{ path: 'backupId', message: `is a ${backup.engine} backup, the addon runs ${addon.engine}` }],
      );
    }
    if (backup.addonId !== addonId) {
      throw new UnsupportedError(
        'This backup belongs to another addon; to start a new addon from it, create a fork (POST .../addons with source: {addonId, backupId})',
        [{ path: 'backupId', message: 'belongs to another addon' }],
      );
    }
    if (backup.status !== 'completed') {
      throw new ConflictError(
        `Backup ${backupId} is ${backup.status}; only a completed backup can be restored`,
        {
          field: 'status',
        },
      );
    }
    if (compareVersions(backup.engineVersion, addon.version) > 0) {
      throw new UnsupportedError(
        `The backup was taken from ${backup.engine} ${backup.engineVersion}, newer than this addon's ${addon.version}`,
        [{ path: 'backupId', message: 'comes from a newer major version' }],
      );
    }
    if (backup.type === 'snapshot' && backup.engineVersion !== addon.version) {
      throw new UnsupportedError('A snapshot restores only onto the major version it was taken from', [
        { path: 'backupId', message: `was taken from version ${backup.engineVersion}` },
      ]);
    }
    this.checkCapability(addon, backup.type);
    const operation: Operation = { ...newOperation('restore', projectId, addonId), backupId };
    await this.deps.store.beginOperation(addon, operation, 'restoring');
    try {
      await this.deps.workflows.start({
        workflow: 'restore-addon',
        input: { projectId, addonId, operationId: operation.id, backupId },
      });
    } catch (error) {
      await this.release(addon, operation, `The restore could not be started: ${userFacingMessage(error)}`);
      throw error;
    }
    return { backup: toBackup(backup), operation };
  }

  /**
   * Retention: delete every unpinned backup whose time is up, data first, then the record. It
   * pages through all of them; one that cannot be deleted is reported and the others still go
   * (the next sweep tries it again).
   */
  async sweepExpired(pageSize = 100): Promise<SweepOutcome> {
    const deleted: string[] = [];
    const failed: SweepOutcome['failed'] = [];
    const now = this.now().toISOString();
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.deps.backups.listExpiredBackups(now, { limit: pageSize, start });
      for (const backup of page.items) {
        if (backup.pinned || ACTIVE.includes(backup.status)) continue;
        try {
          // A fork being seeded from it keeps it until the next sweep.
          if (await forkSeedingFrom(this.deps.store, backup.projectId, backup.id)) continue;
          await this.deleteData(backup);
          await this.deps.backups.deleteBackupRecord(backup);
          deleted.push(backup.id);
        } catch (error) {
          failed.push({ backupId: backup.id, projectId: backup.projectId, reason: errorMessage(error) });
        }
      }
      start = page.next;
    } while (start);
    return { deleted, failed };
  }
}
