import type { AddonNetwork } from '../schemas/addon.ts';
import type { Engine, Plan } from '../schemas/catalog.ts';
import type { NetworkingSettings } from '../schemas/networking.ts';
import type { ReplicaProvider } from './replica-provider.ts';

/** What a provider needs to create one database instance. Secrets never pass through workflow state. */
export interface InstanceSpec {
  /** Deterministic, AWS-safe identifier derived from the addon id (`resourceIdFor`). */
  resourceId: string;
  projectId: string;
  addonId: string;
  engine: Engine;
  version: string;
  plan: Plan;
  storageGiB: number;
  replicas: number;
  tls: boolean;
  publicAccess: boolean;
  database: string;
  username: string;
  password: string;
}

export type InstanceState =
  | { status: 'creating' }
  | {
      status: 'available';
      endpoint: { host: string; port: number };
      /** What clients attach to reach it, where the provider isolates projects by network (AWS). */
      network?: AddonNetwork;
      /** PEM of the CA that signs the server's certificate, where the provider runs its own CA (local). */
      caCertificate?: string;
    }
  | { status: 'deleting' }
  | { status: 'absent' }
  | { status: 'failed'; reason: string };

/**
 * Engine provisioning port: RDS/ElastiCache/DocumentDB on AWS, engine processes locally.
 * Every method is idempotent, because Step Functions retries tasks and a restarted platform
 * re-runs the workflow that was in flight.
 */
export interface EngineProvider {
  createInstance(spec: InstanceSpec): Promise<void>;
  describeInstance(resourceId: string): Promise<InstanceState>;
  deleteInstance(resourceId: string): Promise<void>;
  /**
   * A deletion that takes steps moves on (RDS: the instance once its read replicas are gone);
   * called by the delete workflow's wait, after `deleteInstance`, while `describeInstance` still
   * says `available`. Idempotent. Absent where `deleteInstance` does it all at once.
   */
  continueDeletion?(resourceId: string): Promise<void>;
  /**
   * Give the instance's customer user `username` the password `password` (a fork restored from a
   * physical copy carries its source's password). Idempotent. Where it applies asynchronously
   * (RDS), `describeInstance` reports `creating` until it has. Absent: forks from physical copies
   * are refused by the workflow.
   */
  setAdminPassword?(resourceId: string, username: string, password: string): Promise<void>;
  /**
   * Credential rotation, first half: let in a new login with `password` besides the published
   * `current` one, which keeps working, and return the new login's user. Engines whose users hold
   * two passwords (Redis ACL) add a password to the same user; the others alternate between the
   * addon's user and a second user with the same rights (see each driver). `current` is the
   * published login (engines that set a user's passwords as a list, ElastiCache, name it again).
   * Idempotent for the same `current` (the same user again; its password is set, not added, where
   * it is a second user).
   * Absent where the engine cannot rotate on this target (catalog `credentialRotation`).
   */
  addLogin?(resourceId: string, current: Login, password: string): Promise<string>;
  /**
   * Credential rotation, second half: leave `login` (the published credentials) as the only way
   * in for the customer, retiring whatever else was let in (the previous login, or a login added by
   * a rotation that was interrupted before it was published). Idempotent.
   */
  retainOnlyLogin?(resourceId: string, login: Login): Promise<void>;
  /**
   * Where the engine applies a login change asynchronously (ElastiCache: the user is `modifying`
   * for seconds to minutes after ModifyUser, and a new password works only once it is `active`
   * again), whether the last `addLogin` or `retainOnlyLogin` is in force: the customer's user
   * active with `logins` ways in (2 after `addLogin`, 1 after `retainOnlyLogin`). Then the API
   * hands rotations to the `rotate-credentials` workflow, which publishes only once `applied`.
   * Absent: in force once those return (local), and the API runs the rotation itself.
   */
  describeLogins?(resourceId: string, logins: 1 | 2): Promise<LoginsState>;
  /**
   * Where logins change only by SQL inside the instance, which the workflow functions do not reach
   * (RDS, outside their network): the rotate-credentials workflow runs the login job (a Fargate
   * task in the addon's subnets, shared/jobs/login-job.ts) instead of `addLogin`/`retainOnlyLogin`,
   * as the platform's own admin login. This names the customer's own user of the instance (the
   * first of the alternating pair). Absent where the provider changes logins itself.
   */
  loginJob?(resourceId: string): Promise<LoginJobTarget>;
  /**
   * Apply `networking` to the instance: TLS required or not; public (reachable beyond the private
   * network, only from `allow`) or private. Returns once the engine enforces it, with the public
   * endpoint while public and the CA that signs the server's certificate where the provider runs
   * its own. Idempotent. Absent where the engine cannot change networking on this target (catalog
   * `networkingUpdate`).
   */
  configureNetworking?(resourceId: string, networking: NetworkingSettings): Promise<NetworkingApplied>;
  /**
   * Where a networking change takes minutes (RDS: PubliclyAccessible, a parameter group and its
   * reboot), `configureNetworking` only begins it, and this says whether `networking` is in force
   * (`applied`, with what `configureNetworking` would return), still being applied, or will not
   * be (`failed`, with the provider's reason). It may advance the change (RDS: the reboot a
   * parameter group needs once the instance is available). The API then hands the change to the
   * `update-networking` workflow. Absent: in force once `configureNetworking` returns (local).
   */
  describeNetworking?(resourceId: string, networking: NetworkingSettings): Promise<NetworkingState>;
  /**
   * Begin one scaling change of the instance (catalog `scaling`, `multiAz`): another plan, more
   * storage, or a standby in another zone on or off. Idempotent: asking again for what is applied
   * or being applied is a no-op. The instance keeps serving (a restart at most); `describeResize`
   * says when it is done. Absent where the engine cannot scale on this target.
   */
  resize?(resourceId: string, change: ResizeRequest): Promise<void>;
  /**
   * Whether `change` has been applied (`applied`), is still being applied (`applying`), or will
   * not be (`failed`, with the provider's reason). Absent: the change is applied once `resize`
   * returns and `describeInstance` says available (the local target).
   */
  describeResize?(resourceId: string, change: ResizeRequest): Promise<ResizeState>;
  /**
   * Begin upgrading the instance's engine to `upgrade.version` (a catalog upgrade target of its
   * version); `describeUpgrade` reports it. Idempotent per `upgradeId` (the operation id). Absent
   * where the engine cannot be upgraded on this target (catalog `upgrade`).
   */
  upgradeInstance?(resourceId: string, upgrade: UpgradeSpec): Promise<void>;
  describeUpgrade?(resourceId: string, upgrade: UpgradeSpec): Promise<UpgradeState>;
  /**
   * The upgrade's workflow failed: put the instance back on its old version where that is still
   * possible. `completed` when the upgrade had already finished (the instance runs the new
   * version, and keeps it); `discarded` otherwise, including when nothing was started.
   */
  discardUpgrade?(resourceId: string, upgrade: UpgradeSpec): Promise<'discarded' | 'completed'>;
}

