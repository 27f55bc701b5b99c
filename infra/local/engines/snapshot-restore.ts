import fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import { parsePointInTimeKey, type RestoreState } from '#shared/ports/engine-provider.ts';
import type { InstanceContext, InstanceRecord, RestoreRecord } from './driver.ts';
import type { EngineDrivers } from './engine-drivers.ts';
import { checkId, type InstanceFiles, type Log, restoreIdOf } from './instance-files.ts';
import type { InstanceLocks } from './instance-locks.ts';
import { startLockedJob } from './locked-job.ts';
import { chownTree, instanceUser, ownedBy } from './os-users.ts';
import type { ServerProcesses } from './server-lifecycle.ts';
import { checkSnapshotId, type SnapshotRecord, type SnapshotStore } from './snapshots.ts';
import { chownTo } from './system.ts';

/** A restore being run by this process. */
interface RestoreJob {
  snapshotId: string;
  /** Aborted by discardRestore: the restore rolls back. */
  abort: AbortController;
  done: Promise<void>;
}

const RESTORE_INTERRUPTED =
  'The restore was interrupted by a platform restart before it completed and was rolled back: the instance ' +
  'has the data it had before; restoring again retakes it';

export interface SnapshotRestoresOptions {
  files: InstanceFiles;
  drivers: EngineDrivers;
  servers: ServerProcesses;
  locks: InstanceLocks;
  store: SnapshotStore;
  log: Log;
  /** Aborted when the platform shuts down. */
  shutdownSignal: () => AbortSignal;
  /** Whether this process is still taking the snapshot. */
  snapshotBeingTaken: (snapshotId: string) => boolean;
}

/**
 * Where a restore's data comes from, when not a snapshot on disk (a point in time): `check` says
 * why it cannot go into the instance (or undefined), `prepare` fills the empty data directory of
 * `ctx` so that starting a server on it needs no further recovery.
 */
export interface RestoreSource {
  check(id: string, record: InstanceRecord): Promise<{ code: string; reason: string } | undefined>;
  prepare(ctx: InstanceContext, signal: AbortSignal): Promise<void>;
  /** The version the restored data runs, when not the instance's (an upgrade): recorded at the switch. */
  version?: string;
}

/** A snapshot id, or a point-in-time key (`pointInTimeKey`), as restores record them. */
const checkRestoreKey = (key: string): string =>
  parsePointInTimeKey(key) || parseUpgradeKey(key) ? key : checkSnapshotId(key);

/** What stands for an upgrade to `version` where a restore records its snapshot id (upgrades.ts). */
export const upgradeKey = (version: string): string => `upgrade:${version}`;

/** The version an upgrade key names, or undefined for any other key. */
export const parseUpgradeKey = (key: string): string | undefined =>
  /^upgrade:([0-9][0-9.]{0,15})$/.exec(key)?.[1];

/** What a restore key names, for messages. */
const restoredFrom = (key: string): string => {
  const upgrade = parseUpgradeKey(key);
  if (upgrade) return `an upgrade to version ${upgrade}`;
  const pitr = parsePointInTimeKey(key);
  return pitr ? `instance ${pitr.sourceResourceId} as of ${pitr.time}` : `snapshot ${key}`;
};

/** In-place restores of a snapshot (or a point in time) into an instance, with rollback and discard. */
export class SnapshotRestores {
  /** By `${resourceId}/${restoreId}`. */
  private readonly jobs = new Map<string, RestoreJob>();

  constructor(private readonly deps: SnapshotRestoresOptions) {}

  /** Restores in progress reading the snapshot, each settling when it is over. */
  reading(snapshotId: string): Promise<void>[] {
    return [...this.jobs.values()].filter((each) => each.snapshotId === snapshotId).map((each) => each.done);
  }

  async restore(
    resourceId: string,
    snapshotId: string,
    restoreId: string,
    from: RestoreSource = this.snapshotSource(snapshotId),
  ): Promise<void> {
    const id = checkId(resourceId);
    const sid = checkRestoreKey(snapshotId);
    const key = `${id}/${restoreId}`;
    if (this.jobs.has(key)) return;
    const record = await this.deps.files.readRecord(id);
    if (record?.state !== 'ready')
      throw new ProviderError(`Instance ${id} does not exist`, 'InstanceNotFound');
    if (restoreIdOf(record.restore) === restoreId && record.restore?.state === 'available') return;
    const problem = await from.check(id, record);
    if (problem) throw new ProviderError(problem.reason, problem.code);
    this.deps.servers.assertOpen();
    if (this.jobs.has(key)) return; // checked again: no await from here on
    startLockedJob(this.deps, {
      jobs: this.jobs,
      key,
      job: { snapshotId: sid, abort: new AbortController(), done: Promise.resolve() },
      resourceId: id,
      snapshotId: sid,
      activity: 'restoring',
      failure: 'engine: restore failed',
      work: (signal) => this.run(id, sid, restoreId, from, signal),
    });
  }

