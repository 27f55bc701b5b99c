import type { TargetOffer } from '#shared/catalog/engines.ts';
import type { InstanceSpec } from '#shared/ports/engine-provider.ts';
import type { Engine } from '#shared/schemas/catalog.ts';
import type { NetworkingSettings } from '#shared/schemas/networking.ts';
import type { JobSessionReader } from './job-sessions.ts';
import type { RunAs } from './system.ts';

/** The engine's superuser: the platform's alone, never in the connection details or the API. */
export interface PlatformRole {
  username: string;
  password: string;
}

/**
 * What `${dataDir}/engines/${resourceId}/instance.json` (0600, the platform's) holds. The
 * customer's password lives in the connection-detail store only; the platform's own superuser
 * password lives here only. `state` is the completion marker: `creating` until the
 * instance was initialised, started and bootstrapped once; a `creating` record found later means
 * an interrupted create, which the next `createInstance` wipes and redoes.
 */
export interface InstanceRecord {
  engine: Engine;
  version: string;
  host: string;
  /** Published in the connection details: never changes once the instance is `ready`. */
  port: number;
  database: string;
  /** The customer's role (a superuser in instances created before customer roles: see `admin`). */
  username: string;
  /** Absent in instances created before customer roles; the supervisor adds it and the driver migrates. */
  admin?: PlatformRole;
  /**
   * False from the moment `admin` is added to an older record until `settleAccess` has migrated
   * its data (so a crash midway migrates again at the next start). Absent: settled at creation.
   */
  accessSettled?: boolean;
  /** The engine's data directory, relative to the instance directory. */
  dataDir: string;
  /**
   * The plan's memory, for an engine that sizes itself by it (Redis: `maxmemory`). Absent in
   * instances created before plans sized local servers.
   */
  memoryMiB?: number;
  /**
   * The allocated storage: as created, then as the last scaling change set it (scaling.ts). Absent
   * in instances created before it was recorded: the addon's allocation is used (storage-guard.ts).
   */
  storageGiB?: number;
  /**
   * The storage guard found the data directory at its allocated size and put the engine read-only
   * (storage-guard.ts); every new server process is made read-only or writable as this says.
   * Absent: writable.
   */
  storageFull?: boolean;
  /**
   * TLS, public listening and the allow list, as the server is started with them (networking.ts).
   * Absent in instances created before networking settings: private, without TLS.
   */
  networking?: NetworkingSettings;
  /** Where clients outside this machine reach a public instance (the supervisor's `publicHost`). */
  publicHost?: string;
  state: 'creating' | 'ready';
  createdAt: string;
  readyAt?: string;
  /** The last snapshot restore of this instance: its progress survives a platform crash. */
  restore?: RestoreRecord;
}

/**
 * An in-place restore, as instance.json records it. While `restoring`, two data directories
 * exist: `previousDataDir` (what the instance ran before, untouched until the restore commits) and
 * `dataDir` (being filled from the snapshot). `phase` says which one `InstanceRecord.dataDir`
 * names: `preparing` the previous one, `switched` the restored one. A `restoring` record that no
 * running restore owns was interrupted by a crash: the supervisor rolls it back.
 */
export interface RestoreRecord {
  snapshotId: string;
  /** Which restore request this is (the operation id): the same snapshot can be restored again later. */
  restoreId?: string;
  state: 'restoring' | 'available' | 'failed';
  phase?: 'preparing' | 'switched';
  /** The restored data directory, relative to the instance directory. */
  dataDir?: string;
  previousDataDir?: string;
  /** An upgrade: the version the instance ran before (`InstanceRecord.version` names the new one once switched). */
  previousVersion?: string;
  /**
   * A rolled-back restore that had switched: the server may have run on the restored copy, so the
   * replicas that followed it are seeded again (replicas.ts) although `dataDir` is the previous one.
   */
  servedRestored?: boolean;
  reason?: string;
  startedAt: string;
  completedAt?: string;
}

