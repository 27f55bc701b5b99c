import { BACKED_UP, type EngineFacts, NO_CAPABILITIES, uriOf } from '../engine-facts.ts';

export const mongodb: EngineFacts = {
  catalog: {
    displayName: 'MongoDB',
    service: { aws: 'Amazon DocumentDB (cluster)', local: 'mongod process (user-installed)' },
    // Locally: the major of the machine's mongod, once the platform found one (localOfferWith).
    versions: { aws: ['5.0'], local: ['7.0'] },
    defaultVersion: { aws: '5.0', local: '7.0' },
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
      // Nothing until the platform finds a mongod (local-offer.ts).
      local: NO_CAPABILITIES,
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