  async describe(resourceId: string, snapshotId: string, restoreId: string): Promise<RestoreState> {
    const id = checkId(resourceId);
    const sid = checkRestoreKey(snapshotId);
    if (this.jobs.has(`${id}/${restoreId}`)) return { status: 'restoring' };
    let record: InstanceRecord | undefined;
    try {
      record = await this.deps.files.readRecord(id);
    } catch (error) {
      return { status: 'failed', reason: errorMessage(error) };
    }
    if (!record) return { status: 'failed', reason: `Instance ${id} does not exist` };
    const restore = record.restore;
    if (restore?.snapshotId !== sid || restoreIdOf(restore) !== restoreId) {
      return { status: 'failed', reason: `No restore of snapshot ${sid} was started on instance ${id}` };
    }
    if (restore.state === 'available') return { status: 'available' };
    if (restore.state === 'failed')
      return { status: 'failed', reason: restore.reason ?? 'The restore failed' };
    // `restoring` with no restore running in this process: a crash interrupted it.
    if (this.deps.locks.activity(id) === 'starting') return { status: 'restoring' }; // resume is rolling it back
    return {
      status: 'failed',
      reason:
        'The restore did not complete (the platform stopped while it ran); the instance returns to the data it had ' +
        'before when the platform resumes it or when the restore is retried',
    };
  }

  async discard(
    resourceId: string,
    snapshotId: string,
    restoreId: string,
  ): Promise<'discarded' | 'completed'> {
    const id = checkId(resourceId);
    checkRestoreKey(snapshotId);
    const job = this.jobs.get(`${id}/${restoreId}`);
    if (job) {
      job.abort.abort();
      await job.done;
    }
    // Under the lock: a restore a crash interrupted is rolled back by settledRecord.
    const record = await this.deps.locks.exclusive(id, undefined, () => this.settledRecord(id));
    const restore = record?.restore;
    return restoreIdOf(restore) === restoreId && restore?.state === 'available' ? 'completed' : 'discarded';
  }

  /**
   * The instance's record, after rolling back a restore that a crash interrupted (a `restoring`
   * record found under the lock belongs to no running restore). Call under the instance's lock.
   */
  async settledRecord(id: string): Promise<InstanceRecord | undefined> {
    const record = await this.deps.files.readRecord(id);
    if (record?.restore?.state !== 'restoring') return record;
    await this.rollback(id, RESTORE_INTERRUPTED, false);
    return this.deps.files.readRecord(id);
  }

  /** A snapshot on disk as a restore's source. */
  private snapshotSource(snapshotId: string): RestoreSource {
    return {
      check: (id, record) => this.problem(id, record, snapshotId),
      prepare: async (ctx, signal) => {
        const snapshots = this.deps.drivers.snapshotsOf(ctx.record.engine);
        // The engine user unpacks it: a snapshot of an older instance (or one run as a shared system user) is not its yet.
        const backupDir = this.deps.store.backupDirOf(snapshotId);
        if (ctx.runAs && !(await ownedBy(backupDir, ctx.runAs))) await chownTree(backupDir, ctx.runAs);
        await snapshots.restore(ctx, backupDir, ctx.dataDir, signal);
      },
    };
  }

