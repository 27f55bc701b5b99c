import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CursorSigner } from '#shared/api/cursors.ts';
import { secretsManagerCursorKey } from '#shared/providers/aws/cursor-key.ts';

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

/**
 * The cursor signer of a handler, built once with it per container: its key is read from
 * Secrets Manager on the first paginated request and kept.
 */
export const cursorSigner = (secretArn: string): CursorSigner =>
  new CursorSigner(secretsManagerCursorKey(new SecretsManagerClient({}), secretArn));
