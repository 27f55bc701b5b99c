import fs from 'node:fs/promises';
import { errorMessage, ProviderError, UnsupportedError } from '#shared/errors.ts';
import { pointInTimeKey, type RestorableWindow } from '#shared/ports/engine-provider.ts';
import { describeWindow, partAt } from './archive-window.ts';
import type { ArchiveWindow, InstanceRecord, PitrDriver } from './driver.ts';
import type { EngineDrivers } from './engine-drivers.ts';
import { checkId, type InstanceFiles, type Log } from './instance-files.ts';
import type { InstanceLocks } from './instance-locks.ts';
import { instanceUser } from './os-users.ts';
import type { ServerProcesses } from './server-lifecycle.ts';
import type { RestoreSource, SnapshotRestores } from './snapshot-restore.ts';

export interface PointInTimeOptions {
  files: InstanceFiles;
  drivers: EngineDrivers;
  servers: ServerProcesses;
  locks: InstanceLocks;
  restores: SnapshotRestores;
  log: Log;
  /** Aborted when the platform shuts down. */
  shutdownSignal: () => AbortSignal;
}

/** Deletions of expired archive parts run at most this often. */
const PRUNE_EVERY_MS = 3_600_000;

/**
 * How long a computed window answers `window()`. Computing one lists the instance's archive and
 * reads its newest segments (a dozen S3 requests or more): every `GET` of the addon asks, and a
 * console polls. The archive itself moves by whole WAL segments (`archive_timeout`), and RDS's
 * own `LatestRestorableTime` lags by minutes, so a few seconds change nothing a user can see.
 */
const WINDOW_TTL_MS = 5_000;

/**
 * Point-in-time recovery on the local target, for engines whose driver has `pitr`: the restorable
 * window, restores (in place or into another instance, through the same staging-and-swap as
 * snapshot restores) and the maintenance that keeps the archive restorable (base backups when due,
 * retention).
 */
export class PointInTimeRecovery {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private lastPrune = 0;
  /** Windows computed in the last WINDOW_TTL_MS, shared by concurrent callers. */
  private readonly windows = new Map<string, { at: number; window: Promise<RestorableWindow | null> }>();

  constructor(private readonly deps: PointInTimeOptions) {}

  /** What `resourceId` can be restored to, as of at most WINDOW_TTL_MS ago. */
  window(resourceId: string): Promise<RestorableWindow | null> {
    const id = checkId(resourceId);
    const cached = this.windows.get(id);
    if (cached && Date.now() - cached.at < WINDOW_TTL_MS) return cached.window;
    const window = this.archiveOf(id).then((archive) =>
      archive?.window
        ? { earliestRestorableTime: archive.window.earliest, latestRestorableTime: archive.window.latest }
        : null,
    );
    this.windows.set(id, { at: Date.now(), window });
    // A failure is not kept: the next caller computes again.
    window.catch(() => {
      if (this.windows.get(id)?.window === window) this.windows.delete(id);
    });
    return window;
  }

  /** The archive of `resourceId` changed here (a base backup, a restore, a prune): recompute its window. */
  private forget(resourceId: string): void {
    this.windows.delete(resourceId);
  }

  /** Begin restoring `resourceId` to what `sourceResourceId` held at `time`; see SnapshotProvider. */
  async restore(
    resourceId: string,
    sourceResourceId: string,
    time: string,
    restoreId: string,
  ): Promise<void> {
    const id = checkId(resourceId);
    const sourceId = checkId(sourceResourceId);
    this.forget(id);
    const at = Date.parse(time);
    if (!Number.isFinite(at)) {
      throw new UnsupportedError(`'${time}' is not a time`, [
        { path: 'pointInTime', message: 'not an ISO 8601 time' },
      ]);
    }
    await this.deps.restores.restore(
      id,
      pointInTimeKey(sourceId, time),
      restoreId,
      this.source(sourceId, time),
    );
  }

  /** Run the maintenance every `intervalMs` until `stop`. */
  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => {
      this.pass ??= this.maintain().finally(() => {
        this.pass = undefined;
      });
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.pass;
  }

