import fs from 'node:fs/promises';
import { errorMessage, ProviderError, UnsupportedError } from '#shared/errors.ts';
import { pointInTimeKey, type RestorableWindow } from '#shared/ports/engine-provider.ts';
import { describeWindow, partAt } from './archive-window.ts';
import type { ArchiveWindow, InstanceRecord, PitrDriver } from './driver.ts';
import type { EngineDrivers } from './engine-drivers.ts';
import { checkId, type InstanceFiles, type Log } from './instance-files.ts';
import type { InstanceLocks } from './instance-locks.ts';
import { LastReadings } from './last-readings.ts';
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
 * How long a computed window answers `window()` before it is read again. Computing one lists the
 * instance's archive and reads its newest segments (a dozen S3 requests or more): every `GET` of
 * the addon asks, and a console polls. The archive itself moves by whole WAL segments
 * (`archive_timeout`), and RDS's own `LatestRestorableTime` lags by minutes, so a few seconds
 * change nothing a user can see. Past it, the window last read keeps answering while it is read
 * again: under load that reading took seconds, and a `GET` must not wait for it.
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
  /** The windows read (a reading lists the archive and reads its newest segments). */
  private readonly windows = new LastReadings<RestorableWindow | null>(WINDOW_TTL_MS);

  constructor(private readonly deps: PointInTimeOptions) {}

  /**
   * What `resourceId` can be restored to: the window read at most WINDOW_TTL_MS ago, or, past that,
   * the last one read while it is read again (LastReadings).
   */
  window(resourceId: string): Promise<RestorableWindow | null> {
    const id = checkId(resourceId);
    return this.windows.get(id, () =>
      this.archiveOf(id).then((archive) =>
        archive?.window
          ? { earliestRestorableTime: archive.window.earliest, latestRestorableTime: archive.window.latest }
          : null,
      ),
    );
  }

  /**
   * The archive of `resourceId` changed here in a way that can move its window back (a restore, a
   * prune): the next caller waits for a new reading.
   */
  private forget(resourceId: string): void {
    this.windows.forget(resourceId);
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
          // The window can only have grown: the last one answers while it is read again.
          this.windows.expire(id);
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
