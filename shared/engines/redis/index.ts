import { type EngineFacts, NO_CAPABILITIES, uriOf } from '../engine-facts.ts';

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
    // ElastiCache: a primary and up to 5 replicas per replication group without cluster mode.
    maxReplicas: { aws: 5, local: 5 },
    capabilities: {
      // ElastiCache replication groups: TLS always on, RBAC users, snapshot backups (ElastiCache
      // snapshots, exported to S3 as RDB files for download).
      aws: {
        ...NO_CAPABILITIES,
        provision: true,
        snapshotBackup: true,
        snapshotDownload: true,
        replicas: true,
        tls: true,
        importDump: true,
        // ModifyReplicationGroup: CacheNodeType (online resharding-free vertical scaling).
        scaling: true,
        // ModifyReplicationGroup: MultiAZEnabled with AutomaticFailoverEnabled (multiAzNeedsReplicas).
        multiAz: true,
        // ModifyReplicationGroup: EngineVersion (7.0 to 7.1, one parameter group family).
        upgrade: true,
        // ModifyUser: the RBAC user's two passwords, in the rotate-credentials workflow.
        credentialRotation: true,
      },
      // Locally: Debian's redis-server with AOF persistence, one ACL user per addon.
      local: {
        ...NO_CAPABILITIES,
        provision: true,
        snapshotBackup: true,
        snapshotDownload: true,
        importDump: true,
        credentialRotation: true,
        // TLS only on the port while required (tls-port, redis/config.ts); never public: Redis
        // has no per-source rules, so an allow list would need a firewall.
        tls: true,
        networkingUpdate: true,
        // The plan's memory is the server's maxmemory (redis/config.ts).
        scaling: true,
        // redis-server replicas with replicaof the primary (infra/local/engines/redis/replicas.ts).
        replicas: true,
      },
    },
    // ElastiCache RBAC (the addon's user) requires encryption in transit.
    tlsRequired: { aws: true },
    // Locally TLS stays opt-in, as for the SQL engines: clients must be given the platform's own CA.
    tlsOptIn: ['local'],
    // ElastiCache fails over to a replica: no Multi-AZ without one.
    multiAzNeedsReplicas: ['aws'],
  },
  connectionUri: (secret) => uriOf(secret.tls ? 'rediss' : 'redis', secret),
  // An RDB file.
  dumpExtension: 'rdb',
  // Redis numbers its databases; an addon's connection details name the first.
  databaseFor: () => '0',
  // ElastiCache user names are account-wide: each addon's user is its own (`app-<addon id>`).
  usernameFor: (addonId) => `app-${addonId.replace(/^adn-/, '')}`.toLowerCase(),
};