/** One instance on disk, as a driver sees it. */
export interface InstanceContext {
  resourceId: string;
  /** `${dataDir}/engines/${resourceId}` */
  dir: string;
  /** Absolute path of the engine's data directory. */
  dataDir: string;
  /** Unix socket directory, inside the instance directory. */
  socketDir: string;
  /** `server.log`: output of the engine's initialisation tool and of the server, never the platform's stdout. */
  logFile: string;
  record: InstanceRecord;
  /** The instance's own unprivileged OS user when the platform is root; undefined otherwise. */
  runAs: RunAs | undefined;
}

/** `ready`: accepts connections; `starting`: answers but is not ready yet; `down`: nothing answers. */
export type Probe = 'ready' | 'starting' | 'down';

/** How a failed start should be reported: retried with another port (create only), retried, or final. */
export type StartFailure = 'port-in-use' | 'transient' | 'fatal';

/**
 * The engine-specific half of the local provider. The supervisor owns directories, instance.json,
 * ports, locking and the process lifecycle; a driver knows how to initialise, run, probe and
 * bootstrap one engine.
 */
export interface EngineDriver {
  readonly engine: Engine;
  readonly displayName: string;
  /** The name of the engine superuser the platform keeps for itself (`InstanceRecord.admin`). */
  readonly platformRole: string;
  /** Stop signals for the server process: graceful (fast shutdown) and immediate. */
  readonly signals: { graceful: NodeJS.Signals; immediate: NodeJS.Signals };
  /** Rejects with UnsupportedError (or MissingToolError) when this machine cannot run `spec`. */
  checkSupported(spec: InstanceSpec): Promise<void>;
  /** Create the engine's files in `ctx.dataDir` (empty, owned by `ctx.runAs`). The server is not running. */
  initialise(ctx: InstanceContext, spec: InstanceSpec): Promise<void>;
  /** The foreground server command; the supervisor spawns it with the log file as stdout/stderr. */
  serverCommand(ctx: InstanceContext): Promise<{ command: string; args: string[]; env: NodeJS.ProcessEnv }>;
  /**
   * After the first successful start: the customer's role and database (owned by that role), and
   * whatever else the spec asks. Idempotent.
   */
  bootstrap(ctx: InstanceContext, spec: InstanceSpec): Promise<void>;
  /**
   * On a running server whose data may be older than the platform (a resumed instance, a restored
   * snapshot): the platform's superuser as `ctx.record.admin` says, the customer's role without
   * privileges beyond its database. Idempotent.
   */
  settleAccess(ctx: InstanceContext): Promise<void>;
  /**
   * On a running server: the customer's role (`ctx.record.username`) gets `password`, e.g. a fork
   * restored from another instance's snapshot, which brought that instance's password. Idempotent.
   * Absent for an engine whose snapshots cannot seed another instance.
   */
  setCustomerPassword?(ctx: InstanceContext, password: string): Promise<void>;
  /**
   * What the driver's server command and host rules honour of `InstanceRecord.networking`: TLS,
   * public listening with the allow list. Undefined: neither (the settings are refused).
   */
  readonly networking?: { tls: boolean; public: boolean };
  /**
   * On a running server: refuse (or allow again) the customer's writes, because the instance's
   * storage is full (storage-guard.ts). Run as the platform role, whose own sessions keep writing.
   * Idempotent. Absent for an engine without a storage size locally (Redis: maxmemory bounds it).
   */
  setReadOnly?(ctx: InstanceContext, readOnly: boolean): Promise<void>;
  /** Credential rotation (EngineProvider.addLogin); undefined for an engine that cannot rotate locally. */
  readonly logins?: LoginDriver;
  /** A real readiness check on the wire, without credentials. */
  probe(ctx: InstanceContext, timeoutMs: number): Promise<Probe>;
  /** The pid of a server still running on this data directory, left by an earlier platform process. Read-only. */
  findLeftover(ctx: InstanceContext): Promise<number | undefined>;
  /** Remove lock files a dead server left behind (call only when `findLeftover` found nothing). */
  clearStaleLocks(ctx: InstanceContext): Promise<void>;
  classifyStartFailure(logTail: string): StartFailure;
  /**
   * The server processes serving the platform's jobs' sessions, for an engine that runs each
   * session as a process of its own; undefined where sessions are threads of the server
   * (job-sessions.ts).
   */
  jobSessions?(ctx: InstanceContext): JobSessionReader;
  /** Continuous archiving and point-in-time restores; undefined for an engine without them locally. */
  readonly pitr?: PitrDriver;
  /** Read replicas (replicas.ts); undefined for an engine without them on the local target. */
  readonly replicas?: ReplicaDriver;
  /** Physical snapshots of an instance; undefined for an engine without them on the local target. */
  readonly snapshots?: SnapshotDriver;
  /** Version upgrades of an instance; undefined for an engine with one version installed locally. */
  readonly upgrades?: UpgradeDriver;
  /**
   * For an engine the machine may lack (its server is user-installed): what the local catalog
   * offers, from what is installed. The platform asks once at start (`offerOnTarget`); engines
   * without it keep their static catalog entry.
   */
  catalogOffer?(): Promise<TargetOffer>;
}