/** A user and its password, as the connection details publish them. */
export interface Login {
  username: string;
  password: string;
}

/** What the login job needs to know of an instance beside its secrets. */
export interface LoginJobTarget {
  owner: string;
}

export type LoginsState = { status: 'applying' | 'applied' } | { status: 'failed'; reason: string };

/** One scaling change, as the provider applies it: exactly one field is set. */
export interface ResizeRequest {
  plan?: Plan;
  storageGiB?: number;
  multiAz?: boolean;
}

export type ResizeState = { status: 'applying' | 'applied' } | { status: 'failed'; reason: string };

/** One upgrade of an instance: to which version, under which operation, with which TLS setting. */
export interface UpgradeSpec {
  version: string;
  upgradeId: string;
  /** Whether the addon requires TLS (its parameter group of the new family must say the same). */
  tls: boolean;
  /** When the upgrade's operation began (ISO): the service's events since then are about it. */
  since?: string;
}

/**
 * - `upgrading`: under way; `detail` says what it waits for (a change the service holds as
 *   pending), for the message if the bounded wait runs out.
 * - `unchanged`: available on the old version with nothing pending after the change was asked:
 *   the service has not shown it yet, or dropped it (a refused upgrade no event explains). The
 *   workflow waits a few checks, then fails with `reason`.
 */
export type UpgradeState =
  | { status: 'upgrading'; detail?: string }
  | { status: 'unchanged'; reason: string }
  | { status: 'available'; endpoint?: { host: string; port: number } }
  | { status: 'failed'; reason: string };

/** What `configureNetworking` leaves: where the public connect, and the CA clients verify with. */
export interface NetworkingApplied {
  publicEndpoint?: { host: string; port: number };
  caCertificate?: string;
}

export type NetworkingState =
  | { status: 'applying' }
  | { status: 'applied'; applied: NetworkingApplied }
  | { status: 'failed'; reason: string };

