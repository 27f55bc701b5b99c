import { DocDBClient } from '@aws-sdk/client-docdb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import type { RDSClient } from '@aws-sdk/client-rds';
import type { S3Client } from '@aws-sdk/client-s3';
import { EngineRegistry } from '../../engines/registry.ts';
import { ProviderError } from '../../errors.ts';
import type { EngineAdapters, SnapshotDeleter } from '../../ports/engine-provider.ts';
import type { Engine } from '../../schemas/catalog.ts';
import type { RestorableWindowReader } from '../../services/pitr-service.ts';
import type { ReplicaEngines } from '../../services/replicas.ts';
import { DocdbSnapshotDeleter, docdbEngine } from './mongodb/index.ts';
import { mysqlRdsProfile } from './mysql/index.ts';
import { postgresqlRdsProfile } from './postgresql/index.ts';
import { type RdsEngineProfile, RdsEngineProvider } from './rds/rds-engine-provider.ts';
import { RdsRestorableWindows } from './rds/rds-pitr.ts';
import { RdsSnapshotDeleter } from './rds/rds-snapshots.ts';
import { ElastiCacheRedisProvider } from './redis/index.ts';
import { RedisSnapshotDeleter } from './redis/redis-snapshots.ts';

/** Where the engines' resources go: what the stack passes to the workflow function. */
export interface AwsEngineSettings {
  vpcId: string;
  vpcCidr: string;
  subnetGroupName: string;
  /**
   * The DB subnet group over the public subnets: RDS addons are created there so that they can be
   * made public in place (docs/networking.md); unset: in `subnetGroupName`, private for good.
   */
  rdsSubnetGroupName?: string;
  kmsKeyId: string;
  deployment: string;
  /** Engine -> major -> parameter group forcing TLS, and one that does not. */
  tlsParameterGroups: Partial<Record<Engine, Record<string, string>>>;
  noTlsParameterGroups: Partial<Record<Engine, Record<string, string>>>;
  /** ElastiCache's subnet group over the same isolated subnets (Redis); unset: no Redis addons. */
  cacheSubnetGroupName?: string;
  /** The bucket ElastiCache exports Redis snapshots to. */
  redisExportBucket?: string;
  /** The deployment's disabled `default` Redis user every addon's user group contains. */
  redisDefaultUserId?: string;
  /** The deployment's bastion group, admitted by every addon group (`AddonSecurityGroupsProps`); unset: no bastion. */
  bastionGroupId?: string;
}

export interface AwsEngineClients {
  rds: RDSClient;
  ec2: EC2Client;
  docdb: DocDBClient;
  /** Reads exported Redis snapshots back to hash them. */
  s3: S3Client;
  /** Default: a client for the function's Region, built when a Redis addon needs it. */
  elasticache?: ElastiCacheClient;
}

/** ElastiCache Redis's adapters; the stack names the cache subnet group (infra/aws/constructs/engines/redis.ts). */
const redisEngine = (settings: AwsEngineSettings, clients: AwsEngineClients) => {
  if (!settings.cacheSubnetGroupName || !settings.redisDefaultUserId) {
    throw new ProviderError(
      'This deployment has no ElastiCache subnet group or default user for Redis addons; redeploy the stack',
      'Misconfigured',
    );
  }
  const redis = new ElastiCacheRedisProvider({
    elasticache: clients.elasticache ?? new ElastiCacheClient({}),
    ec2: clients.ec2,
    s3: clients.s3,
    vpcId: settings.vpcId,
    vpcCidr: settings.vpcCidr,
    cacheSubnetGroupName: settings.cacheSubnetGroupName,
    defaultUserId: settings.redisDefaultUserId,
    kmsKeyId: settings.kmsKeyId,
    deployment: settings.deployment,
    exportBucket: settings.redisExportBucket,
    bastionGroupId: settings.bastionGroupId,
  });
  return { provider: redis, snapshots: redis, replicas: redis.replicas };
};

/** One RDS engine's adapters: the same RDS mechanics, with the engine's profile. */
const rdsEngine = (profile: RdsEngineProfile, settings: AwsEngineSettings, clients: AwsEngineClients) => {
  const rds = new RdsEngineProvider(profile, {
    rds: clients.rds,
    ec2: clients.ec2,
    vpcId: settings.vpcId,
    vpcCidr: settings.vpcCidr,
    subnetGroupName: settings.rdsSubnetGroupName ?? settings.subnetGroupName,
    ...(settings.rdsSubnetGroupName ? { publicSubnetGroupName: settings.rdsSubnetGroupName } : {}),
    kmsKeyId: settings.kmsKeyId,
    parameterGroups: {
      tls: settings.tlsParameterGroups[profile.engine] ?? {},
      noTls: settings.noTlsParameterGroups[profile.engine] ?? {},
    },
    deployment: settings.deployment,
    bastionGroupId: settings.bastionGroupId,
  });
  return { provider: rds, snapshots: rds, replicas: rds.replicas };
};

/**
 * The engines whose AWS adapters change read replicas (`replicas` of their adapters: RDS read
 * replicas, ElastiCache replica nodes, DocumentDB readers), for the API function, which checks a
 * `PATCH replicas` without building any provider.
 */
export const AWS_REPLICA_ENGINES: ReadonlySet<Engine> = new Set<Engine>([
  'postgresql',
  'mysql',
  'redis',
  'mongodb',
]);

export const awsReplicaEngines: ReplicaEngines = {
  of: (engine) => (AWS_REPLICA_ENGINES.has(engine) ? { replicas: true } : {}),
};

/** The AWS adapters of each engine the stack deploys (the AWS half of architecture decision 10). */
export const awsEngineAdapters = (
  settings: AwsEngineSettings,
  clients: AwsEngineClients,
): EngineRegistry<EngineAdapters> =>
  new EngineRegistry<EngineAdapters>('AWS provisioning', {
    postgresql: () => rdsEngine(postgresqlRdsProfile, settings, clients),
    mysql: () => rdsEngine(mysqlRdsProfile, settings, clients),
    mongodb: () =>
      docdbEngine(
        {
          ...settings,
          tlsParameterGroups: settings.tlsParameterGroups.mongodb ?? {},
        },
        clients,
      ),
    redis: () => redisEngine(settings, clients),
  });

/**
 * What deletes each engine's snapshot backups, for the functions that only delete them. Clients
 * are made on first use: a function that never deletes a DocumentDB or ElastiCache snapshot never
 * makes one.
 */
export const awsSnapshotDeleters = (
  rds: () => RDSClient,
  docdb: () => DocDBClient = () => new DocDBClient({}),
  elasticache: () => ElastiCacheClient = () => new ElastiCacheClient({}),
): EngineRegistry<SnapshotDeleter> =>
  new EngineRegistry<SnapshotDeleter>('snapshot backups', {
    postgresql: () => new RdsSnapshotDeleter(rds()),
    mysql: () => new RdsSnapshotDeleter(rds()),
    mongodb: () => new DocdbSnapshotDeleter(docdb()),
    redis: () => new RedisSnapshotDeleter(elasticache()),
  });

/**
 * What reads each engine's point-in-time window, for the API functions (GET of an addon, the
 * point-in-time restore's check): RDS's automated backups. Engines without point-in-time recovery
 * on AWS (ElastiCache, DocumentDB here) have none, and their addons show no window.
 */
export const awsRestorableWindows = (rds: () => RDSClient): EngineRegistry<RestorableWindowReader> =>
  new EngineRegistry<RestorableWindowReader>('restorable windows', {
    postgresql: () => new RdsRestorableWindows(rds()),
    mysql: () => new RdsRestorableWindows(rds()),
  });
