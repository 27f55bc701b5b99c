import fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, ProviderError, UnsupportedError } from '#shared/errors.ts';
import type { ReplicaAddress, ReplicaProvider, ReplicaSetState } from '#shared/ports/replica-provider.ts';
import type { EngineDriver, InstanceContext, InstanceRecord, ReplicaDriver } from './driver.ts';
import { EngineDrivers } from './engine-drivers.ts';
import { checkId, InstanceFiles, type Log } from './instance-files.ts';
import { InstanceLocks } from './instance-locks.ts';
import { instanceUser } from './os-users.ts';
import { follows, primaryDataOf, type ReplicaRecord } from './replica-record.ts';
import { ServerProcesses } from './server-lifecycle.ts';
import {
  chownTo,
  ensureReachable,
  exists,
  processesUnder,
  readJson,
  stopPid,
  writeJsonAtomic,
} from './system.ts';

const REPLICAS_DIR = 'replicas';
/** Directories the engine user only passes through (as root), else the platform's alone. */
const ctxMode = (primary: InstanceContext): number => (primary.runAs ? 0o711 : 0o700);
const RECORD_FILE = 'replica.json';

export interface LocalReplicasOptions {
  dataDir: string;
  host?: string;
  log?: Log;
}

/**
 * The local ReplicaProvider: each replica of an instance is a server process of its own, in
 * `engines/<id>/replicas/<n>/` (data, socket, log, replica.json), on its own port, run as the
 * instance's OS user, started and watched like the primary (its own ServerProcesses) and seeded
 * by the engine's `ReplicaDriver`. The work is done by `setReplicaCount` itself (seconds), under
 * a lock per instance.
 *
 * Crash safety: replica.json says `creating` until the replica was seeded and started; `resume`
 * (platform start) and every `setReplicaCount` remove such a replica (stopping a server an earlier
 * platform process left on it), so a kill mid-add leaves neither process nor directory; the
 * workflow that was adding it runs again and adds it anew, or its compensation removes it.
 *
 * Re-seeding: each replica records the primary's data it was seeded from (`primaryDataOf`). Once
 * a restore (snapshot, point in time, upgrade, or the rollback of one that had switched) replaced
 * it, `reseedStale` seeds the replica again on its own port (its published URI stays valid). It
 * is marked `creating` with `reseed` first, so a kill mid-way leaves it marked: `resume` clears
 * what the kill left in it and seeds it again.
 */
export class LocalReplicas implements ReplicaProvider {
  private readonly host: string;
  private readonly log: Log;
  private readonly files: InstanceFiles;
  private readonly drivers = new EngineDrivers();
  private readonly servers: ServerProcesses;
  private readonly locks = new InstanceLocks();
  /** Background re-seeds in flight (`reseedInBackground`), and those that failed, by instance. */
  private readonly reseeding = new Map<string, Promise<void>>();
  private readonly reseedFailures = new Map<string, unknown>();
  private shutdown = new AbortController();

  constructor(options: LocalReplicasOptions) {
    this.host = options.host ?? '127.0.0.1';
    this.log = options.log ?? (() => undefined);
    this.files = new InstanceFiles(path.resolve(options.dataDir), this.log);
    this.servers = new ServerProcesses({
      files: this.files,
      drivers: this.drivers,
      host: this.host,
      log: this.log,
    });
  }

  setReplicaCount(resourceId: string, count: number): Promise<undefined> {
    const id = checkId(resourceId);
    return this.locks.exclusive(id, undefined, async (): Promise<undefined> => {
      this.servers.assertOpen();
      const primary = await this.primaryOf(id);
      const { replicas } = this.engineOf(primary.record);
      for (const n of await this.numbers(id)) {
        if (n > count) await this.remove(id, n);
      }
      for (let n = 1; n <= count; n++) await this.ensure(primary, replicas, n);
    });
  }

