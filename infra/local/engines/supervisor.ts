import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, ProviderError, TransientError, UnsupportedError } from '#shared/errors.ts';
import type {
  EngineProvider,
  InstanceSpec,
  InstanceState,
  RestoreState,
  SnapshotProvider,
  SnapshotState,
} from '#shared/ports/engine-provider.ts';
import type { Engine } from '#shared/schemas/catalog.ts';
import { generatePassword } from '#shared/services/credentials.ts';
import type {
  EngineDriver,
  InstanceContext,
  InstanceRecord,
  RestoreRecord,
  SnapshotDriver,
} from './driver.ts';
import { chownTree, instanceUser, ownedBy, removeInstanceUser } from './os-users.ts';
import { PostgresDriver } from './postgres.ts';
import { checkSnapshotId, type SnapshotRecord, SnapshotStore } from './snapshots.ts';
import {
  allocatePort,
  chownTo,
  ensureReachable,
  exists,
  fileSize,
  isPortFree,
  isRoot,
  type RunAs,
  readJson,
  readTail,
  stopPid,
  treeSize,
  waitUntilClosed,
  writeJsonAtomic,
} from './system.ts';

export interface LocalEngineSupervisorOptions {
  /**
   * The platform's data directory; instances live in `${dataDir}/engines/${resourceId}/`, their
   * snapshots in `${dataDir}/snapshots/${snapshotId}/` (so a snapshot outlives its instance).
   */
  dataDir: string;
  /** The only address engines listen on. Default 127.0.0.1. */
  host?: string;
  log?: (msg: string, extra?: object) => void;
}

/** A server process this supervisor started (its child). */
interface Running {
  child: ChildProcess;
  ctx: InstanceContext;
  driver: EngineDriver;
  /** Set before we signal it, so its exit is not reported as a crash. */
  stopping: boolean;
  /** Reached readiness once: an exit before that is a failed start, reported by waitReady. */
  ready: boolean;
  exit?: { code: number | null; signal: NodeJS.Signals | null; error?: Error };
  exited: Promise<void>;
  /** Size of server.log when this start began: a start failure quotes only its own lines. */
  logOffset: number;
}

type Activity = 'creating' | 'starting' | 'deleting' | 'snapshotting' | 'restoring';

/** A snapshot being taken by this process (queued behind the instance's other operations, or running). */
interface SnapshotJob {
  resourceId: string;
  /** Aborted by deleteSnapshot. */
  abort: AbortController;
  /** Settles (never rejects) once the attempt is over and its outcome is on disk. */
  done: Promise<void>;
}

/** A restore being run by this process. */
interface RestoreJob {
  snapshotId: string;
  /** Aborted by discardRestore: the restore rolls back. */
  abort: AbortController;
  done: Promise<void>;
}

const ROOT = { uid: 0, gid: 0 };
const RESOURCE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const RECORD_FILE = 'instance.json';
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 20_000;
const RESUME_CONCURRENCY = 4;
/** Data directories of an instance: `data` at creation, `data-<base36 time>` after each restore. */
const DATA_DIR_NAME = /^data(-[0-9a-z]+)?$/;
const RESTORE_INTERRUPTED =
  'The restore was interrupted by a platform restart before it completed and was rolled back: the instance ' +
  'has the data it had before; restoring again retakes it';

/**
 * Last line of defence for an unplanned exit (uncaught exception, process.exit without stopAll):
 * ask every engine we started for a fast shutdown. Signals and SIGKILL skip 'exit'; `resume`
 * handles what they leave behind. One listener per process, whatever the number of supervisors.
 */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
const track = (child: ChildProcess): void => {
  liveChildren.add(child);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const live of liveChildren) {
      if (live.exitCode === null && live.signalCode === null) live.kill('SIGINT');
    }
  });
};

/** Resolves true when `promise` settles within `ms`, false otherwise (and clears its timer). */
const within = async (promise: Promise<unknown>, ms: number): Promise<boolean> => {
  const abort = new AbortController();
  try {
    return await Promise.race([
      promise.then(() => true),
      sleep(ms, false, { signal: abort.signal }).catch(() => false),
    ]);
  } finally {
    abort.abort();
  }
};

/**
 * The local EngineProvider: every addon instance is a real database server process on this
 * machine, a detached child of the platform listening on `host` only.
 *
 * Engines are spawned detached (their own process group) so the terminal's Ctrl-C reaches only the
 * platform, whose handler calls `stopAll` for an orderly fast shutdown, instead of racing it.
 */
export class LocalEngineSupervisor implements EngineProvider, SnapshotProvider {
  private readonly dataDir: string;
  private readonly enginesDir: string;
  private readonly host: string;
  private readonly log: (msg: string, extra?: object) => void;
  private readonly drivers = new Map<Engine, EngineDriver>([['postgresql', new PostgresDriver()]]);
  private readonly running = new Map<string, Running>();
  private readonly activity = new Map<string, Activity>();
  /** Why an instance is not running (failed start, crash, failed resume), for describeInstance. */
  private readonly failures = new Map<string, string>();
  private readonly locks = new Map<string, Promise<void>>();
  /** Set by stopAll: no engine starts until `resume` opens the supervisor again. */
  private closed = false;
  /** Aborted by stopAll: interrupts snapshots and restores in progress (a restore then rolls back). */
  private shutdown = new AbortController();
  private readonly snapshotStore: SnapshotStore;
  /** By snapshot id. */
  private readonly snapshotJobs = new Map<string, SnapshotJob>();
  /** By `${resourceId}/${snapshotId}`. */
  private readonly restoreJobs = new Map<string, RestoreJob>();