  /** Why `sid` cannot be restored into this instance, or undefined when it can. */
  private async problem(
    id: string,
    record: InstanceRecord,
    sid: string,
  ): Promise<{ code: string; reason: string } | undefined> {
    if (this.deps.snapshotBeingTaken(sid)) {
      return { code: 'SnapshotNotAvailable', reason: `Snapshot ${sid} is still being taken` };
    }
    let snapshot: SnapshotRecord | undefined;
    try {
      snapshot = await this.deps.store.read(sid);
    } catch (error) {
      return { code: 'SnapshotUnreadable', reason: `Cannot read snapshot ${sid}: ${errorMessage(error)}` };
    }
    if (!snapshot) return { code: 'SnapshotNotFound', reason: `Snapshot ${sid} does not exist` };
    if (snapshot.state !== 'available') {
      return { code: 'SnapshotNotAvailable', reason: `Snapshot ${sid} is not available: ${snapshot.reason}` };
    }
    const driver = this.deps.drivers.driverFor(record.engine);
    const snapshots = this.deps.drivers.snapshotsOf(record.engine);
    const incompatible = (reason: string) => ({ code: 'SnapshotIncompatible', reason });
    if (snapshot.engine !== record.engine) {
      return incompatible(`Snapshot ${sid} is of a ${snapshot.engine} instance, not ${record.engine}`);
    }
    if (snapshot.format !== snapshots.format) {
      return incompatible(`Snapshot ${sid} was written as ${snapshot.format}, not ${snapshots.format}`);
    }
    const name = driver.displayName;
    const server = await snapshots.serverMajor();
    const current = await snapshots
      .dataMajor(this.deps.files.context(id, record, undefined).dataDir)
      .catch(() => server);
    // An engine that runs several majors here restores a snapshot into an instance of its major.
    const servers = driver.upgrades ? await driver.upgrades.majors() : [server];
    if (!servers.includes(snapshot.engineMajor ?? '') || snapshot.engineMajor !== current) {
      return incompatible(
        `Snapshot ${sid} holds ${name} ${snapshot.engineMajor} data, and instance ${id} runs ${name} ${current}: ` +
          'a snapshot restores into the same major version only',
      );
    }
    if (snapshot.database !== record.database || snapshot.username !== record.username) {
      return incompatible(
        `Snapshot ${sid} holds database '${snapshot.database}' of user '${snapshot.username}', and the connection ` +
          `details of instance ${id} name database '${record.database}' of user '${record.username}'`,
      );
    }
    return undefined;
  }

  /**
   * The restore proper, under the instance's lock. Progress is in instance.json, so a crash at any
   * point is rolled back by `settledRecord` (resume, or the next operation on the instance):
   *
   *   1. restore.phase=preparing, restore.dataDir=data-<t>   unpack and verify next to the running server
   *   2. stop the server
   *   3. dataDir=data-<t>, restore.phase=switched            start it on the restored copy, wait until ready
   *   4. restore.state=available                              commit; then remove the previous data directory
   *
   * The previous data directory is never written to, so rolling back is always possible: stop
   * whatever runs on the restored copy, point dataDir back, remove the copy, start again. A crash
   * during 3 rolls back too rather than finishing: a first start of a restored base backup that
   * was interrupted mid-recovery is not always startable again.
   */
  private async run(
    id: string,
    sid: string,
    restoreId: string,
    from: RestoreSource,
    signal: AbortSignal,
  ): Promise<void> {
    const { files, drivers, servers, log } = this.deps;
    const started = Date.now();
    const startedAt = new Date(started).toISOString();
    let record = await this.settledRecord(id);
    if (record?.state !== 'ready') {
      throw new ProviderError(`Instance ${id} was deleted before the restore began`, 'InstanceNotFound');
    }
    if (restoreIdOf(record.restore) === restoreId && record.restore?.state === 'available') return;
    const problem = servers.closed
      ? {
          code: 'ShuttingDown',
          reason: 'The platform shut down before the restore began; restoring again retakes it',
        }
      : await from.check(id, record);
    if (problem) {
      const restore: RestoreRecord = {
        snapshotId: sid,
        restoreId,
        state: 'failed',
        reason: problem.reason,
        startedAt,
        completedAt: new Date().toISOString(),
      };
      await files.writeRecord(id, { ...record, restore });
      throw new ProviderError(problem.reason, problem.code);
    }
    const driver = drivers.driverFor(record.engine);
    const runAs = await instanceUser(id);
    record = await files.withPlatformRole(id, record, driver);
    await files.sweepDataDirs(id, record);
    const previous = path.basename(record.dataDir || 'data');
    let target = `data-${started.toString(36)}`;
    if (target === previous) target = `${target}1`;
    const restore: RestoreRecord = {
      snapshotId: sid,
      restoreId,
      state: 'restoring',
      phase: 'preparing',
      dataDir: target,
      previousDataDir: previous,
      ...(from.version ? { previousVersion: record.version } : {}),
      startedAt,
    };
    record = { ...record, restore };
    await files.writeRecord(id, record);
    const targetCtx = files.context(id, { ...record, dataDir: target }, runAs);
    let prepared = started;
    let stopped = started;
    try {
      await fs.rm(targetCtx.dataDir, { recursive: true, force: true });
      await fs.mkdir(targetCtx.dataDir, { mode: 0o700 });
      await fs.chmod(targetCtx.dataDir, 0o700);
      await chownTo(targetCtx.dataDir, runAs);
      await from.prepare(targetCtx, signal);
      signal.throwIfAborted();
      prepared = Date.now();
      // The downtime: from here until the restored copy accepts connections.
      await servers.stopAndForget(id, record);
      stopped = Date.now();
      record = {
        ...record,
        dataDir: target,
        ...(from.version ? { version: from.version } : {}),
        restore: { ...restore, phase: 'switched' },
      };
      await files.writeRecord(id, record);
      const restoredCtx = files.context(id, record, runAs);
      await servers.start(restoredCtx, driver);
      // The snapshot's roles are the ones it was taken with, possibly from before customer roles.
      await driver.settleAccess(restoredCtx);
      delete record.accessSettled;
      record = {
        ...record,
        restore: {
          snapshotId: sid,
          restoreId,
          state: 'available',
          startedAt,
          completedAt: new Date().toISOString(),
        },
      };
      await files.writeRecord(id, record);
    } catch (error) {
      const why = signal.aborted
        ? 'it was stopped (the platform shut down, or its workflow gave up)'
        : errorMessage(error);
      await this.rollback(
        id,
        `Restoring ${restoredFrom(sid)} failed, and the instance was rolled back to the data it had before: ${why}`,
        true,
      );
      throw error;
    }
    await fs
      .rm(path.join(files.dirOf(id), previous), { recursive: true, force: true })
      .catch((error: unknown) => {
        log('engine: could not remove the data directory a restore replaced', {
          resourceId: id,
          error: errorMessage(error),
        });
      });
    log('engine: snapshot restored', {
      resourceId: id,
      snapshotId: sid,
      restoreId,
      ms: Date.now() - started,
      unpackMs: prepared - started,
      downtimeMs: Date.now() - stopped,
    });
  }