  async describeReplicas(resourceId: string, count: number): Promise<ReplicaSetState> {
    const id = checkId(resourceId);
    const endpoints: ReplicaAddress[] = [];
    const numbers = await this.numbers(id);
    for (let n = 1; n <= count; n++) {
      const record = await this.recordOf(id, n);
      if (record?.state === 'ready' && this.servers.isRunning(this.keyOf(id, n))) {
        endpoints.push({ host: this.host, port: record.port });
      }
    }
    const extra = numbers.filter((n) => n > count).length;
    if (endpoints.length === count && extra === 0) return { status: 'available', endpoints };
    const failure = numbers.map((n) => this.servers.failures.get(this.keyOf(id, n))).find(Boolean);
    if (failure && !this.locks.ids().includes(id)) return { status: 'failed', reason: failure };
    return { status: 'applying', ready: endpoints.length, wanted: count };
  }

  /**
   * The replicas of `primary` that run and follow it, each as a context of its own (its socket,
   * port and data): what the metrics sampler asks for the lag an engine measures on its replicas.
   */
  async runningReplicas(primary: InstanceContext): Promise<InstanceContext[]> {
    const contexts: InstanceContext[] = [];
    for (const n of await this.numbers(primary.resourceId)) {
      const record = await this.recordOf(primary.resourceId, n);
      if (record?.state === 'ready' && this.servers.isRunning(this.keyOf(primary.resourceId, n))) {
        contexts.push(this.contextOf(primary, n, record.port));
      }
    }
    return contexts;
  }

  /** Stop and remove every replica of the instance (before the instance itself is deleted). */
  removeAll(resourceId: string): Promise<void> {
    const id = checkId(resourceId);
    return this.locks.exclusive(id, undefined, async () => {
      for (const n of await this.numbers(id)) await this.remove(id, n);
      await fs.rm(path.join(this.files.dirOf(id), REPLICAS_DIR), { recursive: true, force: true });
    });
  }

  /**
   * Platform start, after the primaries: start again the replicas that were ready, remove those
   * whose creation a crash cut short. Never rejects for one instance.
   */
  async resume(resourceIds: string[]): Promise<void> {
    this.servers.closed = false;
    if (this.shutdown.signal.aborted) this.shutdown = new AbortController();
    for (const id of resourceIds) {
      await this.locks
        .exclusive(id, undefined, () =>
          this.eachReplica(id, async (primary, replicas, n, record) => {
            if (record?.state === 'ready' && follows(record, primary.record)) {
              if (record.primaryData === undefined) await this.stamp(primary, n, record);
              await this.start(primary, replicas, n, record);
            } else if (record?.state === 'ready' || record?.reseed) {
              await this.reseed(primary, replicas, n, record).catch((error: unknown) => {
                this.log('engine: could not seed a replica again', {
                  resourceId: id,
                  replica: n,
                  error: errorMessage(error),
                });
              });
            } else await this.remove(id, n);
          }),
        )
        .catch((error: unknown) => {
          this.log('engine: could not resume replicas', { resourceId: id, error: errorMessage(error) });
        });
    }
  }

  /**
   * After the primary's data was replaced (a restore, a point in time, an upgrade, or the rollback
   * of one that had switched): seed again, each on its own port, the replicas seeded from the data
   * it had before and those a crash left mid-reseed. Returns once they follow the primary; replicas
   * that still follow it are left alone, so it is a no-op when nothing changed.
   */
  async reseedStale(resourceId: string): Promise<void> {
    const id = checkId(resourceId);
    await this.locks.exclusive(id, undefined, () =>
      this.eachReplica(id, async (primary, replicas, n, record) => {
        if (record?.state === 'ready' && follows(record, primary.record)) return;
        if (record?.state === 'ready' || record?.reseed) await this.reseed(primary, replicas, n, record);
      }),
    );
    // Every replica follows now: an earlier background failure is no longer news.
    this.reseedFailures.delete(id);
  }

