import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError } from '../errors.ts';
import { transientErrors } from '../providers/aws/aws-errors.ts';
import { isConditionFailure } from './expressions.ts';

/** A quota counter item: `PROJECT#{p}` / `QUOTA#{name}`. */
export interface CounterKey {
  pk: string;
  sk: string;
}

/** How the items a counter counts are found, to initialise it or correct it. */
export interface CountedItems {
  pk: string;
  skPrefix: string;
}

/**
 * A counter quiet for this long has no create in flight between its increment and the write
 * of the item it counts (that takes milliseconds), so a recount may correct it.
 */
const SETTLED_MS = 30_000;
const ATTEMPTS = 4;

/**
 * Count quotas without transactions (dynalite has none): one counter item per quota, taken
 * with a single conditional write `count < limit` before the counted item is written, and
 * given back when it is removed or its write failed. Concurrent requests cannot both take
 * the last unit. A crash between taking a unit and writing the item (or between removing the
 * item and giving the unit back) leaves the counter too high; when a full counter has been
 * quiet for 30 s, a consistent count of the items corrects it, so a leaked unit is never
 * lost for good. A counter that does not exist yet (data from before quotas) starts from
 * that count too.
 */
export class QuotaCounters {
  private readonly sendRaw: DynamoDBDocumentClient['send'];

  constructor(private readonly props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.sendRaw = transientErrors(props.client, 'DynamoDB');
  }

  private send<T>(command: T) {
    return this.sendRaw(command as never) as Promise<Record<string, unknown>>;
  }

  /** Take one unit; false when the quota is used up. */
  async take(key: CounterKey, limit: number, counted: CountedItems, now = Date.now()): Promise<boolean> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (await this.increment(key, limit, now)) return true;
      const current = await this.read(key);
      if (!current) {
        const actual = await this.count(counted);
        if (actual >= limit) return false;
        if (await this.initialise(key, actual + 1, now)) return true;
        continue;
      }
      if (current.count < limit) continue;
      if (now - current.updatedAt < SETTLED_MS) return false;
      const actual = await this.count(counted);
      if (actual >= current.count) return false;
      await this.correct(key, current, actual, now);
    }
    throw new ConflictError('The quota counter is busy with concurrent requests; retry', { field: 'quota' });
  }

  /** Give one unit back (the counted item was removed, or never written). */
  async give(key: CounterKey, now = Date.now()): Promise<void> {
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.props.tableName,
          Key: key,
          UpdateExpression: 'SET #count = #count - :one, updatedAt = :now',
          ConditionExpression: '#count > :zero',
          ExpressionAttributeNames: { '#count': 'count' },
          ExpressionAttributeValues: { ':one': 1, ':zero': 0, ':now': now },
        }),
      );
    } catch (error) {
      // Already zero or absent: nothing to give back.
      if (!isConditionFailure(error)) throw error;
    }
  }

  async remove(key: CounterKey): Promise<void> {
    await this.send(new DeleteCommand({ TableName: this.props.tableName, Key: key }));
  }

  private async increment(key: CounterKey, limit: number, now: number): Promise<boolean> {
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.props.tableName,
          Key: key,
          UpdateExpression: 'SET #count = #count + :one, updatedAt = :now',
          ConditionExpression: 'attribute_exists(#count) AND #count < :limit',
          ExpressionAttributeNames: { '#count': 'count' },
          ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':now': now },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async read(key: CounterKey): Promise<{ count: number; updatedAt: number } | undefined> {
    const result = await this.send(
      new GetCommand({ TableName: this.props.tableName, Key: key, ConsistentRead: true }),
    );
    const item = result.Item as Record<string, unknown> | undefined;
    return item ? { count: Number(item.count ?? 0), updatedAt: Number(item.updatedAt ?? 0) } : undefined;
  }

  private async initialise(key: CounterKey, count: number, now: number): Promise<boolean> {
    try {
      await this.send(
        new PutCommand({
          TableName: this.props.tableName,
          Item: { ...key, count, updatedAt: now },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Set the counter to what was counted, unless it moved since it was read. */
  private async correct(
    key: CounterKey,
    seen: { count: number; updatedAt: number },
    actual: number,
    now: number,
  ): Promise<void> {
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.props.tableName,
          Key: key,
          UpdateExpression: 'SET #count = :actual, updatedAt = :now',
          ConditionExpression: '#count = :seen AND updatedAt = :seenAt',
          ExpressionAttributeNames: { '#count': 'count' },
          ExpressionAttributeValues: {
            ':actual': actual,
            ':now': now,
            ':seen': seen.count,
            ':seenAt': seen.updatedAt,
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  private async count(counted: CountedItems): Promise<number> {
    let total = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.send(
        new QueryCommand({
          TableName: this.props.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': counted.pk, ':prefix': counted.skPrefix },
          Select: 'COUNT',
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      total += Number(result.Count ?? 0);
      start = result.LastEvaluatedKey as Record<string, unknown> | undefined;
    } while (start);
    return total;
  }
}
