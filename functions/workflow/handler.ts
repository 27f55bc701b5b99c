import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { parseEnv, WorkflowFunctionEnvSchema } from '#shared/config/env.ts';
import { RdsPostgresProvider } from '#shared/providers/aws/rds-postgres-provider.ts';
import { SecretsManagerStore } from '#shared/providers/aws/secrets-manager-store.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { createWorkflowTaskHandler } from './tasks.ts';

export type WorkflowFunctionEnv = z.infer<typeof WorkflowFunctionEnvSchema>;

export interface AwsWorkflowClients {
  dynamo: DynamoDBClient;
  rds: RDSClient;
  ec2: EC2Client;
  secrets: SecretsManagerClient;
}

/**
 * The AWS composition root of the workflow task handler: the same engine-agnostic steps as
 * the local target, with RDS, Secrets Manager and DynamoDB behind them. Tests build it with
 * their own clients (mocked, or pointed at dynalite).
 */
export const createAwsWorkflowTaskHandler = (
  env: WorkflowFunctionEnv,
  clients: AwsWorkflowClients,
  logger: Logger,
) =>
  createWorkflowTaskHandler({
    logger,
    store: new AddonStore({
      client: DynamoDBDocumentClient.from(clients.dynamo, {
        marshallOptions: { removeUndefinedValues: true },
      }),
      tableName: env.TABLE_NAME,
    }),
    secrets: new SecretsManagerStore({
      client: clients.secrets,
      prefix: env.SECRET_NAME_PREFIX,
      kmsKeyId: env.SECRETS_KMS_KEY_ID,
    }),
    provider: new RdsPostgresProvider({
      rds: clients.rds,
      ec2: clients.ec2,
      vpcId: env.VPC_ID,
      subnetGroupName: env.DB_SUBNET_GROUP_NAME,
      clientSecurityGroupId: env.CLIENT_SECURITY_GROUP_ID,
      kmsKeyId: env.STORAGE_KMS_KEY_ID,
      tlsParameterGroups: env.POSTGRES_TLS_PARAMETER_GROUPS,
      deployment: env.DEPLOYMENT_NAME,
    }),
  });

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
      secrets: new SecretsManagerClient({}),
    },
    new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'addons' }),
  );
  return built(event, context);
};