  /**
   * Undo a restore in progress (`restore.state` = restoring): stop any server on the restored
   * copy (ours, or one a crashed platform process left), point instance.json back at the previous
   * data directory, remove the copy and, with `restart`, start the previous data again.
   */
  private async rollback(id: string, reason: string, restart: boolean): Promise<void> {
    const { files, drivers, servers, log } = this.deps;
    const record = await files.readRecord(id);
    const restore = record?.restore;
    if (!record || restore?.state !== 'restoring') return;
    const driver = drivers.driverFor(record.engine);
    const runAs = await instanceUser(id);
    const previous = path.basename(restore.previousDataDir || record.dataDir || 'data');
    const target = restore.dataDir ? path.basename(restore.dataDir) : undefined;
    if (target && target !== previous) {
      const targetCtx = files.context(id, { ...record, dataDir: target }, runAs);
      await servers.stopOursOn(id, targetCtx.dataDir);
      await servers.stopLeftover(
        targetCtx,
        driver,
        'engine: stopping a server left running on an interrupted restore',
      );
    }
    const rolledBack: InstanceRecord = {
      ...record,
      dataDir: previous,
      version: restore.previousVersion ?? record.version,
      restore: {
        snapshotId: restore.snapshotId,
        restoreId: restore.restoreId,
        state: 'failed',
        reason,
        ...(restore.phase === 'switched' ? { servedRestored: true } : {}),
        startedAt: restore.startedAt,
        completedAt: new Date().toISOString(),
      },
    };
    await files.writeRecord(id, rolledBack);
    if (target && target !== previous) {
      await fs.rm(path.join(files.dirOf(id), target), { recursive: true, force: true });
    }
    log('engine: restore rolled back', { resourceId: id, snapshotId: restore.snapshotId, reason });
    if (!restart || servers.closed) return;
    try {
      await servers.ensureRunning(files.context(id, rolledBack, runAs), driver);
    } catch (error) {
      const also = `${reason}; starting the previous data again failed too: ${errorMessage(error)}`;
      await files.writeRecord(id, {
        ...rolledBack,
        restore: { ...(rolledBack.restore as RestoreRecord), reason: also },
      });
    }
  }
}
