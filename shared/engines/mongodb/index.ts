import { type EngineFacts, NO_CAPABILITIES, NOT_YET, uriOf } from '../engine-facts.ts';

export const mongodb: EngineFacts = {
  catalog: {
    displayName: 'MongoDB',
    service: { aws: 'Amazon DocumentDB (cluster)', local: 'mongod process (user-installed)' },
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
    maxReplicas: 15,
    capabilities: {
      // Amazon DocumentDB 5.0 clusters (shared/providers/aws/mongodb/): one instance per node
      // (replicas are reader instances of the cluster), TLS enforced by the cluster parameter
      // group (infra/aws/constructs/engines/mongodb.ts), cluster snapshots restored to a new
      // cluster then swapped in by renames, dumps by the mongodump job on Fargate.
      aws: {
        ...NO_CAPABILITIES,
        provision: true,
        dumpBackup: true,
        snapshotBackup: true,
        replicas: true,
        tls: true,
      },
      local: NO_CAPABILITIES,
    },
    notes: {
      aws: [
        'MongoDB addons are Amazon DocumentDB 5.0 clusters (MongoDB 5.0 API compatibility, not MongoDB itself): some MongoDB features and operators are not supported, see the DocumentDB functional differences.',
        'TLS is on unless the addon is created with tls: false; clients verify the server with the Amazon RDS global CA bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem).',
        'Connect with replicaSet=rs0 and retryWrites=false: DocumentDB does not support retryable writes.',
        'DocumentDB storage grows automatically; storageGiB is not allocated and does not limit the addon.',
        'Each node is a billed instance (the smallest class is db.t4g.medium); replicas are reader instances of the same cluster.',
        'Point-in-time restore, public access and forks are not available for MongoDB addons yet.',
      ],
      local: [NOT_YET],
    },
  },
  connectionUri: (secret) => uriOf('mongodb', secret, secret.tls ? { tls: 'true' } : {}),
  // mongodump --archive output.
  dumpExtension: 'archive',
};