  constructor(options: LocalEngineSupervisorOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.enginesDir = path.join(this.dataDir, 'engines');
    this.snapshotStore = new SnapshotStore(path.join(this.dataDir, 'snapshots'));
    this.host = options.host ?? '127.0.0.1';
    this.log = options.log ?? (() => undefined);
  }

  // ------------------------------------------------------------------ EngineProvider

  async createInstance(spec: InstanceSpec): Promise<void> {
    const driver = this.driverFor(spec.engine);
    const id = this.checkId(spec.resourceId);
    await driver.checkSupported(spec);
    await this.exclusive(id, 'creating', async () => {
      this.assertOpen();
      const started = Date.now();
      const existing = await this.settledRecord(id);
      const runAs = await instanceUser(id);
      if (existing?.state === 'ready') {
        if (existing.engine !== spec.engine) {
          throw new ProviderError(
            `Instance ${id} already exists as ${existing.engine}, not ${spec.engine}`,
            'Conflict',
          );
        }
        const ctx = this.context(id, await this.withPlatformRole(id, existing, driver), runAs);
        await this.ensureRunning(ctx, driver);
        await this.settleIfNeeded(ctx, driver);
        return;
      }
      const dir = this.dirOf(id);
      if (existing || (await exists(dir))) {
        this.log('engine: previous create of this instance did not complete; starting over', {
          resourceId: id,
        });
        await this.stopAndForget(id, existing);
        await fs.rm(dir, { recursive: true, force: true });
      }

      await fs.mkdir(this.enginesDir, { recursive: true, mode: 0o711 });
      await fs.chmod(this.enginesDir, runAs ? 0o711 : 0o700); // whatever the umask
      await fs.mkdir(dir, { mode: 0o700 });
      // Engine user (root only): may walk through the instance dir, owns data/ and run/ only.
      if (runAs) await fs.chmod(dir, 0o711);
      const record: InstanceRecord = {
        engine: spec.engine,
        version: spec.version,
        host: this.host,
        port: await this.freePort(id, existing?.port),
        database: spec.database,
        username: spec.username,
        admin: { username: driver.platformRole, password: generatePassword() },
        dataDir: 'data',
        state: 'creating',
        createdAt: new Date().toISOString(),
      };
      await this.writeRecord(id, record);
      const ctx = this.context(id, record, runAs);
      for (const owned of [ctx.dataDir, ctx.socketDir]) {
        await fs.mkdir(owned, { mode: 0o700 });
        await chownTo(owned, runAs);
      }
      await ensureReachable(ctx.dataDir, runAs, [this.dataDir, this.enginesDir]);

      await driver.initialise(ctx, spec);
      const initialised = Date.now();
      let ready = initialised;
      try {
        await this.startOnSomePort(ctx, driver);
        ready = Date.now();
        await driver.bootstrap(ctx, spec);
      } catch (error) {
        await this.stopOurs(id).catch(() => undefined);
        throw error;
      }
      await this.writeRecord(id, { ...ctx.record, state: 'ready', readyAt: new Date().toISOString() });
      this.log('engine: instance created', {
        resourceId: id,
        engine: spec.engine,
        port: ctx.record.port,
        ms: Date.now() - started,
        initialiseMs: initialised - started,
        startMs: ready - initialised,
        bootstrapMs: Date.now() - ready,
      });
    });
  }

  async describeInstance(resourceId: string): Promise<InstanceState> {
    const id = this.checkId(resourceId);
    const activity = this.activity.get(id);
    if (activity === 'deleting') return { status: 'deleting' };
    let record: InstanceRecord | undefined;
    try {
      record = await this.readRecord(id);
    } catch (error) {
      return { status: 'failed', reason: errorMessage(error) };
    }
    if (record?.state !== 'ready' && activity === 'creating') return { status: 'creating' };
    if (!record) return (await exists(this.dirOf(id))) ? this.interrupted() : { status: 'absent' };
    if (record.state !== 'ready') return this.interrupted();
    const driver = this.drivers.get(record.engine);
    if (!driver)
      return { status: 'failed', reason: `Engine ${record.engine} is not run by the local target` };

    const ctx = this.context(id, record, undefined);
    const running = this.running.get(id);
    const alive = (running && !running.exit) || (await driver.findLeftover(ctx)) !== undefined;
    if (alive) {
      // A real check on the wire: a live process is not yet a server that accepts connections.
      if ((await driver.probe(ctx, 1_000)) === 'ready') {
        return { status: 'available', endpoint: { host: record.host, port: record.port } };
      }
      return { status: 'creating' };
    }
    if (activity) return { status: 'creating' };
    const failure = this.failures.get(id);
    if (failure) return { status: 'failed', reason: failure };
    const tail = await readTail(ctx.logFile, { lines: 5 });
    return {
      status: 'failed',
      reason: `The ${driver.displayName} server of this instance is not running${tail ? `; end of its log:\n${tail}` : ''}`,
    };
  }

  async deleteInstance(resourceId: string): Promise<void> {
    const id = this.checkId(resourceId);
    await this.exclusive(id, 'deleting', async () => {
      await this.stopAndForget(id, await this.readRecord(id).catch(() => undefined));
      await fs.rm(this.dirOf(id), { recursive: true, force: true });
      // Its snapshots outlive it: they go to the platform before the uid can be handed out again.
      if (isRoot()) {
        for (const backupDir of await this.snapshotStore.backupDirsOf(id)) await chownTree(backupDir, ROOT);
      }
      await removeInstanceUser(id);
      this.failures.delete(id);
      this.log('engine: instance deleted', { resourceId: id });
    });
  }

