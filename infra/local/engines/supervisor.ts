import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, ProviderError, TransientError, UnsupportedError } from '#shared/errors.ts';
import type { EngineProvider, InstanceSpec, InstanceState } from '#shared/ports/engine-provider.ts';
import type { Engine } from '#shared/schemas/catalog.ts';
import type { EngineDriver, InstanceContext, InstanceRecord } from './driver.ts';
import { PostgresDriver } from './postgres.ts';
import {
  allocatePort,
  chownTo,
  engineUser,
  ensureReachable,
  exists,
  fileSize,
  isPortFree,
  type RunAs,
  readJson,
  readTail,
  stopPid,
  waitUntilClosed,
  writeJsonAtomic,
} from './system.ts';

export interface LocalEngineSupervisorOptions {
  /** The platform's data directory; instances live in `${dataDir}/engines/${resourceId}/`. */
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

type Activity = 'creating' | 'starting' | 'deleting';

const RESOURCE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const RECORD_FILE = 'instance.json';
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 20_000;
const RESUME_CONCURRENCY = 4;

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
export class LocalEngineSupervisor implements EngineProvider {
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

  constructor(options: LocalEngineSupervisorOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.enginesDir = path.join(this.dataDir, 'engines');
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
      const existing = await this.readRecord(id);
      const runAs = await engineUser(driver.systemUser);
      if (existing?.state === 'ready') {
        if (existing.engine !== spec.engine) {
          throw new ProviderError(
            `Instance ${id} already exists as ${existing.engine}, not ${spec.engine}`,
            'Conflict',
          );
        }
        await this.ensureRunning(this.context(id, existing, runAs), driver);
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
      this.failures.delete(id);
      this.log('engine: instance deleted', { resourceId: id });
    });
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
    const record = await this.readRecord(id);
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
    await this.ensureRunning(this.context(id, record, await engineUser(driver.systemUser)), driver);
    this.log('engine: instance resumed', { resourceId: id, port: record.port });
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
