import { type EngineFacts, NO_CAPABILITIES, NOT_YET, uriOf } from '../engine-facts.ts';

export const redis: EngineFacts = {
  catalog: {
    displayName: 'Redis',
    service: { aws: 'Amazon ElastiCache (Redis OSS replication group)', local: 'redis-server process' },
    versions: { aws: ['7.0', '7.1'], local: ['7.0'] },
    defaultVersion: { aws: '7.1', local: '7.0' },
    // ElastiCache node types with the memory AWS publishes for them (Redis has no storage size).
    plans: [
      { id: 'nano', vcpu: 2, memoryMiB: 512, instanceClass: 'cache.t4g.micro' },
      { id: 'small', vcpu: 2, memoryMiB: 1403, instanceClass: 'cache.t4g.small' },
      { id: 'medium', vcpu: 2, memoryMiB: 3164, instanceClass: 'cache.t4g.medium' },
      { id: 'large', vcpu: 2, memoryMiB: 6533, instanceClass: 'cache.m7g.large' },
      { id: 'xlarge', vcpu: 4, memoryMiB: 13240, instanceClass: 'cache.m7g.xlarge' },
    ],
    defaultPlan: 'nano',
    storageGiB: { min: 1, max: 1, default: 1 },
    maxReplicas: 5,
    capabilities: {
      aws: NO_CAPABILITIES,
      // Locally: Debian's redis-server with AOF persistence, one ACL user per addon.
      local: { ...NO_CAPABILITIES, provision: true, snapshotBackup: true, importDump: true },
    },
    notes: {
      aws: [
        NOT_YET,
        'Imports (importDump) are not available on AWS yet: ElastiCache can only seed a new replication group from an RDB file in S3, not load one into a running addon.',
      ],
      local: [
        "The local target runs Debian's redis-server 7.0 with append-only-file persistence; the connection details name an ACL user (the default user is off) and database 0. Plans do not size local servers: each has a 64 MiB memory limit and refuses writes beyond it (noeviction).",
        'Redis has no logical dump: dump backups are never offered. Snapshot backups are RDB files written by BGSAVE while the server keeps serving; a restore loads one as the base of a new append-only file.',
        'TLS, public access and replicas are AWS-only; local addons listen on 127.0.0.1.',
        'Imports (importDump) load an uploaded RDB file (e.g. from redis-cli --rdb), replacing the data all or nothing like a snapshot restore; its format must be one this server reads.',
      ],
    },
  },
  connectionUri: (secret) => uriOf(secret.tls ? 'rediss' : 'redis', secret),
  // An RDB file.
  dumpExtension: 'rdb',
  // Redis numbers its databases; an addon's connection details name the first.
  databaseFor: () => '0',
};
