import fs from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import type {
  EngineProvider,
  InstanceSpec,
  InstanceState,
  Login,
  NetworkingApplied,
  RestorableWindow,
  RestoreState,
  SnapshotProvider,
  SnapshotState,
} from '#shared/ports/engine-provider.ts';
import type { NetworkingSettings } from '#shared/schemas/networking.ts';
import { generatePassword } from '#shared/services/credentials.ts';
import type { EngineDriver, InstanceContext, InstanceRecord, LoginDriver } from './driver.ts';
import { EngineDrivers } from './engine-drivers.ts';
import { checkId, InstanceFiles, type Log } from './instance-files.ts';
import { InstanceLocks } from './instance-locks.ts';
import { applyNetworking, checkNetworking, networkingState } from './networking.ts';
import { chownTree, instanceUser, removeInstanceUser } from './os-users.ts';
import { PointInTimeRecovery } from './point-in-time.ts';
import type { WalArchiveTarget } from './postgresql/wal-archive.ts';
import { ServerProcesses } from './server-lifecycle.ts';
import type { ExportTarget, SnapshotExporter } from './snapshot-export.ts';
import { SnapshotImports } from './snapshot-imports.ts';
import { SnapshotJobs } from './snapshot-jobs.ts';
import { SnapshotRestores } from './snapshot-restore.ts';
import { SnapshotStore } from './snapshots.ts';
import { chownTo, ensureReachable, exists, isRoot, readTail } from './system.ts';
import { defaultPublicHost } from './tls.ts';
import { LocalUpgrades as Upgrades } from './upgrades.ts';

export interface LocalEngineSupervisorOptions {
  /** Instances live in `${dataDir}/engines/<id>/`, snapshots in `${dataDir}/snapshots/<id>/` (they outlive it). */
  dataDir: string;
  /** The only address engines listen on, but public ones (every interface). Default 127.0.0.1. */
  host?: string;
  /** Where other machines reach a public instance. Default: the first external IPv4 address. */
  publicHost?: string;
  log?: (msg: string, extra?: object) => void;
  /** Where downloadable snapshot copies go (`exportTo`); none: such snapshots are refused. */
  exporter?: SnapshotExporter;
  /** Where uploaded files are (the S3 emulator); without it imports are refused. */
  objects?: S3Client;
  /** Where point-in-time recovery archives (WAL, base backups); none: nothing archived, restores refused. */
  walArchive?: WalArchiveTarget;
}

const ROOT = { uid: 0, gid: 0 };
const RESUME_CONCURRENCY = 4;

/**
 * The local EngineProvider: every addon instance is a real database server process on this
 * machine, a detached child of the platform (its own process group, so the terminal's Ctrl-C
 * reaches only the platform, whose handler calls `stopAll` for an orderly fast shutdown).
 */
export class LocalEngineSupervisor implements EngineProvider, SnapshotProvider {
  private readonly host: string;
  private readonly publicHost: string;
  private readonly log: Log;
  protected readonly files: InstanceFiles;
  protected readonly drivers: EngineDrivers;
  protected readonly locks = new InstanceLocks();
  protected readonly servers: ServerProcesses;
  /** Aborted by stopAll: interrupts snapshots and restores in progress (a restore then rolls back). */
  private shutdown = new AbortController();
  private readonly snapshotStore: SnapshotStore;
  private readonly snapshots: SnapshotJobs;
  private readonly restores: SnapshotRestores;
  private readonly imports: SnapshotImports;
  private readonly pointInTime: PointInTimeRecovery;
  private readonly upgrades: Upgrades;

