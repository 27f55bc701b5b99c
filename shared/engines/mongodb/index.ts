import type { Capabilities } from '../../schemas/catalog.ts';
import { BACKED_UP, type EngineFacts, NO_CAPABILITIES, uriOf } from '../engine-facts.ts';

/**
 * Where the local target looks for MongoDB's programs (infra/local/engines/mongodb/binaries.ts,
 * shared/jobs/mongodb/tools.ts): `ADDONS_MONGOD` names the server binary itself,
 * `ADDONS_MONGODB_BIN_DIR` a directory holding `mongod` and/or the Database Tools; PATH after both.
 */
export const MONGOD_VARIABLE = 'ADDONS_MONGOD';
export const MONGODB_BIN_DIR_VARIABLE = 'ADDONS_MONGODB_BIN_DIR';

/** What to install for dumps and restores, as MissingToolError names it. */
export const DATABASE_TOOLS = 'MongoDB Database Tools (mongodump, mongorestore)';
export const DATABASE_TOOLS_INSTALL =
  `install them from MongoDB's official .deb or tarball (https://www.mongodb.com/try/download/database-tools; not packaged by Debian), ` +
  `then put them on PATH or in the directory ${MONGODB_BIN_DIR_VARIABLE} names`;

/** How to get a mongod, in the catalog note and in the 422 of a create on a machine without one. */
export const MONGOD_INSTALL_HINT =
  `MongoDB is not packaged for Debian 12 and cannot be downloaded at run time: install MongoDB Community Server ` +
  `from MongoDB's official .deb or tarball (https://www.mongodb.com/try/download/community), then put mongod on PATH, ` +
  `or name the binary with ${MONGOD_VARIABLE}=/path/to/mongod (or its directory with ${MONGODB_BIN_DIR_VARIABLE}), ` +
  `and restart the platform. Dump backups also need the ${DATABASE_TOOLS}.`;

/**
 * The local catalog on a machine without a usable mongod: nothing offered, and the note says how
 * to fix that. `problem`: a mongod was found but could not run (`--version` failed).
 */
export const localUnavailable = (
  problem?: string,
): { versions: string[]; defaultVersion: string; capabilities: Capabilities; notes: string[] } => ({
  versions: ['7.0'],
  defaultVersion: '7.0',
  capabilities: NO_CAPABILITIES,
  notes: [
    `MongoDB addons are not available on this machine: ${problem ? `the mongod found does not run (${problem.slice(0, 300)})` : 'no mongod was found'}. ${MONGOD_INSTALL_HINT}`,
  ],
});
const LOCAL_UNAVAILABLE = localUnavailable();

/** The local offer once the platform found a mongod (`major` as `mongod --version` says: `7.0`, `8.0`). */
export const localOfferWith = (
  major: string,
  binary: string,
): { versions: string[]; defaultVersion: string; capabilities: Capabilities; notes: string[] } => ({
  versions: [major],
  defaultVersion: major,
  capabilities: { ...NO_CAPABILITIES, provision: true, dumpBackup: true },
  notes: [
    `The local target runs the mongod found on this machine (${binary.slice(0, 300)}, MongoDB ${major}), one single-node server per addon with access control on; the connection details name a user with readWrite and dbAdmin on the addon's database only, which is also its authSource.`,
    `Dump backups are mongodump archives and need the ${DATABASE_TOOLS} on PATH or in ${MONGODB_BIN_DIR_VARIABLE}. A restore loads the dump beside the live collections and then renames each over its original: every collection switches atomically, the database as a whole does not (see the README).`,
    'Snapshot backups are not offered locally: mongod has no online physical copy of its files without filesystem snapshots or fsyncLock, which would stop writes for the length of the copy. Use dump backups.',
    'TLS, public access and networking changes (networkingUpdate) are not available for local MongoDB addons: the user-installed mongod is run without certificates, and MongoDB has no per-source host rules for an allow list. Read replicas are not built locally for this engine (PostgreSQL, MySQL and Redis have them). Local addons listen on 127.0.0.1.',
    'Imports (importDump, importLive) are not available for MongoDB addons yet: a live import needs a restore that replaces the database all or nothing, which the collection-by-collection restore does not give.',
    "Credential rotation (credentialRotation) is not available for MongoDB addons yet: the local driver has no second login for the addon's user.",
    'Plan changes (scaling) are not available for local MongoDB addons yet: the plan would set the WiredTiger cache size of the user-installed mongod, which is not done. Multi-AZ (multiAz) is AWS-only.',
    'Upgrades (upgrade) are not available locally: one version installed locally (the mongod found on this machine).',
  ],
});

