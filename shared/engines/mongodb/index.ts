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
    capabilities: { aws: NO_CAPABILITIES, local: NO_CAPABILITIES },
    notes: { aws: [NOT_YET], local: [NOT_YET] },
  },
  connectionUri: (secret) => uriOf('mongodb', secret, secret.tls ? { tls: 'true' } : {}),
  // mongodump --archive output.
  dumpExtension: 'archive',
};
