import { errorMessage, ProviderError } from '#shared/errors.ts';
import type { SnapshotExport, SnapshotState } from '#shared/ports/engine-provider.ts';
import type { InstanceRecord, SnapshotDriver } from './driver.ts';
import type { EngineDrivers } from './engine-drivers.ts';
import { checkId, type InstanceFiles, type Log } from './instance-files.ts';
import type { InstanceLocks } from './instance-locks.ts';
import { startLockedJob } from './locked-job.ts';
import { instanceUser } from './os-users.ts';
import type { ServerProcesses } from './server-lifecycle.ts';
import type { ExportTarget, SnapshotExporter } from './snapshot-export.ts';
import { checkSnapshotId, type SnapshotRecord, type SnapshotStore } from './snapshots.ts';
import { ensureReachable, treeSize } from './system.ts';

/** A snapshot being taken by this process (queued behind the instance's other operations, or running). */
interface SnapshotJob {
  resourceId: string;
  /** Aborted by deleteSnapshot. */
  abort: AbortController;
  /** Settles (never rejects) once the attempt is over and its outcome is on disk. */
  done: Promise<void>;
}

export interface SnapshotJobsOptions {
  files: InstanceFiles;
  drivers: EngineDrivers;
  servers: ServerProcesses;
  locks: InstanceLocks;
  store: SnapshotStore;
  log: Log;
  /** Aborted when the platform shuts down. */
  shutdownSignal: () => AbortSignal;
  /** The instance's record once a restore a crash interrupted is rolled back; called under the lock. */
  settledRecord: (id: string) => Promise<InstanceRecord | undefined>;
  /** Restores in progress reading the snapshot, each settling when it is over. */
  restoresReading: (snapshotId: string) => Promise<void>[];
  /** Uploads downloadable copies (`exportTo`); without one, a snapshot asked for a copy is refused. */
  exporter?: SnapshotExporter;
}

/** Snapshots of running instances, taken in the background under the instance's lock. */
export class SnapshotJobs {
  /** By snapshot id. */
  private readonly jobs = new Map<string, SnapshotJob>();

  constructor(private readonly deps: SnapshotJobsOptions) {}

  /** Whether this process is taking the snapshot (or has it queued). */
  isTaking(snapshotId: string): boolean {
    return this.jobs.has(snapshotId);
  }

  /**
   * `exportTo`: upload the driver's `exportFile` there before the snapshot is committed, so an
   * `available` snapshot has its copy; a crash midway leaves a partial snapshot, which the next
   * call takes (and uploads) again. A snapshot already available is left as it is.
   */
  async create(resourceId: string, snapshotId: string, exportTo?: ExportTarget): Promise<void> {
    const id = checkId(resourceId);
    const sid = checkSnapshotId(snapshotId);
    const running = this.jobs.get(sid);
    if (running) return this.sameSource(sid, running.resourceId, id);
    const existing = await this.deps.store.read(sid).catch((error: unknown) => {
      throw new ProviderError(`Cannot read snapshot ${sid}: ${errorMessage(error)}`, 'SnapshotUnreadable');
    });
    if (existing?.state === 'available') return this.sameSource(sid, existing.resourceId, id);
    const record = await this.deps.files.readRecord(id);
    if (record?.state !== 'ready')
      throw new ProviderError(`Instance ${id} does not exist`, 'InstanceNotFound');
    const snapshots = this.deps.drivers.snapshotsOf(record.engine);
    if (exportTo) this.exporterOf(snapshots, record);
    this.deps.servers.assertOpen();
    const pending = this.jobs.get(sid); // checked again: no await from here on
    if (pending) return this.sameSource(sid, pending.resourceId, id);
    startLockedJob(this.deps, {
      jobs: this.jobs,
      key: sid,
      job: { resourceId: id, abort: new AbortController(), done: Promise.resolve() },
      resourceId: id,
      snapshotId: sid,
      activity: 'snapshotting',
      failure: 'engine: snapshot failed',
      work: (signal) => this.take(id, sid, signal, exportTo),
    });
  }

  async describe(snapshotId: string): Promise<SnapshotState> {
    const sid = checkSnapshotId(snapshotId);
    if (this.jobs.has(sid)) return { status: 'creating' };
    const { store } = this.deps;
    let snapshot: SnapshotRecord | undefined;
    try {
      snapshot = await store.read(sid);
    } catch (error) {
      return { status: 'failed', reason: `Cannot read snapshot ${sid}: ${errorMessage(error)}` };
    }
    if (snapshot?.state === 'available') {
      const { exported } = snapshot;
      return {
        status: 'available',
        sizeBytes: snapshot.sizeBytes ?? null,
        ...(exported ? { exported } : {}),
      };
    }
    if (snapshot?.state === 'failed')
      return { status: 'failed', reason: snapshot.reason ?? 'The snapshot failed' };
    if (await store.completed(sid)) {
      return { status: 'failed', reason: `Snapshot ${sid} is incomplete (no snapshot.json); delete it` };
    }
    if ((await store.partials(sid)).length > 0) {
      return {
        status: 'failed',
        reason:
          'The snapshot was interrupted by a platform restart before it completed; creating it again retakes it',
      };
    }
    return { status: 'absent' };
  }