  /**
   * `reseedStale` for a workflow's describe step, which must stay short however big the data (its
   * task has a timeout): the first call that finds a stale replica starts the re-seed in the
   * background and answers false, as do the calls while it runs; true once every replica follows
   * the primary. A re-seed that failed is thrown by the next call, once; the call after it starts
   * another. A kill meanwhile leaves the replicas marked, and `resume` seeds them again.
   */
  async reseedInBackground(resourceId: string): Promise<boolean> {
    const id = checkId(resourceId);
    const failure = this.reseedFailures.get(id);
    if (failure !== undefined) {
      this.reseedFailures.delete(id);
      throw failure;
    }
    if (this.reseeding.has(id)) return false;
    if (!(await this.anyStale(id))) return true;
    const run = this.reseedStale(id)
      .catch((error: unknown) => {
        this.reseedFailures.set(id, error);
      })
      .finally(() => this.reseeding.delete(id));
    this.reseeding.set(id, run);
    return false;
  }

  /** Whether a replica of the instance was seeded from data its primary no longer serves, or is mid-reseed. */
  private async anyStale(id: string): Promise<boolean> {
    const numbers = await this.numbers(id);
    if (numbers.length === 0) return false;
    const primary = await this.primaryOf(id);
    for (const n of numbers) {
      const record = await this.recordOf(id, n);
      if (record?.reseed || (record?.state === 'ready' && !follows(record, primary.record))) return true;
    }
    return false;
  }

  /**
   * Restart every ready replica with the primary's record as it is now: a plan change sizes the
   * replicas like their primary (a PostgreSQL standby must have at least the primary's
   * max_connections and other limits, or its recovery stops).
   */
  restartAll(resourceId: string): Promise<void> {
    const id = checkId(resourceId);
    return this.locks.exclusive(id, undefined, () =>
      this.eachReplica(id, async (primary, replicas, n, record) => {
        if (record?.state !== 'ready') return;
        await this.servers.stopOurs(this.keyOf(id, n));
        await this.start(primary, replicas, n, record);
      }),
    );
  }

  /**
   * After a credential change on the primary: each running replica gets the customer's logins as
   * the primary has them (engines whose users are not replicated, Redis). A replica not running
   * reads them at its next start.
   */
  syncLogins(resourceId: string): Promise<void> {
    const id = checkId(resourceId);
    return this.locks.exclusive(id, undefined, () =>
      this.eachReplica(id, async (primary, replicas, n, record) => {
        if (!replicas.syncLogins || record?.state !== 'ready' || !this.servers.isRunning(this.keyOf(id, n)))
          return;
        await replicas.syncLogins(primary, this.contextOf(primary, n, record.port));
      }),
    );
  }

  /** Fast shutdown of every replica server (Ctrl-C); a seed in progress is interrupted. */
  async stopAll(): Promise<void> {
    this.servers.closed = true;
    this.shutdown.abort();
    await Promise.all(this.servers.ids().map((key) => this.servers.stopOurs(key)));
  }

  // ------------------------------------------------------------------ internals

  /** `work` for each replica directory of the instance, in order, with its record (if any); under the caller's lock. */
  private async eachReplica(
    id: string,
    work: (
      primary: InstanceContext,
      replicas: ReplicaDriver,
      n: number,
      record: ReplicaRecord | undefined,
    ) => Promise<void>,
  ): Promise<void> {
    const numbers = await this.numbers(id);
    if (numbers.length === 0) return;
    const primary = await this.primaryOf(id);
    const { replicas } = this.engineOf(primary.record);
    for (const n of numbers) await work(primary, replicas, n, await this.recordOf(id, n));
  }

  private keyOf(id: string, n: number): string {
    return `${id}-replica-${n}`;
  }

  private dirOf(id: string, n: number): string {
    return path.join(this.files.dirOf(id), REPLICAS_DIR, String(n));
  }

  private async numbers(id: string): Promise<number[]> {
    const names = await fs.readdir(path.join(this.files.dirOf(id), REPLICAS_DIR)).catch(() => [] as string[]);
    return names
      .filter((name) => /^[1-9]\d?$/.test(name))
      .map(Number)
      .sort((a, b) => a - b);
  }

  private recordOf(id: string, n: number): Promise<ReplicaRecord | undefined> {
    return readJson<ReplicaRecord>(path.join(this.dirOf(id, n), RECORD_FILE)).catch(() => undefined);
  }