  /**
   * One maintenance pass: a base backup of every running archived instance whose current archive
   * generation has none (new, or just restored) or an old one; then, hourly, the retention sweep.
   * Never rejects: failures are logged and retried at the next pass.
   */
  async maintain(now = Date.now()): Promise<void> {
    const { files, drivers, servers, locks, log } = this.deps;
    const ids = await fs.readdir(files.enginesDir).catch(() => [] as string[]);
    for (const id of ids) {
      if (servers.closed) return;
      try {
        const record = await files.readRecord(id);
        const pitr = record?.state === 'ready' ? drivers.find(record.engine)?.pitr : undefined;
        if (!pitr || !servers.isRunning(id) || locks.activity(id)) continue;
        const ctx = files.context(id, record as InstanceRecord, await instanceUser(id));
        const problem = await pitr.archiveProblem(ctx).catch(() => undefined);
        // Surfaced, not fatal: the server keeps the WAL until archiving works again.
        if (problem) log('engine: WAL archiving is failing', { resourceId: id, problem });
        if (!(await pitr.baseBackupDue(ctx, now))) continue;
        await locks.exclusive(id, 'snapshotting', async () => {
          // Under the lock the instance may have changed (a restore switched its data directory).
          const current = await this.deps.restores.settledRecord(id);
          if (current?.state !== 'ready' || !servers.isRunning(id)) return;
          const lockedCtx = files.context(id, current, ctx.runAs);
          if (!(await pitr.baseBackupDue(lockedCtx, now))) return;
          const started = Date.now();
          await pitr.takeBaseBackup(lockedCtx, this.deps.shutdownSignal());
          this.forget(id);
          log('engine: base backup archived', { resourceId: id, ms: Date.now() - started });
        });
      } catch (error) {
        log('engine: base backup failed; retried at the next pass', {
          resourceId: id,
          error: errorMessage(error),
        });
      }
    }
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    for (const driver of drivers.withPitr()) {
      const pitr = driver.pitr as PitrDriver;
      try {
        for (const id of await pitr.archivedInstances()) {
          const record = await files.readRecord(id).catch(() => undefined);
          const current =
            record?.state === 'ready'
              ? await pitr.generationOf(files.context(id, record, undefined))
              : undefined;
          await pitr.prune(id, current, now);
          this.forget(id);
        }
      } catch (error) {
        log('engine: archive retention sweep failed', { engine: driver.engine, error: errorMessage(error) });
      }
    }
  }

  /**
   * The archive of an instance and what it can restore: a live instance's current generation, or
   * a deleted one's newest archived history. Undefined when nothing was ever archived for it.
   */
  private async archiveOf(
    id: string,
  ): Promise<{ pitr: PitrDriver; window: ArchiveWindow | null } | undefined> {
    const { files, drivers } = this.deps;
    const record = await files.readRecord(id).catch(() => undefined);
    if (record?.state === 'ready') {
      const pitr = this.pitrOf(record);
      const generation = await pitr.generationOf(files.context(id, record, undefined));
      return { pitr, window: generation ? await pitr.window(id, generation) : null };
    }
    for (const driver of drivers.withPitr()) {
      const pitr = driver.pitr as PitrDriver;
      const window = await pitr.window(id, undefined);
      if (window) return { pitr, window };
    }
    return undefined;
  }

  private pitrOf(record: InstanceRecord): PitrDriver {
    const driver = this.deps.drivers.driverFor(record.engine);
    if (!driver.pitr) {
      throw new UnsupportedError(
        `Point-in-time recovery of ${driver.displayName} is not available on the local target` +
          (driver.engine === 'postgresql' ? ' (this platform has no object store to archive WAL into)' : ''),
        [{ path: 'pointInTime', message: `not available for ${record.engine} locally` }],
      );
    }
    return driver.pitr;
  }

  /** A point in time of `sourceId` as a restore's source (checked again when the restore runs). */
  private source(sourceId: string, time: string): RestoreSource {
    let window: ArchiveWindow | undefined;
    return {
      check: async (id, record) => {
        const pitr = this.pitrOf(record);
        await pitr.checkAvailable();
        const archive = await this.archiveOf(sourceId);
        if (!archive?.window) {
          return {
            code: 'OutsideRestorableWindow',
            reason: `Instance ${sourceId} has no restorable window yet (its first base backup is not archived)`,
          };
        }
        if (archive.pitr !== pitr) {
          return {
            code: 'SnapshotIncompatible',
            reason: `Instance ${sourceId} is not a ${record.engine} instance`,
          };
        }
        if (!partAt(archive.window, Date.parse(time))) {
          return {
            code: 'OutsideRestorableWindow',
            reason: `${time} is outside the restorable window of instance ${sourceId}: ${describeWindow(archive.window)}`,
          };
        }
        const held = await pitr.archivedIdentity(sourceId, archive.window);
        if (held.database !== record.database || held.username !== record.username) {
          return {
            code: 'SnapshotIncompatible',
            reason:
              `The archive of ${sourceId} holds database '${held.database}' of user '${held.username}', and the ` +
              `connection details of instance ${id} name database '${record.database}' of user '${record.username}'`,
          };
        }
        window = archive.window;
        return undefined;
      },
      prepare: async (ctx, signal) => {
        if (!window) throw new ProviderError('The point in time was not checked before the restore');
        await this.pitrOf(ctx.record).prepareRestore(ctx, { resourceId: sourceId, window }, time, signal);
      },
    };
  }
}