  async delete(snapshotId: string): Promise<void> {
    const sid = checkSnapshotId(snapshotId);
    const job = this.jobs.get(sid);
    if (job) {
      job.abort.abort();
      await job.done;
    }
    // A restore reading it finishes first.
    await Promise.all(this.deps.restoresReading(sid));
    await this.deps.store.remove(sid);
    this.deps.log('engine: snapshot deleted', { snapshotId: sid });
  }

  /** What uploads a copy: refused for an engine whose snapshots are not files, or without an exporter. */
  private exporterOf(
    snapshots: SnapshotDriver,
    record: InstanceRecord,
  ): { exportFile: (snapshotDir: string) => string; exporter: SnapshotExporter } {
    if (!snapshots.exportFile) {
      throw new ProviderError(
        `${record.engine} snapshots are storage-level copies and cannot be exported`,
        'SnapshotNotExportable',
      );
    }
    if (!this.deps.exporter) {
      throw new ProviderError('This platform has no object storage to export snapshots to', 'NoExporter');
    }
    return { exportFile: snapshots.exportFile.bind(snapshots), exporter: this.deps.exporter };
  }

  /** Upload the snapshot's file; `exported` says what was written where. */
  private async export(
    snapshots: SnapshotDriver,
    record: InstanceRecord,
    backupDir: string,
    exportTo: ExportTarget,
    signal: AbortSignal,
  ): Promise<SnapshotExport> {
    const { exportFile, exporter } = this.exporterOf(snapshots, record);
    return exporter.upload(exportFile(backupDir), exportTo, signal);
  }

  private sameSource(snapshotId: string, source: string, id: string): void {
    if (source !== id) {
      throw new ProviderError(
        `Snapshot ${snapshotId} already exists, of instance ${source}`,
        'SnapshotExists',
      );
    }
  }

  /** The snapshot job proper, under the instance's lock. Its outcome is always recorded on disk. */
  private async take(id: string, sid: string, signal: AbortSignal, exportTo?: ExportTarget): Promise<void> {
    const { files, drivers, store, log } = this.deps;
    const started = Date.now();
    const base: Omit<SnapshotRecord, 'state' | 'completedAt'> = {
      snapshotId: sid,
      resourceId: id,
      createdAt: new Date(started).toISOString(),
    };
    let partial: string | undefined;
    try {
      if ((await store.read(sid))?.state === 'available') return; // an earlier call took it meanwhile
      this.deps.servers.assertOpen();
      signal.throwIfAborted();
      const record = await this.deps.settledRecord(id);
      if (record?.state !== 'ready') {
        throw new ProviderError(`Instance ${id} was deleted before its snapshot began`, 'InstanceNotFound');
      }
      const driver = drivers.driverFor(record.engine);
      const snapshots = drivers.snapshotsOf(record.engine);
      const runAs = await instanceUser(id);
      const ctx = files.context(id, record, runAs);
      Object.assign(base, {
        engine: record.engine,
        version: record.version,
        format: snapshots.format,
        database: record.database,
        username: record.username,
      });
      if ((await driver.probe(ctx, 1_000)) !== 'ready') {
        throw new ProviderError(
          `The ${driver.displayName} server of instance ${id} is not running, and a snapshot is taken from the running server`,
          'InstanceNotRunning',
        );
      }
      base.engineMajor = await snapshots.dataMajor(ctx.dataDir);
      const attempt = await store.begin(sid, runAs);
      partial = attempt.dir;
      await ensureReachable(attempt.backupDir, runAs, [files.dataDir, store.dir]);
      await snapshots.take(ctx, attempt.backupDir, signal);
      const taken = Date.now();
      const exported = exportTo
        ? await this.export(snapshots, record, attempt.backupDir, exportTo, signal)
        : undefined;
      const uploaded = Date.now();
      const sizeBytes = await treeSize(attempt.backupDir);
      await store.commit(partial, {
        ...base,
        state: 'available',
        sizeBytes,
        ...(exported ? { exported } : {}),
        completedAt: new Date().toISOString(),
      });
      log('engine: snapshot taken', {
        resourceId: id,
        snapshotId: sid,
        sizeBytes,
        ms: Date.now() - started,
        copyMs: taken - started,
        ...(exported ? { exportMs: uploaded - taken, exportedTo: exported.key } : {}),
      });
    } catch (error) {
      const reason = signal.aborted
        ? 'The snapshot was interrupted (the platform shut down, or the snapshot was deleted); creating it again retakes it'
        : errorMessage(error);
      await store
        .fail(partial, { ...base, state: 'failed', reason, completedAt: new Date().toISOString() })
        .catch((failure: unknown) => {
          log('engine: could not record a failed snapshot', {
            snapshotId: sid,
            error: errorMessage(failure),
          });
        });
      throw error;
    }
  }
}