  // ------------------------------------------------------------------ SnapshotProvider

  /**
   * Begin a snapshot of a running instance; `describeSnapshot` reports its progress. It runs in the
   * background, after the instance's other operations (one at a time, like them). Idempotent: a
   * snapshot being taken or already available is left alone; a failed one, or one a platform crash
   * interrupted, is taken again.
   */
  async createSnapshot(resourceId: string, snapshotId: string): Promise<void> {
    const id = this.checkId(resourceId);
    const sid = checkSnapshotId(snapshotId);
    const running = this.snapshotJobs.get(sid);
    if (running) return this.sameSource(sid, running.resourceId, id);
    const existing = await this.snapshotStore.read(sid).catch((error: unknown) => {
      throw new ProviderError(`Cannot read snapshot ${sid}: ${errorMessage(error)}`, 'SnapshotUnreadable');
    });
    if (existing?.state === 'available') return this.sameSource(sid, existing.resourceId, id);
    const record = await this.readRecord(id);
    if (record?.state !== 'ready')
      throw new ProviderError(`Instance ${id} does not exist`, 'InstanceNotFound');
    this.snapshotsOf(record.engine);
    this.assertOpen();
    const pending = this.snapshotJobs.get(sid); // checked again: no await from here on
    if (pending) return this.sameSource(sid, pending.resourceId, id);
    const abort = new AbortController();
    const signal = AbortSignal.any([abort.signal, this.shutdown.signal]);
    const job: SnapshotJob = { resourceId: id, abort, done: Promise.resolve() };
    this.snapshotJobs.set(sid, job);
    job.done = this.exclusive(id, 'snapshotting', () => this.takeSnapshot(id, sid, signal))
      .catch((error: unknown) => {
        this.log('engine: snapshot failed', { resourceId: id, snapshotId: sid, error: errorMessage(error) });
      })
      .finally(() => {
        if (this.snapshotJobs.get(sid) === job) this.snapshotJobs.delete(sid);
      });
  }

  async describeSnapshot(snapshotId: string): Promise<SnapshotState> {
    const sid = checkSnapshotId(snapshotId);
    if (this.snapshotJobs.has(sid)) return { status: 'creating' };
    let snapshot: SnapshotRecord | undefined;
    try {
      snapshot = await this.snapshotStore.read(sid);
    } catch (error) {
      return { status: 'failed', reason: `Cannot read snapshot ${sid}: ${errorMessage(error)}` };
    }
    if (snapshot?.state === 'available')
      return { status: 'available', sizeBytes: snapshot.sizeBytes ?? null };
    if (snapshot?.state === 'failed')
      return { status: 'failed', reason: snapshot.reason ?? 'The snapshot failed' };
    if (await this.snapshotStore.completed(sid)) {
      return { status: 'failed', reason: `Snapshot ${sid} is incomplete (no snapshot.json); delete it` };
    }
    if ((await this.snapshotStore.partials(sid)).length > 0) {
      return {
        status: 'failed',
        reason:
          'The snapshot was interrupted by a platform restart before it completed; creating it again retakes it',
      };
    }
    return { status: 'absent' };
  }

  /** Remove a snapshot (one being taken is interrupted first); an absent one is fine. */
  async deleteSnapshot(snapshotId: string): Promise<void> {
    const sid = checkSnapshotId(snapshotId);
    const job = this.snapshotJobs.get(sid);
    if (job) {
      job.abort.abort();
      await job.done;
    }
    // A restore reading it finishes first.
    await Promise.all(
      [...this.restoreJobs.values()].filter((each) => each.snapshotId === sid).map((each) => each.done),
    );
    await this.snapshotStore.remove(sid);
    this.log('engine: snapshot deleted', { snapshotId: sid });
  }

  /**
   * Begin restoring a snapshot into the instance, in place: same port, same data directory path
   * in the connection details, data as at snapshot time; `describeRestore` reports it. The
   * snapshot is unpacked next to the running server, so the downtime is a stop and a start (with
   * recovery). Any failure rolls the instance back to its previous data, started again.
   *
   * Rejects at once for a snapshot that does not exist or cannot be restored here (another
   * engine, major version, database or user), without touching the instance. Idempotent: a call
   * for the snapshot being restored, or last restored, is a no-op (so restoring the same snapshot
   * twice in a row needs another snapshot id); after a failed restore it restores again.
   */
  async restoreSnapshot(
    resourceId: string,
    snapshotId: string,
    restoreId: string = snapshotId,
  ): Promise<void> {
    const id = this.checkId(resourceId);
    const sid = checkSnapshotId(snapshotId);
    const key = `${id}/${restoreId}`;
    if (this.restoreJobs.has(key)) return;
    const record = await this.readRecord(id);
    if (record?.state !== 'ready')
      throw new ProviderError(`Instance ${id} does not exist`, 'InstanceNotFound');
    if (restoreIdOf(record.restore) === restoreId && record.restore?.state === 'available') return;
    const problem = await this.restoreProblem(id, record, sid);
    if (problem) throw new ProviderError(problem.reason, problem.code);
    this.assertOpen();
    if (this.restoreJobs.has(key)) return; // checked again: no await from here on
    const abort = new AbortController();
    const job: RestoreJob = { snapshotId: sid, abort, done: Promise.resolve() };
    this.restoreJobs.set(key, job);
    const signal = AbortSignal.any([abort.signal, this.shutdown.signal]);
    job.done = this.exclusive(id, 'restoring', () => this.runRestore(id, sid, restoreId, signal))
      .catch((error: unknown) => {
        this.log('engine: restore failed', { resourceId: id, snapshotId: sid, error: errorMessage(error) });
      })
      .finally(() => {
        if (this.restoreJobs.get(key) === job) this.restoreJobs.delete(key);
      });
  }

