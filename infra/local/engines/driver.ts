import type { InstanceSpec } from '#shared/ports/engine-provider.ts';
import type { Engine } from '#shared/schemas/catalog.ts';
import type { RunAs } from './system.ts';

/**
 * What `${dataDir}/engines/${resourceId}/instance.json` holds. No secrets: the password lives in
 * the connection-detail store only. `state` is the completion marker: `creating` until the
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
  username: string;
  /** The engine's data directory, relative to the instance directory. */
  dataDir: string;
  state: 'creating' | 'ready';
  createdAt: string;
  readyAt?: string;
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
  /** `server.log`: output of initdb and of the server, never the platform's stdout. */
  logFile: string;
  record: InstanceRecord;
  /** The unprivileged user the engine runs as when the platform is root; undefined otherwise. */
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
  /** The system user the engine runs as when the platform runs as root. */
  readonly systemUser: string;
  /** Stop signals for the server process: graceful (fast shutdown) and immediate. */
  readonly signals: { graceful: NodeJS.Signals; immediate: NodeJS.Signals };
  /** Rejects with UnsupportedError (or MissingToolError) when this machine cannot run `spec`. */
  checkSupported(spec: InstanceSpec): Promise<void>;
  /** Create the engine's files in `ctx.dataDir` (empty, owned by `ctx.runAs`). The server is not running. */
  initialise(ctx: InstanceContext, spec: InstanceSpec): Promise<void>;
  /** The foreground server command; the supervisor spawns it with the log file as stdout/stderr. */
  serverCommand(ctx: InstanceContext): Promise<{ command: string; args: string[]; env: NodeJS.ProcessEnv }>;
  /** After the first successful start: create the database and whatever else the spec asks. Idempotent. */
  bootstrap(ctx: InstanceContext, spec: InstanceSpec): Promise<void>;
  /** A real readiness check on the wire, without credentials. */
  probe(ctx: InstanceContext, timeoutMs: number): Promise<Probe>;
  /** The pid of a server still running on this data directory, left by an earlier platform process. Read-only. */
  findLeftover(ctx: InstanceContext): Promise<number | undefined>;
  /** Remove lock files a dead server left behind (call only when `findLeftover` found nothing). */
  clearStaleLocks(ctx: InstanceContext): Promise<void>;
  classifyStartFailure(logTail: string): StartFailure;
}