/**
 * The engine-specific half of a version upgrade: the supervisor owns locking, the staging data
 * directory and the crash-safe swap (snapshot-restore.ts), as for a restore.
 */
export interface UpgradeDriver {
  /** The majors this machine runs for the engine. */
  majors(): Promise<string[]>;
  /**
   * Fill `target.dataDir` (empty, owned by `target.runAs`) with the data of the running `source`
   * server, as a cluster of `major` that starts without further recovery. The source keeps
   * running (closed to clients while the copy is made) and is opened again if this rejects.
   */
  prepare(
    source: InstanceContext,
    target: InstanceContext,
    major: string,
    signal: AbortSignal,
  ): Promise<void>;
}

/**
 * The engine-specific half of read replicas: the replica set (replicas.ts) owns directories, ports,
 * locking and the processes. `replica` is a context of its own (directory, data, socket, log,
 * port) with the primary's record otherwise.
 */
export interface ReplicaDriver {
  /** Fill `replica.dataDir` (empty, owned by `replica.runAs`) with a copy of the running primary that follows it. */
  seed(primary: InstanceContext, replica: InstanceContext, signal: AbortSignal): Promise<void>;
  /** The foreground command of the replica's server (read-only, private). */
  serverCommand(
    primary: InstanceContext,
    replica: InstanceContext,
  ): Promise<{ command: string; args: string[]; env: NodeJS.ProcessEnv }>;
  /**
   * After each start of the replica's server (`first`: the one after `seed`): make it follow the
   * primary as the primary's record says now (TLS on the link or not), and on the first start
   * wait until it does. Absent: the server follows by its command alone.
   */
  follow?(
    primary: InstanceContext,
    replica: InstanceContext,
    options: { first: boolean; signal: AbortSignal },
  ): Promise<void>;
  /**
   * On a running replica, after a credential change on the primary: the customer's logins as the
   * primary has them now. Absent where the engine replicates its users itself.
   */
  syncLogins?(primary: InstanceContext, replica: InstanceContext): Promise<void>;
}

/** The engine-specific half of credential rotation, on a running server (see EngineProvider.addLogin). */
export interface LoginDriver {
  /** Let a new login with `password` in besides `current`; returns its user. Idempotent. */
  add(ctx: InstanceContext, current: string, password: string): Promise<string>;
  /** `login` works, and is the customer's only way in. Idempotent. */
  retainOnly(ctx: InstanceContext, login: { username: string; password: string }): Promise<void>;
}

