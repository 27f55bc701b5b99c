import type { ConnectionSecret } from '../ports/secret-store.ts';
import type { Capabilities, Plan, Target } from '../schemas/catalog.ts';

/** One engine's catalog data: versions, plans and capability flags per target. */
export interface CatalogEntry {
  displayName: string;
  service: Record<Target, string>;
  /** Majors in order, oldest first; upgrades go one major at a time. */
  versions: Record<Target, string[]>;
  defaultVersion: Record<Target, string>;
  /** Versions new addons should not use, on every target that offers them, with the end of support where known. */
  deprecated?: Record<string, { endOfLife?: string }>;
  plans: Plan[];
  defaultPlan: string;
  storageGiB: { min: number; max: number; default: number };
  /** The most read replicas an addon may have, per target (where `capabilities.replicas` is on). */
  maxReplicas: Record<Target, number>;
  /**
   * Targets where read replicas are only made by a change after create (`PATCH replicas`): their
   * creation outlasts what the provision workflow waits for (RDS read replicas take minutes to
   * tens of minutes each), so a create with `replicas` is a 422 there.
   */
  replicasAfterCreate?: readonly Target[];
  capabilities: Record<Target, Capabilities>;
  /** Targets where the engine's addons always use TLS, so `tls: false` is refused (ElastiCache RBAC). */
  tlsRequired?: Partial<Record<Target, boolean>>;
  /**
   * Targets where a new addon without `tls` starts without TLS although the engine offers it
   * (`capabilities.tls`); elsewhere TLS is on by default wherever it is available.
   */
  tlsOptIn?: readonly Target[];
  /**
   * Targets where the engine's storage grows by itself (DocumentDB): `storageGiB` allocates
   * nothing there, so a `PATCH` of it is refused.
   */
  storageGrowsByItself?: readonly Target[];
  /**
   * Targets where Multi-AZ is a replica to fail over to (ElastiCache): `multiAz: true` needs at
   * least one replica, an addon created with replicas starts with it on, and it stays the addon's
   * setting through `replicas: 0` (off while there are none, back on with replicas).
   */
  multiAzNeedsReplicas?: readonly Target[];
}

/**
 * What every target knows of an engine: its catalog entry, the shape of its connection details
 * and the name of its dump files. Target adapters (provisioning, snapshots, dump tool) are in the
 * per-target registries; this is data and pure functions only, safe to load in any function.
 */
export interface EngineFacts {
  catalog: CatalogEntry;
  /** The connection URI users paste into their clients, from the rest of the connection details. */
  connectionUri(secret: Omit<ConnectionSecret, 'uri'>): string;
  /** A downloaded dump is named `<backup id>.<dumpExtension>.<gz|zst>`. */
  dumpExtension: string;
  /**
   * The database an addon's connection details name, from the addon's name: SQL engines create
   * one named after the addon; Redis numbers its databases. Default: `databaseNameFor`.
   */
  databaseFor?(addonName: string): string;
  /**
   * The user an addon's connection details name, from the addon's id. Default: `ADMIN_USERNAME`
   * (one per server). Redis's is the addon's own: ElastiCache user names are unique in an
   * account and Region, not per replication group.
   */
  usernameFor?(addonId: string): string;
  /** Database names an addon may not get (the engine's own, or the platform's restore staging). */
  reservedDatabaseNames?: readonly string[];
  /**
   * Targets where the engine's addons cannot turn TLS off (a create with `tls: false` is a 422):
   * DocumentDB's URI, users and tools assume it (shared/engines/mongodb/index.ts `mongodbUri`).
   */
  tlsRequired?: readonly Target[];
}

/** Every capability off: an engine offers what its entry turns on, per target. */
export const NO_CAPABILITIES: Capabilities = {
  provision: false,
  dumpBackup: false,
  snapshotBackup: false,
  snapshotDownload: false,
  pitr: false,
  replicas: false,
  tls: false,
  publicAccess: false,
  fork: false,
  importDump: false,
  importLive: false,
  networkingUpdate: false,
  scaling: false,
  multiAz: false,
  credentialRotation: false,
  upgrade: false,
};

export const NOT_YET = 'Provisioning of this engine is not available yet on this deployment.';

/** `scheme://user:password@host:port/database?params`, every part escaped. */
export const uriOf = (
  scheme: string,
  secret: Omit<ConnectionSecret, 'uri'>,
  params: Record<string, string> = {},
): string => {
  const auth = `${encodeURIComponent(secret.username)}:${encodeURIComponent(secret.password)}`;
  const query = new URLSearchParams(params).toString();
  return `${scheme}://${auth}@${secret.host}:${secret.port}/${encodeURIComponent(secret.database)}${query ? `?${query}` : ''}`;
};

/**
 * RDS instance classes for the SQL engines (RDS for PostgreSQL and for MySQL offer all of them):
 * vCPUs and memory as AWS publishes them (test/unit/aws-instance-classes.test.ts checks them).
 * `pitrRetentionDays` is the plan's point-in-time window (RDS BackupRetentionPeriod, 1 to 35):
 * a week on the small plans, longer where the data is likely worth the backup storage.
 */
export const RDS_PLANS: Plan[] = [
  { id: 'nano', vcpu: 2, memoryMiB: 1024, instanceClass: 'db.t4g.micro', pitrRetentionDays: 7 },
  { id: 'small', vcpu: 2, memoryMiB: 2048, instanceClass: 'db.t4g.small', pitrRetentionDays: 7 },
  { id: 'medium', vcpu: 2, memoryMiB: 4096, instanceClass: 'db.t4g.medium', pitrRetentionDays: 14 },
  { id: 'large', vcpu: 2, memoryMiB: 8192, instanceClass: 'db.m6g.large', pitrRetentionDays: 35 },
  { id: 'xlarge', vcpu: 4, memoryMiB: 16384, instanceClass: 'db.m6g.xlarge', pitrRetentionDays: 35 },
];

/**
 * An RDS engine's sizing in the catalog (RDS for PostgreSQL and for MySQL alike): the RDS
 * instance classes, gp3 storage from RDS's 20 GiB minimum, and read replicas: RDS allows 15 per
 * source instance in its Region (PostgreSQL, MySQL); locally five standbys beside the primary.
 * RDS read replicas are made by `PATCH replicas` after create only (`replicasAfterCreate`).
 */
export const RDS_SIZING: Pick<
  CatalogEntry,
  'plans' | 'defaultPlan' | 'storageGiB' | 'maxReplicas' | 'replicasAfterCreate'
> = {
  plans: RDS_PLANS,
  defaultPlan: 'nano',
  storageGiB: { min: 20, max: 1024, default: 20 },
  maxReplicas: { aws: 15, local: 5 },
  replicasAfterCreate: ['aws'],
};

/** What every engine with backups offers on a target: addons, dump backups and snapshot backups. */
export const BACKED_UP: Capabilities = {
  ...NO_CAPABILITIES,
  provision: true,
  dumpBackup: true,
  snapshotBackup: true,
};