export const mongodb: EngineFacts = {
  catalog: {
    displayName: 'MongoDB',
    service: { aws: 'Amazon DocumentDB (cluster)', local: 'mongod process (user-installed)' },
    // Locally: the major of the machine's mongod, once the platform found one (localOfferWith).
    versions: { aws: ['5.0'], local: LOCAL_UNAVAILABLE.versions },
    defaultVersion: { aws: '5.0', local: LOCAL_UNAVAILABLE.defaultVersion },
    // DocumentDB instance classes (it has no micro or small classes), with AWS's vCPUs and memory.
    plans: [
      { id: 'medium', vcpu: 2, memoryMiB: 4096, instanceClass: 'db.t4g.medium' },
      { id: 'large', vcpu: 2, memoryMiB: 16384, instanceClass: 'db.r6g.large' },
      { id: 'xlarge', vcpu: 4, memoryMiB: 32768, instanceClass: 'db.r6g.xlarge' },
      { id: '2xlarge', vcpu: 8, memoryMiB: 65536, instanceClass: 'db.r6g.2xlarge' },
    ],
    defaultPlan: 'medium',
    storageGiB: { min: 10, max: 1024, default: 10 },
    // DocumentDB: a cluster holds up to 16 instances, the writer and 15 readers.
    maxReplicas: { aws: 15, local: 0 },
    capabilities: {
      // Amazon DocumentDB 5.0 clusters (shared/providers/aws/mongodb/): one instance per node
      // (replicas are reader instances of the cluster), TLS always on (the cluster parameter
      // group of infra/aws/constructs/engines/mongodb.ts; `tlsRequired` below), cluster
      // snapshots restored to a new cluster then swapped in by renames, dumps by the mongodump
      // job on Fargate.
      aws: {
        ...BACKED_UP,
        replicas: true,
        tls: true,
        // ModifyDBInstance on each instance of the cluster: DBInstanceClass.
        scaling: true,
      },
      local: LOCAL_UNAVAILABLE.capabilities,
    },
    notes: {
      aws: [
        'MongoDB addons are Amazon DocumentDB 5.0 clusters (MongoDB 5.0 API compatibility, not MongoDB itself): some MongoDB features and operators are not supported, see the DocumentDB functional differences.',
        'TLS is always on (tls: false is refused): verify the server with the Amazon RDS global CA bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem). The URI names replicaSet=rs0, retryWrites=false (DocumentDB has no retryable writes) and authSource=admin.',
        'DocumentDB storage grows automatically; storageGiB is not allocated and does not limit the addon, so it cannot be changed either.',
        'Plan changes (scaling) modify the instance class of every instance of the cluster (ModifyDBInstance, applied at once; a reader takes over while the writer restarts). Multi-AZ (multiAz) is not a switch of its own: DocumentDB spreads replicas across Availability Zones.',
        'Each node is a billed instance (the smallest class is db.t4g.medium); replicas are reader instances of the same cluster.',
        "Read replicas (replicas, up to 15 readers) are chosen at create and changed later with PATCH replicas: reader instances of the writer's class join the cluster (CreateDBInstance) or leave it (DeleteDBInstance); the writer keeps serving. The connection details publish the cluster's reader endpoint once (replicas: one entry, readPreference=secondaryPreferred), which spreads reads over the readers and follows failovers. Restores keep the number of readers.",
        'Point-in-time restore and forks are not available for MongoDB addons yet.',
        'No public access and so no networking changes (networkingUpdate): DocumentDB clusters have no publicly accessible option (they are reached from inside their VPC only), and TLS is always on.',
        'Imports (importDump, importLive) are not available for MongoDB addons yet: a live import needs a restore that replaces the database all or nothing, which the collection-by-collection restore does not give.',
        "Credential rotation (credentialRotation) is not available for MongoDB addons yet: the addon's user is the DocumentDB master user, which has one password.",
        'Upgrades (upgrade) are not available: the catalog offers one DocumentDB version (5.0), so there is nothing to upgrade to.',
      ],
      local: LOCAL_UNAVAILABLE.notes,
    },
    storageGrowsByItself: ['aws'],
  },
  connectionUri: (secret) => mongodbUri(secret),
  // mongodump --archive output.
  dumpExtension: 'archive',
  // DocumentDB users live in `admin` and its URI (`mongodbUri`) is told apart by TLS.
  tlsRequired: ['aws'],
};

/**
 * The `mongodb://` URI of an addon. Only DocumentDB addons have TLS (the local target has none),
 * so `tls` says which service this is:
 * - DocumentDB: TLS, the cluster's replica set (always `rs0`), reads from replicas when there are
 *   any, no retryable writes (DocumentDB refuses them), and users authenticate against `admin`,
 *   where DocumentDB keeps every user.
 * - local mongod: the customer's user lives in the addon's own database, its authSource.
 */
export const mongodbUri = (secret: Parameters<EngineFacts['connectionUri']>[0]): string =>
  uriOf(
    'mongodb',
    secret,
    secret.tls
      ? {
          tls: 'true',
          replicaSet: 'rs0',
          readPreference: 'secondaryPreferred',
          retryWrites: 'false',
          authSource: 'admin',
        }
      : { authSource: secret.database },
  );