  private async primaryOf(id: string): Promise<InstanceContext> {
    const record = await this.files.readRecord(id);
    if (record?.state !== 'ready')
      throw new ProviderError(`Instance ${id} does not exist`, 'InstanceNotFound');
    return this.files.context(id, record, await instanceUser(id));
  }

  private engineOf(record: InstanceRecord): { driver: EngineDriver; replicas: ReplicaDriver } {
    const driver = this.drivers.driverFor(record.engine);
    if (!driver.replicas) {
      throw new UnsupportedError(`${driver.displayName} addons have no read replicas on the local target`, [
        { path: 'body.replicas', message: `read replicas are not available for ${record.engine} here` },
      ]);
    }
    return { driver, replicas: driver.replicas };
  }

  /**
   * Replica `n` as a context of its own: its directory, data, socket, log and port; private, with
   * TLS while the primary requires it (its clients are given the primary's URI scheme and CA).
   */
  private contextOf(primary: InstanceContext, n: number, port: number): InstanceContext {
    const dir = this.dirOf(primary.resourceId, n);
    const tls = primary.record.networking?.tls === true;
    return {
      resourceId: this.keyOf(primary.resourceId, n),
      dir,
      dataDir: path.join(dir, 'data'),
      socketDir: path.join(dir, 'run'),
      logFile: path.join(dir, 'server.log'),
      record: {
        ...primary.record,
        host: this.host,
        port,
        dataDir: 'data',
        networking: tls ? { tls, public: false, allow: [] } : undefined,
      },
      runAs: primary.runAs,
    };
  }

  /** The primary's driver, but for the replica's command (probe, leftovers and stops are the engine's own). */
  private serverDriver(primary: InstanceContext, replicas: ReplicaDriver): EngineDriver {
    const driver = this.drivers.driverFor(primary.record.engine);
    return Object.assign(Object.create(driver) as EngineDriver, {
      displayName: `${driver.displayName} replica`,
      serverCommand: (replica: InstanceContext) => replicas.serverCommand(primary, replica),
    });
  }

  /** Replica `n` running (started, then made to follow the primary, unless it already runs). */
  private async start(
    primary: InstanceContext,
    replicas: ReplicaDriver,
    n: number,
    record: ReplicaRecord,
    first = false,
  ) {
    const ctx = this.contextOf(primary, n, record.port);
    const driver = this.serverDriver(primary, replicas);
    if (!first && this.servers.isRunning(ctx.resourceId)) return this.servers.ensureRunning(ctx, driver);
    await this.servers.start(ctx, driver);
    await replicas.follow?.(primary, ctx, { first, signal: this.shutdown.signal });
  }

  private async ensure(primary: InstanceContext, replicas: ReplicaDriver, n: number): Promise<void> {
    const id = primary.resourceId;
    const existing = await this.recordOf(id, n);
    if (existing?.state === 'ready' && follows(existing, primary.record)) {
      return this.start(primary, replicas, n, existing);
    }
    if (existing?.state === 'ready' || existing?.reseed) return this.reseed(primary, replicas, n, existing);
    if (existing || (await exists(this.dirOf(id, n)))) await this.remove(id, n);
    const started = Date.now();
    const dir = this.dirOf(id, n);
    const parent = path.dirname(dir);
    // The engine user walks through these to its own data and socket (whatever the umask).
    await fs.mkdir(parent, { recursive: true, mode: 0o711 });
    await fs.chmod(parent, ctxMode(primary));
    await fs.mkdir(dir, { mode: 0o711 });
    await fs.chmod(dir, ctxMode(primary));
    const record: ReplicaRecord = {
      port: await this.servers.freePort(this.keyOf(id, n)),
      state: 'creating',
      createdAt: new Date().toISOString(),
    };
    await writeJsonAtomic(path.join(dir, RECORD_FILE), record);
    const port = await this.seed(primary, replicas, n, record);
    this.log('engine: replica created', { resourceId: id, replica: n, port, ms: Date.now() - started });
  }