/** The engine-specific half of snapshots: the supervisor owns directories, metadata, locking and the swap. */
export interface SnapshotDriver {
  /** How snapshot.json names what `take` writes, checked before a restore. */
  readonly format: string;
  /** The engine major version whose files are in `dataDir` (as the data directory itself records it). */
  dataMajor(dataDir: string): Promise<string>;
  /** The engine major version the local server binaries run. */
  serverMajor(): Promise<string>;
  /**
   * A consistent copy of the running server into `targetDir` (empty, owned by `ctx.runAs`). The
   * server keeps serving. Rejects when `signal` aborts.
   */
  take(ctx: InstanceContext, targetDir: string, signal: AbortSignal): Promise<void>;
  /**
   * Fill `dataDir` (empty, 0700, owned by `ctx.runAs`) from what `take` wrote in `snapshotDir`,
   * so that starting a server on it recovers the snapshot. `ctx` is the instance restored into.
   */
  restore(ctx: InstanceContext, snapshotDir: string, dataDir: string, signal: AbortSignal): Promise<void>;
  /**
   * The one file of a snapshot (in `snapshotDir`, as `take` wrote it) that a user can load into
   * the engine elsewhere: what a downloadable snapshot uploads. Absent for an engine whose
   * snapshots are storage-level copies (its catalog says `snapshotDownload: false`).
   */
  exportFile?(snapshotDir: string): string;
  /**
   * Engines whose snapshot is one file users have (Redis: an RDB): check that `file`, uploaded
   * by a user, is one the local server can load, and write it into `backupDir` (empty, owned by
   * `runAs`) as `take` would. Resolves to the engine major the snapshot records. Absent when a
   * snapshot cannot be made from a user's file.
   */
  adoptUpload?(file: string, backupDir: string, runAs: RunAs | undefined): Promise<string>;
}

/** One linear archive history of an instance, and what it can restore. */
export interface ArchiveWindow {
  /** The newest archive generation (see postgresql/wal-archive.ts): one data directory's history. */
  generation: string;
  /** ISO 8601 UTC, to the second: the span of all `parts`. */
  earliest: string;
  latest: string;
  /**
   * What each generation can restore, oldest first. A restore into the instance starts a new
   * generation, which covers time again from its first base backup: between two parts is a gap.
   */
  parts: Array<{ generation: string; earliest: string; latest: string }>;
}

/**
 * The engine-specific half of point-in-time recovery: the supervisor owns locking, the schedule
 * and the staging-and-swap of the restore (snapshot-restore.ts).
 */
export interface PitrDriver {
  /** Rejects (UnsupportedError or MissingToolError) when this machine cannot archive or restore. */
  checkAvailable(): Promise<void>;
  /** The archive generation the instance's data directory writes to; undefined while it has none. */
  generationOf(ctx: InstanceContext): Promise<string | undefined>;
  /**
   * What the archive of `resourceId` can restore: its generations up to `current` (a live
   * instance's), or all of them (a deleted instance). Null while it covers no time yet.
   */
  window(resourceId: string, current: string | undefined): Promise<ArchiveWindow | null>;
  /** Whether the instance's current generation needs a base backup (none yet, or the newest is old). */
  baseBackupDue(ctx: InstanceContext, now: number): Promise<boolean>;
  /**
   * Why the running server's archiving is behind (its last attempt failed, and how many segments
   * wait), or undefined when it keeps up. The server keeps what waits and retries on its own.
   */
  archiveProblem(ctx: InstanceContext): Promise<string | undefined>;
  /** A base backup of the running server into the archive. */
  takeBaseBackup(ctx: InstanceContext, signal: AbortSignal): Promise<void>;
  /**
   * Fill `ctx.dataDir` (empty, owned by `ctx.runAs`) with the data `source` had at `time`,
   * recovered, promoted and shut down cleanly, with a new archive generation.
   */
  prepareRestore(
    ctx: InstanceContext,
    source: { resourceId: string; window: ArchiveWindow },
    time: string,
    signal: AbortSignal,
  ): Promise<void>;
  /**
   * The database and user the archive's data holds (a restore keeps the connection details valid).
   */
  archivedIdentity(
    resourceId: string,
    window: ArchiveWindow,
  ): Promise<{ database?: string; username?: string; engineMajor?: string }>;
  /** Delete what falls out of the retention window; `current`: the live instance's generation. */
  prune(resourceId: string, current: string | undefined, now: number): Promise<void>;
  /** Instances that have an archive (live or deleted). */
  archivedInstances(): Promise<string[]>;
}
