import { Logger } from '@aws-lambda-powertools/logger';
import { DocDBClient } from '@aws-sdk/client-docdb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import type * as z from 'zod/mini';
import { parseEnv, WorkflowFunctionEnvSchema } from '#shared/config/env.ts';
import { awsEngineAdapters } from '#shared/providers/aws/engines.ts';
import { EventBridgeScheduleRemover } from '#shared/providers/aws/eventbridge-schedule-runner.ts';
import { awsSecretGroupServices } from '#shared/providers/aws/secret-groups.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { BackupExporter } from '#shared/providers/backup-export.ts';
import { ImportUploads } from '#shared/providers/import-uploads.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { BackupStore } from '#shared/store/backup-store.ts';
import { ImportStore } from '#shared/store/import-store.ts';
import { createWorkflowTaskHandler } from './tasks.ts';

export type WorkflowFunctionEnv = z.infer<typeof WorkflowFunctionEnvSchema>;

export interface AwsWorkflowClients {
  dynamo: DynamoDBClient;
  rds: RDSClient;
  ec2: EC2Client;
  /** MongoDB addons: Amazon DocumentDB. */
  docdb: DocDBClient;
  /** Default: built when a Redis addon needs it. */
  elasticache?: ElastiCacheClient;
  secrets: SecretsManagerClient;
  s3: S3Client;
  scheduler: SchedulerClient;
}

/**
 * The AWS composition root of the workflow task handler: the same engine-agnostic steps as
 * the local target, with each engine's adapters from the registry (RDS instances and snapshots), Secrets Manager, S3 (dump artifacts),
 * EventBridge Scheduler (a deleted addon's schedules) and DynamoDB behind them; dump and restore jobs run on Fargate. Tests build it with
 * their own clients (mocked, or pointed at dynalite).
 */
export const createAwsWorkflowTaskHandler = (
  env: WorkflowFunctionEnv,
  clients: AwsWorkflowClients,
  logger: Logger,
) => {
  const documentClient = DynamoDBDocumentClient.from(clients.dynamo, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const store = new AddonStore({ client: documentClient, tableName: env.TABLE_NAME });
  const backups = new BackupStore({ client: documentClient, tableName: env.TABLE_NAME });
  const engines = awsEngineAdapters(
    {
      vpcId: env.VPC_ID,
      vpcCidr: env.VPC_CIDR,
      subnetGroupName: env.DB_SUBNET_GROUP_NAME,
      rdsSubnetGroupName: env.RDS_SUBNET_GROUP_NAME,
      cacheSubnetGroupName: env.CACHE_SUBNET_GROUP_NAME,
      redisExportBucket: env.REDIS_EXPORT_BUCKET,
      redisDefaultUserId: env.REDIS_DEFAULT_USER_ID,
      kmsKeyId: env.STORAGE_KMS_KEY_ID,
      deployment: env.DEPLOYMENT_NAME,
      tlsParameterGroups: env.TLS_PARAMETER_GROUPS,
      noTlsParameterGroups: env.NO_TLS_PARAMETER_GROUPS,
      bastionGroupId: env.BASTION_SECURITY_GROUP_ID,
    },
    clients,
  );
  return createWorkflowTaskHandler({
    logger,
    store,
    // With the re-publish hook: a restore's swap (and every later change of the connection
    // details) publishes the secret groups that link the addon.
    secrets: awsSecretGroupServices({
      env,
      client: documentClient,
      addons: store,
      logger,
      secretsClient: clients.secrets,
    }).secrets,
    engines,
    // RDS read replicas (the update-replicas workflow).
    replicas: { target: env.ADDONS_TARGET },
    backups: {
      store,
      backups,
      artifacts: new BackupArtifacts({ client: clients.s3, bucket: env.BACKUP_BUCKET }),
      engines,
      target: env.ADDONS_TARGET,
      // What the ASL's ecs:runTask.sync states pass to RunTask, from the `prepare*Job` output.
      jobs: {
        cluster: env.JOB_CLUSTER_ARN,
        taskDefinition: env.JOB_TASK_DEFINITION_ARN,
        container: env.JOB_CONTAINER_NAME,
        subnets: env.JOB_SUBNET_IDS,
        securityGroups: env.JOB_SECURITY_GROUP_IDS,
        joinProjectClientGroup: true,
      },
      imports: {
        imports: new ImportStore({ client: documentClient, tableName: env.TABLE_NAME }),
        uploads: new ImportUploads({ client: clients.s3, bucket: env.BACKUP_BUCKET }),
        target: 'aws',
        ...(env.LIVE_IMPORT_SUBNET_IDS && env.LIVE_IMPORT_SECURITY_GROUP_IDS
          ? {
              liveImportNetwork: {
                subnets: env.LIVE_IMPORT_SUBNET_IDS,
                securityGroups: env.LIVE_IMPORT_SECURITY_GROUP_IDS,
              },
            }
          : {}),
      },
    },
    // Exports copy server-side from the backup bucket into users' buckets (their policy allows it).
    exports: { store, backups, exporter: new BackupExporter({ client: clients.s3 }) },
    retirement: {
      store,
      backups,
      schedules: new EventBridgeScheduleRemover({
        client: clients.scheduler,
        groupName: env.SCHEDULE_GROUP_NAME,
      }),
      graceDays: env.BACKUP_GRACE_DAYS,
    },
  });
};

type TaskHandler = ReturnType<typeof createAwsWorkflowTaskHandler>;
let built: TaskHandler | undefined;

/** Built on the first invocation, so importing the module needs no environment. */
export const handler = (event: unknown, context: Context): Promise<unknown> => {
  built ??= createAwsWorkflowTaskHandler(
    parseEnv(WorkflowFunctionEnvSchema),
    {
      dynamo: new DynamoDBClient({}),
      rds: new RDSClient({}),
      ec2: new EC2Client({}),
      docdb: new DocDBClient({}),
      elasticache: new ElastiCacheClient({}),
      secrets: new SecretsManagerClient({}),
      s3: new S3Client({}),
      scheduler: new SchedulerClient({}),
    },
    new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'addons' }),
  );
  return built(event, context);
};