  constructor(options: LocalEngineSupervisorOptions) {
    const dataDir = path.resolve(options.dataDir);
    this.host = options.host ?? '127.0.0.1';
    this.publicHost = options.publicHost ?? defaultPublicHost();
    this.log = options.log ?? (() => undefined);
    this.drivers = new EngineDrivers(options.walArchive ? { walArchive: options.walArchive } : {});
    this.files = new InstanceFiles(dataDir, this.log);
    this.snapshotStore = new SnapshotStore(path.join(dataDir, 'snapshots'));
    this.servers = new ServerProcesses({
      files: this.files,
      drivers: this.drivers,
      host: this.host,
      log: this.log,
    });
    const parts = {
      files: this.files,
      drivers: this.drivers,
      servers: this.servers,
      locks: this.locks,
      store: this.snapshotStore,
      log: this.log,
      shutdownSignal: () => this.shutdown.signal,
    };
    this.restores = new SnapshotRestores({
      ...parts,
      snapshotBeingTaken: (snapshotId) => this.snapshots.isTaking(snapshotId),
    });
    this.snapshots = new SnapshotJobs({
      ...parts,
      settledRecord: (id) => this.restores.settledRecord(id),
      restoresReading: (snapshotId) => this.restores.reading(snapshotId),
      ...(options.exporter ? { exporter: options.exporter } : {}),
    });
    this.imports = new SnapshotImports({ ...parts, objects: () => options.objects });
    this.pointInTime = new PointInTimeRecovery({ ...parts, restores: this.restores });
    this.upgrades = new Upgrades({ ...parts, restores: this.restores });
  }

  // ------------------------------------------------------------------ EngineProvider