  /**
   * Seed replica `n` again on its port from the primary's data as it is now. Marked `creating`
   * with `reseed` before anything is stopped, so a crash leaves it marked (resume finishes it); a
   * failure leaves it marked too, its directory emptied but for the record.
   */
  private async reseed(
    primary: InstanceContext,
    replicas: ReplicaDriver,
    n: number,
    record: ReplicaRecord,
  ): Promise<void> {
    this.servers.assertOpen();
    const id = primary.resourceId;
    const started = Date.now();
    const { primaryData: _previous, ...rest } = record;
    const marked: ReplicaRecord = { ...rest, state: 'creating', reseed: true };
    await writeJsonAtomic(path.join(this.dirOf(id, n), RECORD_FILE), marked);
    await this.clear(id, n);
    try {
      await this.seed(primary, replicas, n, marked);
    } catch (error) {
      await this.clear(id, n);
      throw error;
    }
    this.log('engine: replica seeded again', { resourceId: id, replica: n, ms: Date.now() - started });
  }

  /** Seed the replica's empty directory from the running primary, start it and mark it ready; its port. */
  private async seed(
    primary: InstanceContext,
    replicas: ReplicaDriver,
    n: number,
    record: ReplicaRecord,
  ): Promise<number> {
    const dir = this.dirOf(primary.resourceId, n);
    const ctx = this.contextOf(primary, n, record.port);
    for (const owned of [ctx.dataDir, ctx.socketDir]) {
      await fs.mkdir(owned, { mode: 0o700 });
      await chownTo(owned, ctx.runAs);
    }
    await ensureReachable(ctx.dataDir, ctx.runAs, [
      this.files.dataDir,
      this.files.enginesDir,
      primary.dir,
      path.dirname(dir),
    ]);
    await replicas.seed(primary, ctx, this.shutdown.signal);
    await this.start(primary, replicas, n, record, true);
    const { reseed: _done, ...rest } = record;
    await writeJsonAtomic(path.join(dir, RECORD_FILE), {
      ...rest,
      port: ctx.record.port,
      state: 'ready',
      primaryData: primaryDataOf(primary.record),
    } satisfies ReplicaRecord);
    return ctx.record.port;
  }

  /** A replica seeded before re-seeding existed: it follows the primary's data as it is now. */
  private async stamp(primary: InstanceContext, n: number, record: ReplicaRecord): Promise<void> {
    const stamped = { ...record, primaryData: primaryDataOf(primary.record) };
    await writeJsonAtomic(path.join(this.dirOf(primary.resourceId, n), RECORD_FILE), stamped);
  }

  /** Stop replica `n` (our child, or a server an earlier platform process left) and remove its directory. */
  private async remove(id: string, n: number): Promise<void> {
    await this.stopIn(id, n);
    await fs.rm(this.dirOf(id, n), { recursive: true, force: true, maxRetries: 3 });
    this.servers.failures.delete(this.keyOf(id, n));
    this.log('engine: replica removed', { resourceId: id, replica: n });
  }

  /** Stop whatever runs in replica `n` and empty its directory but for its record. */
  private async clear(id: string, n: number): Promise<void> {
    await this.stopIn(id, n);
    const dir = this.dirOf(id, n);
    for (const name of await fs.readdir(dir)) {
      if (name !== RECORD_FILE)
        await fs.rm(path.join(dir, name), { recursive: true, force: true, maxRetries: 3 });
    }
    this.servers.failures.delete(this.keyOf(id, n));
  }

  /** Stop replica `n`'s server (our child, or one an earlier platform process left) and any tool at work in its directory. */
  private async stopIn(id: string, n: number): Promise<void> {
    await this.servers.stopOurs(this.keyOf(id, n));
    const dir = this.dirOf(id, n);
    const record = await this.files.readRecord(id).catch(() => undefined);
    const driver = record && this.drivers.find(record.engine);
    if (driver) {
      const pid = await driver.findLeftover({ dataDir: path.join(dir, 'data') } as InstanceContext);
      if (pid !== undefined) await stopPid(pid, driver.signals, 20_000);
    }
    // A seed tool a killed platform left running in the directory would write on into it.
    for (const pid of await processesUnder(dir)) {
      await stopPid(pid, { graceful: 'SIGTERM', immediate: 'SIGKILL' }, 5_000);
    }
  }
}
