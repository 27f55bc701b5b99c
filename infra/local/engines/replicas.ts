import fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, ProviderError, UnsupportedError } from '#shared/errors.ts';
import type { EngineProvider, ResizeRequest } from '#shared/ports/engine-provider.ts';
import type { ReplicaAddress, ReplicaProvider, ReplicaSetState } from '#shared/ports/replica-provider.ts';
import type { NetworkingSettings } from '#shared/schemas/networking.ts';
import type { EngineDriver, InstanceContext, InstanceRecord, ReplicaDriver } from './driver.ts';
import { EngineDrivers } from './engine-drivers.ts';
import { checkId, InstanceFiles, type Log } from './instance-files.ts';
import { InstanceLocks } from './instance-locks.ts';
import { instanceUser } from './os-users.ts';
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

/** `engines/<id>/replicas/<n>/replica.json`: `creating` until seeded and started once. */
interface ReplicaRecord {
  port: number;
  state: 'creating' | 'ready';
  createdAt: string;
}

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
 */
export class LocalReplicas implements ReplicaProvider {
  private readonly host: string;
  private readonly log: Log;
  private readonly files: InstanceFiles;
  private readonly drivers = new EngineDrivers();
  private readonly servers: ServerProcesses;
  private readonly locks = new InstanceLocks();
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
            if (record?.state === 'ready') await this.start(primary, replicas, n, record);
            else await this.remove(id, n);
          }),
        )
        .catch((error: unknown) => {
          this.log('engine: could not resume replicas', { resourceId: id, error: errorMessage(error) });
        });
    }
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
    if (existing?.state === 'ready') return this.start(primary, replicas, n, existing);
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
    const ctx = this.contextOf(primary, n, record.port);
    for (const owned of [ctx.dataDir, ctx.socketDir]) {
      await fs.mkdir(owned, { mode: 0o700 });
      await chownTo(owned, ctx.runAs);
    }
    await ensureReachable(ctx.dataDir, ctx.runAs, [
      this.files.dataDir,
      this.files.enginesDir,
      primary.dir,
      parent,
    ]);
    await replicas.seed(primary, ctx, this.shutdown.signal);
    await this.start(primary, replicas, n, record, true);
    await writeJsonAtomic(path.join(dir, RECORD_FILE), { ...record, port: ctx.record.port, state: 'ready' });
    this.log('engine: replica created', {
      resourceId: id,
      replica: n,
      port: ctx.record.port,
      ms: Date.now() - started,
    });
  }

  /** Stop replica `n` (our child, or a server an earlier platform process left) and remove its directory. */
  private async remove(id: string, n: number): Promise<void> {
    const key = this.keyOf(id, n);
    await this.servers.stopOurs(key);
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
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 });
    this.servers.failures.delete(key);
    this.log('engine: replica removed', { resourceId: id, replica: n });
  }
}

/**
 * The instance provider with its replicas removed before the instance is deleted (a delete of the
 * addon, or of a leftover), so no replica process outlives its primary; restarted after a plan
 * change, so they run with the primary's new limits, and after a networking change, so they serve
 * and follow with TLS as the primary now does; given the customer's logins after each step of a
 * credential rotation where the engine does not replicate them.
 */
export const withReplicaCleanup = <P extends EngineProvider>(provider: P, replicas: LocalReplicas): P =>
  Object.assign(Object.create(provider) as P, {
    deleteInstance: async (resourceId: string) => {
      await replicas.removeAll(resourceId);
      await provider.deleteInstance(resourceId);
    },
    ...(provider.resize
      ? {
          resize: async (resourceId: string, change: ResizeRequest) => {
            await provider.resize?.(resourceId, change);
            if (change.plan) await replicas.restartAll(resourceId);
          },
        }
      : {}),
    ...(provider.configureNetworking
      ? {
          configureNetworking: async (resourceId: string, networking: NetworkingSettings) => {
            const applied = await provider.configureNetworking?.(resourceId, networking);
            await replicas.restartAll(resourceId);
            return applied;
          },
        }
      : {}),
    ...(provider.addLogin
      ? {
          addLogin: async (resourceId: string, current: string, password: string) => {
            const login = await provider.addLogin?.(resourceId, current, password);
            await replicas.syncLogins(resourceId);
            return login;
          },
        }
      : {}),
    ...(provider.retainOnlyLogin
      ? {
          retainOnlyLogin: async (resourceId: string, login: { username: string; password: string }) => {
            await provider.retainOnlyLogin?.(resourceId, login);
            await replicas.syncLogins(resourceId);
          },
        }
      : {}),
  });