  async createInstance(spec: InstanceSpec): Promise<void> {
    const { files, servers } = this;
    const driver = this.drivers.driverFor(spec.engine);
    const id = checkId(spec.resourceId);
    await driver.checkSupported(spec);
    const networking = checkNetworking(driver, { tls: spec.tls, public: false, allow: [] });
    await this.locks.exclusive(id, 'creating', async () => {
      servers.assertOpen();
      const started = Date.now();
      const existing = await this.restores.settledRecord(id);
      const runAs = await instanceUser(id);
      if (existing?.state === 'ready') {
        if (existing.engine !== spec.engine) {
          throw new ProviderError(
            `Instance ${id} already exists as ${existing.engine}, not ${spec.engine}`,
            'Conflict',
          );
        }
        const ctx = files.context(id, await files.withPlatformRole(id, existing, driver), runAs);
        await servers.ensureRunning(ctx, driver);
        await this.files.settleIfNeeded(ctx, driver);
        return;
      }
      const dir = files.dirOf(id);
      if (existing || (await exists(dir))) {
        this.log('engine: previous create of this instance did not complete; starting over', {
          resourceId: id,
        });
        await servers.stopAndForget(id, existing);
        await fs.rm(dir, { recursive: true, force: true });
      }

      await fs.mkdir(files.enginesDir, { recursive: true, mode: 0o711 });
      await fs.chmod(files.enginesDir, runAs ? 0o711 : 0o700); // whatever the umask
      await fs.mkdir(dir, { mode: 0o700 });
      // Engine user (root only): may walk through the instance dir, owns data/ and run/ only.
      if (runAs) await fs.chmod(dir, 0o711);
      const record: InstanceRecord = {
        engine: spec.engine,
        version: spec.version,
        host: this.host,
        port: await servers.freePort(id, existing?.port),
        database: spec.database,
        username: spec.username,
        admin: { username: driver.platformRole, password: generatePassword() },
        dataDir: 'data',
        memoryMiB: spec.plan.memoryMiB,
        storageGiB: spec.storageGiB,
        networking,
        state: 'creating',
        createdAt: new Date().toISOString(),
      };
      await files.writeRecord(id, record);
      const ctx = files.context(id, record, runAs);
      for (const owned of [ctx.dataDir, ctx.socketDir]) {
        await fs.mkdir(owned, { mode: 0o700 });
        await chownTo(owned, runAs);
      }
      await ensureReachable(ctx.dataDir, runAs, [files.dataDir, files.enginesDir]);

      await driver.initialise(ctx, spec);
      const initialised = Date.now();
      let ready = initialised;
      try {
        await servers.startOnSomePort(ctx, driver);
        ready = Date.now();
        await driver.bootstrap(ctx, spec);
      } catch (error) {
        await servers.stopOurs(id).catch(() => undefined);
        throw error;
      }
      await files.writeRecord(id, { ...ctx.record, state: 'ready', readyAt: new Date().toISOString() });
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
    const id = checkId(resourceId);
    const activity = this.locks.activity(id);
    if (activity === 'deleting') return { status: 'deleting' };
    let record: InstanceRecord | undefined;
    try {
      record = await this.files.readRecord(id);
    } catch (error) {
      return { status: 'failed', reason: errorMessage(error) };
    }
    if (record?.state !== 'ready' && activity === 'creating') return { status: 'creating' };
    if (!record) return (await exists(this.files.dirOf(id))) ? this.interrupted() : { status: 'absent' };
    if (record.state !== 'ready') return this.interrupted();
    const driver = this.drivers.find(record.engine);
    if (!driver)
      return { status: 'failed', reason: `Engine ${record.engine} is not run by the local target` };

    const ctx = this.files.context(id, record, undefined);
    const alive = this.servers.isRunning(id) || (await driver.findLeftover(ctx)) !== undefined;
    if (alive) {
      // A real check on the wire: a live process is not yet a server that accepts connections.
      if ((await driver.probe(ctx, 1_000)) === 'ready') {
        const { caCertificate } = await networkingState(ctx);
        const endpoint = { host: record.host, port: record.port };
        return { status: 'available', endpoint, ...(caCertificate ? { caCertificate } : {}) };
      }
      return { status: 'creating' };
    }
    if (activity) return { status: 'creating' };
    const failure = this.servers.failures.get(id);
    if (failure) return { status: 'failed', reason: failure };
    const tail = await readTail(ctx.logFile, { lines: 5 });
    return {
      status: 'failed',
      reason: `The ${driver.displayName} server of this instance is not running${tail ? `; end of its log:\n${tail}` : ''}`,
    };
  }

  async deleteInstance(resourceId: string): Promise<void> {
    const id = checkId(resourceId);
    await this.locks.exclusive(id, 'deleting', async () => {
      await this.servers.stopAndForget(id, await this.files.readRecord(id).catch(() => undefined));
      await fs.rm(this.files.dirOf(id), { recursive: true, force: true });
      // Its snapshots outlive it: they go to the platform before the uid can be handed out again.
      if (isRoot()) {
        for (const backupDir of await this.snapshotStore.backupDirsOf(id)) await chownTree(backupDir, ROOT);
      }
      await removeInstanceUser(id);
      this.servers.failures.delete(id);
      this.log('engine: instance deleted', { resourceId: id });
    });
  }

  /** A fork seeded from another instance's snapshot has that instance's password: give the customer's
   *  role the fork's own. Under the instance's lock, after any interrupted restore. */
  async setAdminPassword(resourceId: string, username: string, password: string): Promise<void> {
    await this.onReady(resourceId, async (driver, ctx) => {
      if (!driver.setCustomerPassword || username !== ctx.record.username) {
        throw new ProviderError(
          `The ${driver.displayName} user '${username}' of instance ${ctx.resourceId} cannot have its password set`,
          'Unsupported',
        );
      }
      await driver.setCustomerPassword(ctx, password);
    });
  }

  /** Credential rotation (see EngineProvider.addLogin): under the instance's lock, on its running server. */
  addLogin(resourceId: string, current: Login, password: string): Promise<string> {
    return this.withLogins(resourceId, (logins, ctx) => logins.add(ctx, current.username, password));
  }

  retainOnlyLogin(resourceId: string, login: { username: string; password: string }): Promise<void> {
    return this.withLogins(resourceId, (logins, ctx) => logins.retainOnly(ctx, login));
  }

  /** TLS, public listening and the allow list (networking.ts): under the instance's lock, then a restart. */
  configureNetworking(resourceId: string, networking: NetworkingSettings): Promise<NetworkingApplied> {
    const { files, servers, publicHost } = this;
    return this.onReady(resourceId, (driver, ctx) =>
      applyNetworking({ files, servers, publicHost }, driver, ctx, networking),
    );
  }

  private withLogins<T>(resourceId: string, fn: (logins: LoginDriver, ctx: InstanceContext) => Promise<T>) {
    return this.onReady(resourceId, (driver, ctx) => {
      if (!driver.logins) {
        throw new ProviderError(
          `${driver.displayName} instances cannot rotate credentials here`,
          'Unsupported',
        );
      }
      return fn(driver.logins, ctx);
    });
  }

  /** `fn` on a ready instance (after any interrupted restore), under its lock. */
  protected onReady<T>(resourceId: string, fn: (driver: EngineDriver, ctx: InstanceContext) => Promise<T>) {
    const id = checkId(resourceId);
    return this.locks.exclusive(id, undefined, async () => {
      const record = await this.restores.settledRecord(id);
      if (record?.state !== 'ready')
        throw new ProviderError(`Instance ${id} does not exist`, 'InstanceNotFound');
      const driver = this.drivers.driverFor(record.engine);
      return fn(driver, this.files.context(id, record, await instanceUser(id)));
    });
  }

  // ------------------------------------------------------------------ SnapshotProvider

  /**
   * Begin a snapshot of a running instance (`describeSnapshot` reports it), in the background
   * after the instance's other operations. Idempotent: one being taken or available is left alone;
   * a failed or crash-interrupted one is taken again. `exportTo`: the snapshot file is uploaded
   * there too (with its SHA-256) before the snapshot becomes available.
   */
  createSnapshot(resourceId: string, snapshotId: string, exportTo?: ExportTarget): Promise<void> {
    return this.snapshots.create(resourceId, snapshotId, exportTo);
  }

  describeSnapshot(snapshotId: string): Promise<SnapshotState> {
    return this.snapshots.describe(snapshotId);
  }

  /** Remove a snapshot (one being taken is interrupted first); an absent one is fine. */
  deleteSnapshot(snapshotId: string): Promise<void> {
    return this.snapshots.delete(snapshotId);
  }

  /**
   * Begin restoring a snapshot into the instance, in place: same port, same data directory path
   * in the connection details, data as at snapshot time; `describeRestore` reports it. The
   * snapshot is unpacked next to the running server, so the downtime is a stop and a start (with
   * recovery). Any failure rolls the instance back to its previous data, started again.
   *
   * Rejects at once, untouched, a snapshot that is missing or of another engine, major, database
   * or user. Idempotent: the snapshot being (or last) restored is a no-op (restoring one twice in
   * a row needs another snapshot id); after a failed restore it restores again.
   */
  restoreSnapshot(resourceId: string, snapshotId: string, restoreId: string = snapshotId): Promise<void> {
    return this.restores.restore(resourceId, snapshotId, restoreId);
  }

  describeRestore(
    resourceId: string,
    snapshotId: string,
    restoreId: string = snapshotId,
  ): Promise<RestoreState> {
    return this.restores.describe(resourceId, snapshotId, restoreId);
  }

  /**
   * Stop a restore the workflow gave up on: its rollback puts the previous data directory back
   * and starts it again. A restore already committed (instance.json says so) is kept.
   */
  discardRestore(
    resourceId: string,
    snapshotId: string,
    restoreId: string = snapshotId,
  ): Promise<'discarded' | 'completed'> {
    return this.restores.discard(resourceId, snapshotId, restoreId);
  }

  /** A snapshot of an uploaded file (an import), for the restore that follows: snapshot-imports.ts. */
  importSnapshot(resourceId: string, snapshotId: string, source: { bucket: string; key: string }) {
    return this.imports.import(resourceId, snapshotId, source);
  }

  /** Version upgrades: the driver's copy into a new data directory, then a restore's swap (upgrades.ts). */
  readonly upgradeInstance: Upgrades['upgrade'] = (id, upgrade) => this.upgrades.upgrade(id, upgrade);
  readonly describeUpgrade: Upgrades['describe'] = (id, upgrade) => this.upgrades.describe(id, upgrade);
  readonly discardUpgrade: Upgrades['discard'] = (id, upgrade) => this.upgrades.discard(id, upgrade);

  /** What the instance's continuous archive can restore (a deleted instance: what is kept of it). */
  describeRestorableWindow(resourceId: string): Promise<RestorableWindow | null> {
    return this.pointInTime.window(resourceId);
  }

  /**
   * Begin restoring `resourceId` to the data `sourceResourceId` had at `time` (in place, or a fork
   * into another instance): the same staging, swap and rollback as `restoreSnapshot`, reported by
   * `describeRestore`/`discardRestore` under `pointInTimeKey(sourceResourceId, time)`. Rejects at
   * once for a time outside the source's window, without touching the instance.
   */
  restoreToPointInTime(
    resourceId: string,
    sourceResourceId: string,
    time: string,
    restoreId: string,
  ): Promise<void> {
    return this.pointInTime.restore(resourceId, sourceResourceId, time, restoreId);
  }

  /** One pass of archive maintenance (base backups when due, hourly retention): point-in-time.ts. */
  archiveMaintenance(now?: number): Promise<void> {
    return this.pointInTime.maintain(now);
  }

  /** Run `archiveMaintenance` every `intervalMs` until `stopAll`. */
  startArchiveMaintenance(intervalMs: number): void {
    this.pointInTime.start(intervalMs);
  }

  // ------------------------------------------------------------------ platform lifecycle

  /**
   * Start again, on their recorded ports, the instances that were running when the platform last
   * stopped. A server left running by a SIGKILLed platform is stopped (fast shutdown) and started
   * again as our child rather than adopted: a child gives us its exit event (crash detection
   * without polling) and one lifecycle for every engine, at the cost of ~0.1 s and the orphan's
   * client connections, which a platform restart drops anyway. Never rejects for one instance:
   * failures are logged and reported by describeInstance.
   */
  async resume(resourceIds: string[]): Promise<void> {
    this.servers.closed = false;
    if (this.shutdown.signal.aborted) this.shutdown = new AbortController();
    await this.snapshotStore.sweep().catch((error: unknown) => {
      this.log('engine: could not sweep deleted snapshots', { error: errorMessage(error) });
    });
    const queue = [...new Set(resourceIds)];
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const resourceId = id;
        await this.locks
          .exclusive(resourceId, 'starting', () => this.resumeOne(resourceId))
          .catch((error: unknown) => {
            this.servers.failures.set(resourceId, errorMessage(error));
            this.log('engine: could not resume instance', { resourceId, error: errorMessage(error) });
          });
      }
    };
    await Promise.all(Array.from({ length: Math.min(RESUME_CONCURRENCY, queue.length) }, worker));
  }

