import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { transientErrors } from '../providers/aws/aws-errors.ts';
import type { Page } from '../schemas/common.ts';
import {
  EVENT_RETENTION_DAYS,
  type EventOperation,
  EventSchema,
  type EventsQuery,
  type EventType,
  type PlatformEvent,
} from '../schemas/event.ts';
import type { Operation } from '../schemas/operation.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { isConditionFailure } from './expressions.ts';

/**
 * The attribute DynamoDB TTL deletes items on. A table has one TTL attribute, and the
 * Powertools idempotency records already use this one (epoch seconds), so events share it.
 */
export const EXPIRY_ATTRIBUTE = 'expiration';

const DAY_MS = 86_400_000;

export const eventPartition = (projectId: string) => `EVENTS#${projectId}`;
/** Time first, so a project's feed is a range of one partition in the order things happened. */
const eventKey = (event: Pick<PlatformEvent, 'projectId' | 'occurredAt' | 'id'>) => ({
  pk: eventPartition(event.projectId),
  sk: `${event.occurredAt}#${event.id}`,
});

/** An event as the table holds it: its key, the event, and when TTL may delete it (epoch seconds). */
export const eventItem = (event: PlatformEvent) => {
  const expiresMs = Date.parse(event.occurredAt) + EVENT_RETENTION_DAYS * DAY_MS;
  return { ...eventKey(event), ...event, [EXPIRY_ATTRIBUTE]: Math.floor(expiresMs / 1000) };
};

const toEvent = (item: Record<string, unknown>): PlatformEvent => EventSchema.parse(item);

const TERMINAL_EVENT: Record<string, EventType | undefined> = {
  completed: 'operation.completed',
  failed: 'operation.failed',
  aborted: 'operation.aborted',
};

const summary = (operation: Operation): EventOperation => ({
  id: operation.id,
  type: operation.type,
  status: operation.status,
  backupId: operation.backupId ?? null,
  error: operation.error ?? null,
  createdAt: operation.createdAt,
  completedAt: operation.completedAt ?? null,
});

/**
 * The events of an operation as it stands: `created` always, and its terminal event once it has
 * one. Ids and times derive from the operation alone, so writing them again is a no-op.
 */
export const operationEvents = (operation: Operation): PlatformEvent[] => {
  const base = { projectId: operation.projectId, addonId: operation.addonId, backupHealth: null };
  const events: PlatformEvent[] = [
    {
      ...base,
      id: `${operation.id}.created`,
      type: 'operation.created',
      occurredAt: operation.createdAt,
      operation: { ...summary(operation), status: 'pending', error: null, completedAt: null },
    },
  ];
  const terminal = TERMINAL_EVENT[operation.status];
  if (terminal) {
    events.push({
      ...base,
      id: `${operation.id}.${operation.status}`,
      type: terminal,
      occurredAt: operation.completedAt ?? operation.createdAt,
      operation: summary(operation),
    });
  }
  return events;
};

/**
 * The append-only events feed of each project, in the single table (`EVENTS#{projectId}`,
 * sorted by time). Appends are idempotent: an event's key derives from what happened, and a
 * second write of it is refused by a condition and ignored. DynamoDB TTL removes events after
 * `EVENT_RETENTION_DAYS` on AWS; locally (dynalite has no TTL) `sweepExpired` does.
 * On AWS the table's stream carries each new event to EventBridge (functions/events/publish.ts).
 */
export class EventStore {
  private readonly send: DynamoDBDocumentClient['send'];

  constructor(private readonly props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.send = transientErrors(props.client, 'DynamoDB');
  }

  /** Write the event unless it is already there; true when this call wrote it. */
  async append(event: PlatformEvent): Promise<boolean> {
    try {
      await this.send(
        new PutCommand({
          TableName: this.props.tableName,
          Item: eventItem(event),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Every event the operation's current status calls for (a crash may have left one out). */
  async appendOperationEvents(operation: Operation): Promise<void> {
    for (const event of operationEvents(operation)) await this.append(event);
  }

  /**
   * A page of the project's feed, without expired events: oldest first (newest last), or newest
   * first with `order: 'newest'` (the same key range read backwards, so its cursor pages on to
   * older events).
   */
  async list(projectId: string, query: EventsQuery, now = new Date()): Promise<Page<PlatformEvent>> {
    const pk = eventPartition(projectId);
    const values: Record<string, unknown> = { ':pk': pk, ':now': Math.floor(now.getTime() / 1000) };
    const filters = [`${EXPIRY_ATTRIBUTE} > :now`];
    if (query.addonId) {
      values[':addonId'] = query.addonId;
      filters.push('addonId = :addonId');
    }
    if (query.type) {
      values[':type'] = query.type;
      filters.push('#type = :type');
    }
    let keyCondition = 'pk = :pk';
    if (query.since) {
      values[':since'] = new Date(query.since).toISOString();
      keyCondition += ' AND sk >= :since';
    }
    const result = await this.send(
      new QueryCommand({
        TableName: this.props.tableName,
        KeyConditionExpression: keyCondition,
        FilterExpression: filters.join(' AND '),
        ExpressionAttributeNames: query.type ? { '#type': 'type' } : undefined,
        ExpressionAttributeValues: values,
        ScanIndexForward: query.order !== 'newest',
        Limit: query.limit,
        ExclusiveStartKey: decodeCursor(query.cursor, pk),
      }),
    );
    return {
      items: (result.Items ?? []).map(toEvent),
      nextCursor: encodeCursor(result.LastEvaluatedKey),
    };
  }

  /**
   * Delete events past their expiry, across projects: the local stand-in for DynamoDB TTL. A
   * scan, so only the local target (a small table) runs it; AWS tables expire items themselves.
   */
  async sweepExpired(now = new Date()): Promise<number> {
    let deleted = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.send(
        new ScanCommand({
          TableName: this.props.tableName,
          FilterExpression: `begins_with(pk, :events) AND ${EXPIRY_ATTRIBUTE} <= :now`,
          ExpressionAttributeValues: { ':events': 'EVENTS#', ':now': Math.floor(now.getTime() / 1000) },
          ProjectionExpression: 'pk, sk',
          ExclusiveStartKey: start,
        }),
      );
      for (const item of result.Items ?? []) {
        await this.send(
          new DeleteCommand({ TableName: this.props.tableName, Key: { pk: item.pk, sk: item.sk } }),
        );
        deleted++;
      }
      start = result.LastEvaluatedKey;
    } while (start);
    return deleted;
  }
}
