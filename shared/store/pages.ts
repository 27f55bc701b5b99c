import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { transientErrors } from '../providers/aws/aws-errors.ts';
import type { Page, PaginationQuery } from '../schemas/common.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';

/**
 * One page of an addon's items from gsi1 (its operations, its backups), newest first. The
 * project filter keeps another project's caller out even if it guessed an addon id.
 */
export const queryAddonIndexPage = async <T>(
  props: { client: DynamoDBDocumentClient; tableName: string },
  gsi1pk: string,
  projectId: string,
  page: PaginationQuery,
  map: (item: Record<string, unknown>) => T,
): Promise<Page<T>> => {
  const result = await transientErrors(
    props.client,
    'DynamoDB',
  )(
    new QueryCommand({
      TableName: props.tableName,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      FilterExpression: 'projectId = :projectId',
      ExpressionAttributeValues: { ':pk': gsi1pk, ':projectId': projectId },
      ScanIndexForward: false,
      Limit: page.limit,
      ExclusiveStartKey: decodeCursor(page.cursor, gsi1pk),
    }),
  );
  return {
    items: (result.Items ?? []).map((item) => map(item)),
    nextCursor: encodeCursor(result.LastEvaluatedKey),
  };
};

/** A page of an expiry index scan: raw DynamoDB start/next keys, since only sweepers page it. */
export interface ExpiryPage<T> {
  items: T[];
  next: Record<string, unknown> | undefined;
}

/**
 * One page of the items filed under `gsi2pk` in the sparse expiry index (gsi2) whose expiry sort
 * key is before `now`, across projects, oldest first; `next` is where the following page starts.
 */
export const queryExpiryIndexPage = async <T>(
  props: { client: DynamoDBDocumentClient; tableName: string },
  gsi2pk: string,
  now: string,
  page: { limit?: number; start?: Record<string, unknown> },
  map: (item: Record<string, unknown>) => T,
): Promise<ExpiryPage<T>> => {
  const result = await transientErrors(
    props.client,
    'DynamoDB',
  )(
    new QueryCommand({
      TableName: props.tableName,
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :pk AND gsi2sk < :now',
      ExpressionAttributeValues: { ':pk': gsi2pk, ':now': now },
      Limit: page.limit ?? 100,
      ExclusiveStartKey: page.start,
    }),
  );
  return {
    items: (result.Items ?? []).map((item) => map(item)),
    next: result.LastEvaluatedKey,
  };
};