  async describeRestore(
    resourceId: string,
    snapshotId: string,
    restoreId: string = snapshotId,
  ): Promise<RestoreState> {
    const id = this.checkId(resourceId);
    const sid = checkSnapshotId(snapshotId);
    if (this.restoreJobs.has(`${id}/${restoreId}`)) return { status: 'restoring' };
    let record: InstanceRecord | undefined;
    try {
      record = await this.readRecord(id);
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
    if (this.activity.get(id) === 'starting') return { status: 'restoring' }; // resume is rolling it back
    return {
      status: 'failed',
      reason:
        'The restore did not complete (the platform stopped while it ran); the instance returns to the data it had ' +
        'before when the platform resumes it or when the restore is retried',
    };
  }

  /**
   * Stop a restore the workflow gave up on: its rollback puts the previous data directory back
   * and starts it again. A restore already committed (instance.json says so) is kept.
   */
  async discardRestore(
    resourceId: string,
    snapshotId: string,
    restoreId: string = snapshotId,
  ): Promise<'discarded' | 'completed'> {
    const id = this.checkId(resourceId);
    checkSnapshotId(snapshotId);
    const job = this.restoreJobs.get(`${id}/${restoreId}`);
    if (job) {
      job.abort.abort();
      await job.done;
    }
    // Under the lock: a restore a crash interrupted is rolled back by settledRecord.
    const record = await this.exclusive(id, undefined, () => this.settledRecord(id));
    const restore = record?.restore;
    return restoreIdOf(restore) === restoreId && restore?.state === 'available' ? 'completed' : 'discarded';
  }

  // ------------------------------------------------------------------ platform lifecycle

  /**
   * Start again, on their recorded ports, the instances that were running when the platform last
   * stopped. A server left running by a platform process that was SIGKILLed is stopped (fast
   * shutdown) and started again as our child rather than adopted: a child gives us its exit event
   * (crash detection without polling) and one lifecycle for every engine, at the cost of ~0.1 s
   * and the orphan's client connections, which a platform restart drops anyway.
   *
   * Never rejects for one instance: failures are logged and reported by describeInstance.
   */
  async resume(resourceIds: string[]): Promise<void> {
    this.closed = false;
    if (this.shutdown.signal.aborted) this.shutdown = new AbortController();
    await this.snapshotStore.sweep().catch((error: unknown) => {
      this.log('engine: could not sweep deleted snapshots', { error: errorMessage(error) });
    });
    const queue = [...new Set(resourceIds)];
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const resourceId = id;
        await this.exclusive(resourceId, 'starting', () => this.resumeOne(resourceId)).catch(
          (error: unknown) => {
            this.failures.set(resourceId, errorMessage(error));
            this.log('engine: could not resume instance', { resourceId, error: errorMessage(error) });
          },
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(RESUME_CONCURRENCY, queue.length) }, worker));
  }

  /** Fast shutdown of every engine this supervisor started; resolves once they exited and their ports are closed. */
  async stopAll(): Promise<void> {
    this.closed = true;
    this.shutdown.abort();
    const ids = new Set([...this.running.keys(), ...this.locks.keys()]);
    await Promise.all(
      [...ids].map((id) =>
        this.exclusive(id, undefined, () => this.stopOurs(id)).catch((error: unknown) => {
          this.log('engine: could not stop instance', { resourceId: id, error: errorMessage(error) });
        }),
      ),
    );
    if (ids.size > 0) this.log('engine: all engines stopped', { count: ids.size });
  }

  /** Whether a server this supervisor started for the instance is running. */
  isRunning(resourceId: string): boolean {
    const running = this.running.get(resourceId);
    return running !== undefined && !running.exit;
  }

  // ------------------------------------------------------------------ internals

  private async resumeOne(id: string): Promise<void> {
    this.checkId(id);
    const record = await this.settledRecord(id);
    if (!record) {
      this.log('engine: nothing to resume, instance is absent', { resourceId: id });
      return;
    }
    if (record.state !== 'ready') {
      // The workflow that was creating it runs again and redoes the create.
      this.log('engine: not resuming an instance whose create was interrupted', { resourceId: id });
      return;
    }
    const driver = this.drivers.get(record.engine);
    if (!driver) throw new ProviderError(`Engine ${record.engine} is not run by the local target`);
    await this.sweepDataDirs(id, record);
    const ctx = this.context(id, await this.withPlatformRole(id, record, driver), await instanceUser(id));
    await this.ensureRunning(ctx, driver);
    await this.settleIfNeeded(ctx, driver);
    this.log('engine: instance resumed', { resourceId: id, port: record.port });
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
  private async takeSnapshot(id: string, sid: string, signal: AbortSignal): Promise<void> {
    const started = Date.now();
    const base: Omit<SnapshotRecord, 'state' | 'completedAt'> = {
      snapshotId: sid,
      resourceId: id,
      createdAt: new Date(started).toISOString(),
    };
    let partial: string | undefined;
    try {
      if ((await this.snapshotStore.read(sid))?.state === 'available') return; // an earlier call took it meanwhile
      this.assertOpen();
      signal.throwIfAborted();
      const record = await this.settledRecord(id);
      if (record?.state !== 'ready') {
        throw new ProviderError(`Instance ${id} was deleted before its snapshot began`, 'InstanceNotFound');
      }
      const driver = this.driverFor(record.engine);
      const snapshots = this.snapshotsOf(record.engine);
      const runAs = await instanceUser(id);
      const ctx = this.context(id, record, runAs);
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
      const attempt = await this.snapshotStore.begin(sid, runAs);
      partial = attempt.dir;
      await ensureReachable(attempt.backupDir, runAs, [this.dataDir, this.snapshotStore.dir]);
      await snapshots.take(ctx, attempt.backupDir, signal);
      const taken = Date.now();
      const sizeBytes = await treeSize(attempt.backupDir);
      await this.snapshotStore.commit(partial, {
        ...base,
        state: 'available',
        sizeBytes,
        completedAt: new Date().toISOString(),
      });
      this.log('engine: snapshot taken', {
        resourceId: id,
        snapshotId: sid,
        sizeBytes,
        ms: Date.now() - started,
        copyMs: taken - started,
      });
    } catch (error) {
      const reason = signal.aborted
        ? 'The snapshot was interrupted (the platform shut down, or the snapshot was deleted); creating it again retakes it'
        : errorMessage(error);
      await this.snapshotStore
        .fail(partial, { ...base, state: 'failed', reason, completedAt: new Date().toISOString() })
        .catch((failure: unknown) => {
          this.log('engine: could not record a failed snapshot', {
            snapshotId: sid,
            error: errorMessage(failure),
          });
        });
      throw error;
    }
  }

  /** Why `sid` cannot be restored into this instance, or undefined when it can. */
  private async restoreProblem(
    id: string,
    record: InstanceRecord,
    sid: string,
  ): Promise<{ code: string; reason: string } | undefined> {
    if (this.snapshotJobs.has(sid)) {
      return { code: 'SnapshotNotAvailable', reason: `Snapshot ${sid} is still being taken` };
    }
    let snapshot: SnapshotRecord | undefined;
    try {
      snapshot = await this.snapshotStore.read(sid);
    } catch (error) {
      return { code: 'SnapshotUnreadable', reason: `Cannot read snapshot ${sid}: ${errorMessage(error)}` };
    }
    if (!snapshot) return { code: 'SnapshotNotFound', reason: `Snapshot ${sid} does not exist` };
    if (snapshot.state !== 'available') {
      return { code: 'SnapshotNotAvailable', reason: `Snapshot ${sid} is not available: ${snapshot.reason}` };
    }
    const driver = this.driverFor(record.engine);
    const snapshots = this.snapshotsOf(record.engine);
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
      .dataMajor(this.context(id, record, undefined).dataDir)
      .catch(() => server);
    if (snapshot.engineMajor !== server || snapshot.engineMajor !== current) {
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
  private async runRestore(id: string, sid: string, restoreId: string, signal: AbortSignal): Promise<void> {
    const started = Date.now();
    const startedAt = new Date(started).toISOString();
    let record = await this.settledRecord(id);
    if (record?.state !== 'ready') {
      throw new ProviderError(`Instance ${id} was deleted before the restore began`, 'InstanceNotFound');
    }
    if (restoreIdOf(record.restore) === restoreId && record.restore?.state === 'available') return;
    const problem = this.closed
      ? {
          code: 'ShuttingDown',
          reason: 'The platform shut down before the restore began; restoring again retakes it',
        }
      : await this.restoreProblem(id, record, sid);
    if (problem) {
      const restore: RestoreRecord = {
        snapshotId: sid,
        restoreId,
        state: 'failed',
        reason: problem.reason,
        startedAt,
        completedAt: new Date().toISOString(),
      };
      await this.writeRecord(id, { ...record, restore });
      throw new ProviderError(problem.reason, problem.code);
    }
    const driver = this.driverFor(record.engine);
    const snapshots = this.snapshotsOf(record.engine);
    const runAs = await instanceUser(id);
    record = await this.withPlatformRole(id, record, driver);
    await this.sweepDataDirs(id, record);
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
      startedAt,
    };
    record = { ...record, restore };
    await this.writeRecord(id, record);
    const targetCtx = this.context(id, { ...record, dataDir: target }, runAs);
    let prepared = started;
    let stopped = started;
    try {
      await fs.rm(targetCtx.dataDir, { recursive: true, force: true });
      await fs.mkdir(targetCtx.dataDir, { mode: 0o700 });
      await fs.chmod(targetCtx.dataDir, 0o700);
      await chownTo(targetCtx.dataDir, runAs);
      // The engine user unpacks it: a snapshot of an older instance (or one run as `postgres`) is not its yet.
      const backupDir = this.snapshotStore.backupDirOf(sid);
      if (runAs && !(await ownedBy(backupDir, runAs))) await chownTree(backupDir, runAs);
      await snapshots.restore(targetCtx, backupDir, targetCtx.dataDir, signal);
      signal.throwIfAborted();
      prepared = Date.now();
      // The downtime: from here until the restored copy accepts connections.
      await this.stopAndForget(id, record);
      stopped = Date.now();
      record = { ...record, dataDir: target, restore: { ...restore, phase: 'switched' } };
      await this.writeRecord(id, record);
      const restoredCtx = this.context(id, record, runAs);
      await this.start(restoredCtx, driver);
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
      await this.writeRecord(id, record);
    } catch (error) {
      const why = signal.aborted
        ? 'it was stopped (the platform shut down, or its workflow gave up)'
        : errorMessage(error);
      await this.rollbackRestore(
        id,
        `Restoring snapshot ${sid} failed, and the instance was rolled back to the data it had before: ${why}`,
        true,
      );
      throw error;
    }
    await fs
      .rm(path.join(this.dirOf(id), previous), { recursive: true, force: true })
      .catch((error: unknown) => {
        this.log('engine: could not remove the data directory a restore replaced', {
          resourceId: id,
          error: errorMessage(error),
        });
      });
    this.log('engine: snapshot restored', {
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
  private async rollbackRestore(id: string, reason: string, restart: boolean): Promise<void> {
    const record = await this.readRecord(id);
    const restore = record?.restore;
    if (!record || restore?.state !== 'restoring') return;
    const driver = this.driverFor(record.engine);
    const runAs = await instanceUser(id);
    const previous = path.basename(restore.previousDataDir || record.dataDir || 'data');
    const target = restore.dataDir ? path.basename(restore.dataDir) : undefined;
    if (target && target !== previous) {
      const targetCtx = this.context(id, { ...record, dataDir: target }, runAs);
      const ours = this.running.get(id);
      if (ours && ours.ctx.dataDir === targetCtx.dataDir) await this.stopRunning(ours);
      const leftover = await driver.findLeftover(targetCtx);
      if (leftover !== undefined) {
        this.log('engine: stopping a server left running on an interrupted restore', {
          resourceId: id,
          pid: leftover,
        });
        await stopPid(leftover, driver.signals, STOP_GRACE_MS);
        await waitUntilClosed(record.host, record.port, 2_000);
      }
    }
    const rolledBack: InstanceRecord = {
      ...record,
      dataDir: previous,
      restore: {
        snapshotId: restore.snapshotId,
        restoreId: restore.restoreId,
        state: 'failed',
        reason,
        startedAt: restore.startedAt,
        completedAt: new Date().toISOString(),
      },
    };
    await this.writeRecord(id, rolledBack);
    if (target && target !== previous) {
      await fs.rm(path.join(this.dirOf(id), target), { recursive: true, force: true });
    }
    this.log('engine: restore rolled back', { resourceId: id, snapshotId: restore.snapshotId, reason });
    if (!restart || this.closed) return;
    try {
      await this.ensureRunning(this.context(id, rolledBack, runAs), driver);
    } catch (error) {
      const also = `${reason}; starting the previous data again failed too: ${errorMessage(error)}`;
      await this.writeRecord(id, {
        ...rolledBack,
        restore: { ...(rolledBack.restore as RestoreRecord), reason: also },
      });
    }
  }

  /**
   * The instance's record, after rolling back a restore that a crash interrupted (a `restoring`
   * record found under the lock belongs to no running restore). Call under the instance's lock.
   */
  private async settledRecord(id: string): Promise<InstanceRecord | undefined> {
    const record = await this.readRecord(id);
    if (record?.restore?.state !== 'restoring') return record;
    await this.rollbackRestore(id, RESTORE_INTERRUPTED, false);
    return this.readRecord(id);
  }

  /** Remove data directories the instance no longer uses (the previous data of a restore a crash cut short). */
  private async sweepDataDirs(id: string, record: InstanceRecord): Promise<void> {
    if (record.restore?.state === 'restoring') return;
    const current = path.basename(record.dataDir || 'data');
    if (!(await exists(path.join(this.dirOf(id), current)))) return; // not sure of anything then
    const names = await fs.readdir(this.dirOf(id)).catch(() => [] as string[]);
    for (const name of names) {
      if (name === current || !DATA_DIR_NAME.test(name)) continue;
      this.log('engine: removing a data directory the instance no longer uses', {
        resourceId: id,
        dir: name,
      });
      await fs.rm(path.join(this.dirOf(id), name), { recursive: true, force: true });
    }
  }

  private async ensureRunning(ctx: InstanceContext, driver: EngineDriver): Promise<void> {
    const running = this.running.get(ctx.resourceId);
    if (running && !running.exit) return this.waitReady(running);
    await this.start(ctx, driver);
  }

  /** First start of a new instance: its port is not published yet, so a port taken meanwhile is swapped. */
  private async startOnSomePort(ctx: InstanceContext, driver: EngineDriver): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.start(ctx, driver);
      } catch (error) {
        if (!(error instanceof ProviderError && error.code === 'PortInUse') || attempt >= 3) throw error;
        const port = await this.freePort(ctx.resourceId);
        this.log('engine: port taken before the first start, using another', {
          resourceId: ctx.resourceId,
          from: ctx.record.port,
          to: port,
        });
        ctx.record.port = port;
        await this.writeRecord(ctx.resourceId, ctx.record);
      }
    }
  }

  /** Start the server as our child and wait until it accepts connections. */
  private async start(ctx: InstanceContext, driver: EngineDriver): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce(ctx, driver);
      } catch (error) {
        // e.g. backends of a SIGKILLed postmaster still holding its shared memory for a moment
        if (!(error instanceof TransientError) || this.closed || attempt >= 5) throw error;
        this.log('engine: start failed, retrying', {
          resourceId: ctx.resourceId,
          attempt,
          error: errorMessage(error),
        });
        await sleep(200 * attempt);
      }
    }
  }

  private async startOnce(ctx: InstanceContext, driver: EngineDriver): Promise<void> {
    this.assertOpen();
    const { resourceId: id, record } = ctx;
    const leftover = await driver.findLeftover(ctx);
    if (leftover !== undefined) {
      this.log('engine: stopping a server left running by an earlier platform process', {
        resourceId: id,
        pid: leftover,
      });
      await stopPid(leftover, driver.signals, STOP_GRACE_MS);
    }
    if ((await driver.findLeftover(ctx)) === undefined) await driver.clearStaleLocks(ctx);
    if (!(await isPortFree(record.host, record.port))) {
      throw new ProviderError(
        `Port ${record.port} on ${record.host} is in use by another process; instance ${id} must keep that port ` +
          'because its connection details name it. Stop the other process and try again.',
        'PortInUse',
      );
    }

    await this.adoptFiles(ctx);
    const { command, args, env } = await driver.serverCommand(ctx);
    await fs.appendFile(
      ctx.logFile,
      `--- ${new Date().toISOString()} starting ${driver.displayName} on ${record.host}:${record.port} ---\n`,
      { mode: 0o600 },
    );
    const logOffset = await fileSize(ctx.logFile);
    const log = await fs.open(ctx.logFile, 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        cwd: ctx.dataDir,
        env,
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
        ...(ctx.runAs ? { uid: ctx.runAs.uid, gid: ctx.runAs.gid } : {}),
      });
    } finally {
      await log.close(); // the child has its own copy of the descriptor
    }
    const running: Running = {
      child,
      ctx,
      driver,
      stopping: false,
      ready: false,
      exited: Promise.resolve(),
      logOffset,
    };
    running.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        running.exit ??= { code, signal };
        resolve();
        this.onExit(running);
      });
      child.once('error', (error) => {
        if (child.pid !== undefined) return; // a failed kill(), not a failed spawn
        running.exit ??= { code: null, signal: null, error };
        resolve();
        this.onExit(running);
      });
    });
    child.unref(); // never keeps the platform alive; stopAll re-refs while it waits
    track(child);
    this.running.set(id, running);
    await this.waitReady(running);
  }

  private async waitReady(running: Running): Promise<void> {
    const { ctx, driver } = running;
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (running.exit) throw await this.startFailure(running);
      const probe = await driver.probe(ctx, 1_000);
      if (probe === 'ready' && !running.exit) {
        running.ready = true;
        this.failures.delete(ctx.resourceId);
        return;
      }
      if (Date.now() > deadline) {
        await this.stopRunning(running);
        const tail = await readTail(ctx.logFile, { from: running.logOffset });
        const reason = `${driver.displayName} did not accept connections within ${START_TIMEOUT_MS / 1000} s: ${tail}`;
        this.failures.set(ctx.resourceId, reason);
        throw new ProviderError(reason, 'EngineStartTimeout');
      }
      await sleep(25);
    }
  }

  private async startFailure(running: Running): Promise<Error> {
    const { ctx, driver, exit } = running;
    const tail = await readTail(ctx.logFile, { from: running.logOffset });
    const how = exit?.error
      ? exit.error.message
      : exit?.signal
        ? `killed by ${exit.signal}`
        : `exit code ${exit?.code ?? 'unknown'}`;
    const reason = `${driver.displayName} failed to start (${how})${tail ? `: ${tail}` : ''}`;
    this.failures.set(ctx.resourceId, reason);
    switch (driver.classifyStartFailure(tail)) {
      case 'port-in-use':
        return new ProviderError(reason, 'PortInUse');
      case 'transient':
        return new TransientError(reason);
      default:
        return new ProviderError(reason, 'EngineStartFailed');
    }
  }

  private onExit(running: Running): void {
    const { ctx, driver, child } = running;
    liveChildren.delete(child);
    if (this.running.get(ctx.resourceId) === running) this.running.delete(ctx.resourceId);
    if (running.stopping || !running.ready) return;
    const how = running.exit?.signal ? `killed by ${running.exit.signal}` : `exit code ${running.exit?.code}`;
    void readTail(ctx.logFile, { from: running.logOffset, lines: 8 }).then((tail) => {
      const reason = `${driver.displayName} stopped unexpectedly (${how})${tail ? `: ${tail}` : ''}`;
      this.failures.set(ctx.resourceId, reason);
      this.log('engine: server exited unexpectedly', { resourceId: ctx.resourceId, how });
    });
  }

  /** Fast shutdown of our child, escalating to immediate then SIGKILL; waits for exit and a closed port. */
  private async stopRunning(running: Running): Promise<void> {
    const { child, driver, ctx } = running;
    if (!running.exit) {
      running.stopping = true;
      child.ref(); // keep the event loop alive until it has exited
      try {
        child.kill(driver.signals.graceful);
        if (!(await within(running.exited, STOP_GRACE_MS))) {
          this.log('engine: graceful stop timed out, stopping immediately', { resourceId: ctx.resourceId });
          child.kill(driver.signals.immediate);
          if (!(await within(running.exited, 5_000))) {
            child.kill('SIGKILL');
            await running.exited;
          }
        }
      } finally {
        child.unref();
      }
    }
    if (this.running.get(ctx.resourceId) === running) this.running.delete(ctx.resourceId);
    await waitUntilClosed(ctx.record.host, ctx.record.port, 2_000);
  }

  private async stopOurs(id: string): Promise<void> {
    const running = this.running.get(id);
    if (running) await this.stopRunning(running);
  }

  /** Stop whatever runs for this instance: our child, or a server an earlier platform process left. */
  private async stopAndForget(id: string, record: InstanceRecord | undefined): Promise<void> {
    await this.stopOurs(id);
    const driver = record && this.drivers.get(record.engine);
    if (!record || !driver) return;
    const ctx = this.context(id, record, undefined);
    const leftover = await driver.findLeftover(ctx);
    if (leftover !== undefined) {
      this.log('engine: stopping a server left running by an earlier platform process', {
        resourceId: id,
        pid: leftover,
      });
      await stopPid(leftover, driver.signals, STOP_GRACE_MS);
      await waitUntilClosed(record.host, record.port, 2_000);
    }
  }

  /**
   * A free port for a new instance: `preferred` (the port of an interrupted create) if still free,
   * else one the OS hands out, never one recorded by another instance (stopped ones included).
   */
  private async freePort(id: string, preferred?: number): Promise<number> {
    const taken = new Set<number>();
    for (const running of this.running.values()) taken.add(running.ctx.record.port);
    const names = await fs.readdir(this.enginesDir).catch(() => [] as string[]);
    for (const name of names) {
      if (name === id) continue;
      const other = await readJson<InstanceRecord>(path.join(this.enginesDir, name, RECORD_FILE)).catch(
        () => undefined,
      );
      if (other) taken.add(other.port);
    }
    // Not a privileged port: as root the bind check would pass, but the engine runs unprivileged.
    if (preferred && preferred >= 1024 && !taken.has(preferred) && (await isPortFree(this.host, preferred))) {
      return preferred;
    }
    return allocatePort(this.host, taken);
  }

  /** Operations on one instance run one at a time (a retried task may overlap the attempt it retries). */
  private async exclusive<T>(id: string, activity: Activity | undefined, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const current = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => current);
    this.locks.set(id, tail);
    await previous;
    if (activity) this.activity.set(id, activity);
    try {
      return await fn();
    } finally {
      if (activity) this.activity.delete(id);
      release();
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  /**
   * Records from before customer roles have no platform role: give them one (written before the
   * driver migrates, so a crash midway finds the same password next time).
   */
  private async withPlatformRole(
    id: string,
    record: InstanceRecord,
    driver: EngineDriver,
  ): Promise<InstanceRecord> {
    if (record.admin) return record;
    const updated: InstanceRecord = {
      ...record,
      admin: { username: driver.platformRole, password: generatePassword() },
      accessSettled: false,
    };
    await this.writeRecord(id, updated);
    this.log('engine: migrating an instance to a customer role and a platform superuser', { resourceId: id });
    return updated;
  }

  /** Migrate the data of an older instance once it runs (see `InstanceRecord.accessSettled`). */
  private async settleIfNeeded(ctx: InstanceContext, driver: EngineDriver): Promise<void> {
    if (ctx.record.accessSettled !== false) return;
    await driver.settleAccess(ctx);
    const { accessSettled: _settled, ...settled } = ctx.record;
    ctx.record = settled;
    await this.writeRecord(ctx.resourceId, settled);
    this.log('engine: instance migrated to a customer role and a platform superuser', {
      resourceId: ctx.resourceId,
    });
  }

  /**
   * As root, the engine's files belong to the instance's own OS user, 0700: instances that ran as
   * the shared `postgres` user before per-instance users existed are handed over at their next start.
   */
  private async adoptFiles(ctx: InstanceContext): Promise<void> {
    const { runAs } = ctx;
    if (!runAs) return;
    await fs.chmod(ctx.dir, 0o711);
    for (const owned of [ctx.dataDir, ctx.socketDir]) {
      if (!(await exists(owned))) {
        await fs.mkdir(owned, { mode: 0o700 });
        await chownTo(owned, runAs);
      }
      if (!(await ownedBy(owned, runAs))) await chownTree(owned, runAs);
      await fs.chmod(owned, 0o700);
    }
    await ensureReachable(ctx.dataDir, runAs, [this.dataDir, this.enginesDir]);
  }

  private interrupted(): InstanceState {
    return {
      status: 'failed',
      reason:
        'The creation of this instance was interrupted before it completed; creating it again starts over',
    };
  }

  private driverFor(engine: Engine): EngineDriver {
    const driver = this.drivers.get(engine);
    if (!driver) {
      throw new UnsupportedError(
        `Engine '${engine}' cannot be provisioned on the local target yet: only PostgreSQL runs locally for now`,
        [{ path: 'engine', message: `'${engine}' is not provisioned locally` }],
      );
    }
    return driver;
  }

  private snapshotsOf(engine: Engine): SnapshotDriver {
    const snapshots = this.drivers.get(engine)?.snapshots;
    if (!snapshots) {
      throw new UnsupportedError(`Snapshots of ${engine} instances are not available on the local target`, [
        { path: 'type', message: `'${engine}' has no snapshots locally` },
      ]);
    }
    return snapshots;
  }

  private checkId(resourceId: string): string {
    if (!RESOURCE_ID.test(resourceId))
      throw new ProviderError(`Invalid resource id '${resourceId}'`, 'InvalidResourceId');
    return resourceId;
  }

  private assertOpen(): void {
    if (this.closed) throw new TransientError('The local engine supervisor is shutting down');
  }

  private dirOf(id: string): string {
    return path.join(this.enginesDir, id);
  }

  private context(id: string, record: InstanceRecord, runAs: RunAs | undefined): InstanceContext {
    const dir = this.dirOf(id);
    return {
      resourceId: id,
      dir,
      dataDir: path.join(dir, path.basename(record.dataDir || 'data')),
      socketDir: path.join(dir, 'run'),
      logFile: path.join(dir, 'server.log'),
      record,
      runAs,
    };
  }

  private async readRecord(id: string): Promise<InstanceRecord | undefined> {
    const file = path.join(this.dirOf(id), RECORD_FILE);
    try {
      return await readJson<InstanceRecord>(file);
    } catch (error) {
      // Written atomically, so never half-written; not something to wipe data over either.
      throw new ProviderError(`Cannot read ${file}: ${errorMessage(error)}`, 'InstanceRecordUnreadable');
    }
  }

  private writeRecord(id: string, record: InstanceRecord): Promise<void> {
    return writeJsonAtomic(path.join(this.dirOf(id), RECORD_FILE), record);
  }
}

/** Records written before restore ids existed name the restore by its snapshot. */
const restoreIdOf = (restore: RestoreRecord | undefined): string | undefined =>
  restore?.restoreId ?? restore?.snapshotId;
