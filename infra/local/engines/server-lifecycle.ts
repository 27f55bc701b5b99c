import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, ProviderError, TransientError } from '#shared/errors.ts';
import type { EngineDriver, InstanceContext, InstanceRecord } from './driver.ts';
import type { EngineDrivers } from './engine-drivers.ts';
import type { InstanceFiles, Log } from './instance-files.ts';
import { lowerJobSessions } from './job-sessions.ts';
import { allocatePort, fileSize, isPortFree, readTail, stopPid, waitUntilClosed } from './system.ts';

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

const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 20_000;

/**
 * Last line of defence for an unplanned exit (uncaught exception, process.exit without stopAll):
 * ask every engine we started for a fast shutdown, with its own engine's graceful signal. Signals
 * and SIGKILL skip 'exit'; `resume` handles what they leave behind. One listener per process,
 * whatever the number of supervisors.
 */
const liveChildren = new Map<ChildProcess, NodeJS.Signals>();
let exitHookInstalled = false;
const track = (child: ChildProcess, graceful: NodeJS.Signals): void => {
  liveChildren.set(child, graceful);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const [live, signal] of liveChildren) {
      if (live.exitCode === null && live.signalCode === null) live.kill(signal);
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

export interface ServerProcessesOptions {
  files: InstanceFiles;
  drivers: EngineDrivers;
  /** The only address engines listen on. */
  host: string;
  log: Log;
}

/**
 * The engine server processes: started as detached children of the platform, watched for a crash,
 * stopped with escalation. Callers hold the instance's lock.
 */
export class ServerProcesses {
  private readonly files: InstanceFiles;
  private readonly drivers: EngineDrivers;
  private readonly host: string;
  private readonly log: Log;
  private readonly running = new Map<string, Running>();
  /** Why an instance is not running (failed start, crash, failed resume), for describeInstance. */
  readonly failures = new Map<string, string>();
  /** Set by stopAll: no engine starts until `resume` opens the supervisor again. */
  closed = false;

  constructor(options: ServerProcessesOptions) {
    this.files = options.files;
    this.drivers = options.drivers;
    this.host = options.host;
    this.log = options.log;
  }

  assertOpen(): void {
    if (this.closed) throw new TransientError('The local engine supervisor is shutting down');
  }

  /** Whether a server this supervisor started for the instance is running. */
  isRunning(resourceId: string): boolean {
    const running = this.running.get(resourceId);
    return running !== undefined && !running.exit;
  }

  /** Servers that are up and ready, with their pid: what the metrics sampler reads. */
  serving(): Array<{ ctx: InstanceContext; pid: number }> {
    const found: Array<{ ctx: InstanceContext; pid: number }> = [];
    for (const running of this.running.values()) {
      const pid = running.child.pid;
      if (running.ready && !running.exit && !running.stopping && pid !== undefined) {
        found.push({ ctx: running.ctx, pid });
      }
    }
    return found;
  }

  /** The sessions of the platform's jobs on these instances, below the customers' until `signal`. */
  lowerJobSessions(resourceIds: readonly string[], signal: AbortSignal): Promise<void> {
    return lowerJobSessions({ serving: () => this.serving(), drivers: this.drivers, resourceIds, signal });
  }

  /** Instances with a server this supervisor started (exited ones not yet forgotten included). */
  ids(): string[] {
    return [...this.running.keys()];
  }

  async ensureRunning(ctx: InstanceContext, driver: EngineDriver): Promise<void> {
    const running = this.running.get(ctx.resourceId);
    if (running && !running.exit) return this.waitReady(running);
    await this.start(ctx, driver);
  }

  /** First start of a new instance: its port is not published yet, so a port taken meanwhile is swapped. */
  async startOnSomePort(ctx: InstanceContext, driver: EngineDriver): Promise<void> {
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
        await this.files.writeRecord(ctx.resourceId, ctx.record);
      }
    }
  }

  /** Start the server as our child and wait until it accepts connections. */
  async start(ctx: InstanceContext, driver: EngineDriver): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce(ctx, driver);
      } catch (error) {
        // e.g. children of a SIGKILLed server still holding its shared memory or file locks for a moment
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

    await this.files.adoptFiles(ctx);
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
    track(child, driver.signals.graceful);
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

  /** Stop our child for this instance, if any. */
  async stopOurs(id: string): Promise<void> {
    const running = this.running.get(id);
    if (running) await this.stopRunning(running);
  }

  /** Stop our child for this instance if it runs on `dataDir`. */
  async stopOursOn(id: string, dataDir: string): Promise<void> {
    const running = this.running.get(id);
    if (running && running.ctx.dataDir === dataDir) await this.stopRunning(running);
  }

  /** Stop whatever runs for this instance: our child, or a server an earlier platform process left. */
  async stopAndForget(id: string, record: InstanceRecord | undefined): Promise<void> {
    await this.stopOurs(id);
    const driver = record && this.drivers.find(record.engine);
    if (!record || !driver) return;
    await this.stopLeftover(
      this.files.context(id, record, undefined),
      driver,
      'engine: stopping a server left running by an earlier platform process',
    );
  }

  /** Stop a server on `ctx.dataDir` that is not our child (a crashed platform process left it), and wait for its port to close. */
  async stopLeftover(ctx: InstanceContext, driver: EngineDriver, message: string): Promise<void> {
    const leftover = await driver.findLeftover(ctx);
    if (leftover === undefined) return;
    this.log(message, { resourceId: ctx.resourceId, pid: leftover });
    await stopPid(leftover, driver.signals, STOP_GRACE_MS);
    await waitUntilClosed(ctx.record.host, ctx.record.port, 2_000);
  }

  /**
   * A free port for a new instance: `preferred` (the port of an interrupted create) if still free,
   * else one the OS hands out, never one recorded by another instance (stopped ones included).
   */
  async freePort(id: string, preferred?: number): Promise<number> {
    const taken = new Set<number>();
    for (const running of this.running.values()) taken.add(running.ctx.record.port);
    for (const port of await this.files.recordedPorts(id)) taken.add(port);
    // Not a privileged port: as root the bind check would pass, but the engine runs unprivileged.
    if (preferred && preferred >= 1024 && !taken.has(preferred) && (await isPortFree(this.host, preferred))) {
      return preferred;
    }
    return allocatePort(this.host, taken);
  }
}