  /** Fast shutdown of every engine this supervisor started; resolves once they exited and their ports are closed. */
  async stopAll(): Promise<void> {
    this.servers.closed = true;
    this.shutdown.abort();
    await this.pointInTime.stop();
    const ids = new Set([...this.servers.ids(), ...this.locks.ids()]);
    await Promise.all(
      [...ids].map((id) =>
        this.locks
          .exclusive(id, undefined, () => this.servers.stopOurs(id))
          .catch((error: unknown) => {
            this.log('engine: could not stop instance', { resourceId: id, error: errorMessage(error) });
          }),
      ),
    );
    if (ids.size > 0) this.log('engine: all engines stopped', { count: ids.size });
  }

  /** Whether a server this supervisor started for the instance is running. */
  isRunning(resourceId: string): boolean {
    return this.servers.isRunning(resourceId);
  }

  /** Ready servers and their pids (the metrics sampler's targets). */
  servingInstances(): Array<{ ctx: InstanceContext; pid: number }> {
    return this.servers.serving();
  }

  /** The platform's jobs' sessions on these instances below the customers' until `signal` (job-sessions.ts). */
  lowerJobSessions = (ids: string[], signal: AbortSignal) => this.servers.lowerJobSessions(ids, signal);

  // ------------------------------------------------------------------ internals

  private async resumeOne(id: string): Promise<void> {
    checkId(id);
    const record = await this.restores.settledRecord(id);
    if (!record) {
      this.log('engine: nothing to resume, instance is absent', { resourceId: id });
      return;
    }
    if (record.state !== 'ready') {
      // The workflow that was creating it runs again and redoes the create.
      this.log('engine: not resuming an instance whose create was interrupted', { resourceId: id });
      return;
    }
    const driver = this.drivers.find(record.engine);
    if (!driver) throw new ProviderError(`Engine ${record.engine} is not run by the local target`);
    await this.files.sweepDataDirs(id, record);
    const ctx = this.files.context(
      id,
      await this.files.withPlatformRole(id, record, driver),
      await instanceUser(id),
    );
    await this.servers.ensureRunning(ctx, driver);
    await this.files.settleIfNeeded(ctx, driver);
    this.log('engine: instance resumed', { resourceId: id, port: record.port });
  }

  private interrupted(): InstanceState {
    return {
      status: 'failed',
      reason:
        'The creation of this instance was interrupted before it completed; creating it again starts over',
    };
  }
}
