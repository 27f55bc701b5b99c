import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { IdempotencyOptions } from './http-handler.ts';

export interface DynamoDbIdempotencyOptions {
  client: DynamoDBClient;
  tableName: string;
}

/**
 * Powertools idempotency with its records in the platform table (see `store/table.ts`). Only
 * composition roots that serve idempotent routes import this module, so the other functions
 * bundle neither Powertools idempotency nor its DynamoDB persistence layer.
 */
export const dynamoDbIdempotency = (options: DynamoDbIdempotencyOptions): IdempotencyOptions => {
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName: options.tableName,
    awsSdkV3Client: options.client,
    keyAttr: 'pk',
    sortKeyAttr: 'sk',
    staticPkValue: 'IDEMPOTENCY',
  });
  const config = new IdempotencyConfig({
    eventKeyJmesPath: '[subject, projectId, method, path, key]',
    payloadValidationJmesPath: 'body',
    expiresAfterSeconds: 24 * 60 * 60,
  });
  return {
    run: async (input, context, execute) => {
      config.registerLambdaContext(context);
      const run = makeIdempotent(async (_input: Record<string, unknown>) => execute(), {
        persistenceStore,
        config,
      });
      return run({ ...input });
    },
  };
};