/** Valid as an RDS identifier (letters, digits, hyphens, starts with a letter, <= 63) whatever the addon name. */
export const resourceIdFor = (addonId: string): string => {
  const id = `addon-${addonId.replace(/^adn-/, '')}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-');
  return id.slice(0, 63).replace(/-$/, '');
};

/**
 * A snapshot's downloadable copy, for engines whose snapshots are files a user can load elsewhere
 * (Redis: the RDB). The workflow names where it goes; the provider says where it went (ElastiCache
 * chooses the object's final name) and what it holds.
 */
export interface SnapshotExport {
  bucket: string;
  key: string;
  sha256: string;
  sizeBytes: number;
}

export type SnapshotState =
  | { status: 'creating' }
  | {
      status: 'available';
      sizeBytes: number | null;
      /** Present when `createSnapshot` was given `exportTo` and the copy is complete. */
      exported?: SnapshotExport;
    }
  | { status: 'absent' }
  | { status: 'failed'; reason: string };

export type RestoreState =
  | { status: 'restoring' }
  | {
      status: 'available';
      /**
       * Set when the restored data answers somewhere else (ElastiCache cannot rename a replication
       * group, so a restore moves the addon to a new one): the workflow updates the connection
       * details and says so in the operation.
       */
      endpoint?: { host: string; port: number };
    }
  | { status: 'failed'; reason: string };

/**
 * Storage-level snapshots: RDS DB snapshots on AWS, a consistent physical copy locally.
 * A restore is always "restore to new, then swap" on AWS (RDS cannot restore in place);
 * `restoreSnapshot` begins it and `describeRestore` reports (and on AWS advances) the swap,
 * so the workflow stays a plain Wait/Describe/Choice loop on every target.
 */
export interface SnapshotProvider {
  /**
   * Where this provider's snapshot copies must go, when not the backup bucket (ElastiCache exports
   * only to a bucket that grants it access and uses S3-managed keys).
   */
  readonly exportBucket?: string;
  /**
   * `exportTo`: also leave a downloadable copy of the snapshot there (only for engines whose
   * catalog says snapshots can be downloaded); `describeSnapshot` reports it as `exported`.
   */
  createSnapshot(
    resourceId: string,
    snapshotId: string,
    exportTo?: { bucket: string; key: string },
  ): Promise<void>;
  describeSnapshot(snapshotId: string): Promise<SnapshotState>;
  deleteSnapshot(snapshotId: string): Promise<void>;
  /** `restoreId` (the operation id) tells a retried call from a new restore of the same snapshot. */
  restoreSnapshot(resourceId: string, snapshotId: string, restoreId: string): Promise<void>;
  describeRestore(resourceId: string, snapshotId: string, restoreId: string): Promise<RestoreState>;
  /**
   * The restore's workflow failed: stop it and put the addon back on the data it had before, so a
   * failed restore changed nothing. `completed` when it had already finished (the data is the
   * snapshot's, and is kept); `discarded` otherwise, including when nothing was started.
   */
  discardRestore(
    resourceId: string,
    snapshotId: string,
    restoreId: string,
  ): Promise<'discarded' | 'completed'>;
  /**
   * Make snapshot `snapshotId`, restorable into `resourceId`, of a file a user uploaded (an
   * import: Redis RDB), checking it is one the instance's server can load. Returns once the
   * snapshot is available; idempotent (an available snapshot is left alone). Absent where uploaded
   * files cannot become snapshots (the catalog's `importDump` says so).
   */
  importSnapshot?(
    resourceId: string,
    snapshotId: string,
    source: { bucket: string; key: string },
  ): Promise<void>;
  /**
   * Point-in-time recovery, where the catalog's `pitr` is on: the window the instance's continuous
   * archive covers, or null while it covers none yet (a new addon before its first base backup).
   */
  describeRestorableWindow?(resourceId: string): Promise<RestorableWindow | null>;
  /**
   * Begin restoring `resourceId` to the data `sourceResourceId` had at `time` (the same instance
   * for an in-place restore, another one for a fork; the source may be deleted while its archive
   * is kept). Progress and rollback go through `describeRestore`/`discardRestore` with
   * `pointInTimeKey(sourceResourceId, time)` as the snapshot id. Idempotent per `restoreId`.
   */
  restoreToPointInTime?(
    resourceId: string,
    sourceResourceId: string,
    time: string,
    restoreId: string,
  ): Promise<void>;
}

/** The span a point-in-time restore can land in (ISO 8601 UTC, to the second). */
export interface RestorableWindow {
  earliestRestorableTime: string;
  latestRestorableTime: string;
}

/**
 * What stands for a point-in-time restore where the restore loop passes a snapshot id
 * (`describeRestore`, `discardRestore`): the source instance and the time, so the Wait/Describe
 * loop and the discard on failure are the same for both kinds of restore.
 */
export const pointInTimeKey = (sourceResourceId: string, time: string): string =>
  `pitr:${sourceResourceId}@${time}`;

/** The parts of a `pointInTimeKey`, or undefined for a snapshot id. */
export const parsePointInTimeKey = (key: string): { sourceResourceId: string; time: string } | undefined => {
  const match = /^pitr:([^@]+)@(.+)$/.exec(key);
  return match ? { sourceResourceId: match[1] as string, time: match[2] as string } : undefined;
};

/** What the functions that only delete snapshots need (the backups API, the retention sweep). */
export interface SnapshotDeleter {
  deleteSnapshot(snapshotId: string): Promise<void>;
}

/**
 * One engine's adapters on one target, as the engine registry hands them to the workflow tasks:
 * its provisioning and its snapshots (architecture decision 10).
 */
export interface EngineAdapters {
  provider: EngineProvider;
  snapshots: SnapshotProvider;
  /** Read replicas (`PATCH` with `replicas`); absent where the engine has none on this target. */
  replicas?: ReplicaProvider;
}
