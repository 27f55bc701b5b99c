import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export { logger } from './logger.ts';

/**
 * Clients of the AWS composition root, created once per container. Each handler imports only
 * what it uses, so its bundle carries only those SDK clients.
 */
let dynamo: DynamoDBClient | undefined;
export const dynamoClient = (): DynamoDBClient => {
  dynamo ??= new DynamoDBClient({});
  return dynamo;
};

export const documentClient = (): DynamoDBDocumentClient =>
  DynamoDBDocumentClient.from(dynamoClient(), { marshallOptions: { removeUndefinedValues: true } });
