import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import { NotFoundError, StaleWriteError } from '../errors.ts';
import { transientErrors } from '../providers/aws/aws-errors.ts';
import {
  type AlertDelivery,
  AlertDeliverySchema,
  type AlertNotificationKind,
  type AlertRule,
  AlertRuleSchema,
  type AlertState,
} from '../schemas/alert.ts';
import type { Page, PaginationQuery } from '../schemas/common.ts';
import { EVENT_RETENTION_DAYS } from '../schemas/event.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { EXPIRY_ATTRIBUTE } from './event-store.ts';
import { isConditionFailure, setExpression } from './expressions.ts';

/** A rule as the table holds it: the API's view plus its signing secret and lock counter. */
/** The default rules of the first release, offered before the offered keys were recorded. */
const FIRST_DEFAULT_KEYS = ['storage', 'connections', 'cpu', 'replica-lag'];

export interface AlertRuleRecord extends Omit<AlertRule, 'signingSecret' | 'states'> {
  signingSecret: string;
  revision: number;
}

/** The state of one rule for one addon, and the state change not yet announced (if any). */
export interface AlertStateRecord {
  projectId: string;
  ruleId: string;
  addonId: string;
  state: AlertState;
  since: string;
  value: number | null;
  revision: number;
  /** Set by a change to or from `firing`: its event id; `announced` once the event and deliveries are written. */
  eventId: string | null;
  announced: boolean;
}

/** One notification on one channel: the outbox entry the dispatcher works from. */
export interface AlertOutboxRecord {
  projectId: string;
  deliveryId: string;
  ruleId: string;
  addonId: string;
  eventId: string;
  kind: AlertNotificationKind;
  channel: 'webhook';
  target: string;
  /** The JSON body, fixed when the notification is made: every attempt sends the same bytes. */
  payload: string;
  /** Attempts started so far. */
  attempts: number;
  status: 'queued' | 'delivered' | 'failed';
  /** When the next attempt is due (also the end of a running attempt's lease). */
  dueAt: string;
}

const DAY_MS = 86_400_000;
const RULE = 'ALERTRULE#';
const STATE = 'ALERTSTATE#';
const OUTBOX = 'ALERTOUTBOX#';
const ATTEMPT = 'ALERTATTEMPT#';
/** gsi2 partition of notifications still to deliver, sorted by when they are due. */
const OUTBOX_INDEX = 'ALERTOUTBOX';

const partition = (projectId: string) => `PROJECT#${projectId}`;
const ruleKey = (projectId: string, ruleId: string) => ({ pk: partition(projectId), sk: `${RULE}${ruleId}` });
const stateKey = (projectId: string, ruleId: string, addonId: string) => ({
  pk: partition(projectId),
  sk: `${STATE}${ruleId}#${addonId}`,
});
const outboxKey = (projectId: string, deliveryId: string) => ({
  pk: partition(projectId),
  sk: `${OUTBOX}${deliveryId}`,
});
const expiry = (from: string) => Math.floor((Date.parse(from) + EVENT_RETENTION_DAYS * DAY_MS) / 1000);

const strip = (item: Record<string, unknown>) => {
  const { pk: _pk, sk: _sk, gsi2pk: _g, gsi2sk: _gs, [EXPIRY_ATTRIBUTE]: _e, ...rest } = item;
  return rest;
};

const RuleRecordSchema = z.omit(AlertRuleSchema, { signingSecret: true, states: true });
const toRule = (item: Record<string, unknown>): AlertRuleRecord => ({
  ...RuleRecordSchema.parse(strip(item)),
  signingSecret: String(item.signingSecret),
  revision: Number(item.revision),
});

/**
 * Alert rules, their per-addon states, the notification outbox and the delivery history, in the
 * single table under the project's partition. Every invariant is one conditional write.
 */
export class AlertStore {
  private readonly send: DynamoDBDocumentClient['send'];
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.send = transientErrors(props.client, 'DynamoDB');
    this.tableName = props.tableName;
  }

  // Rules

  async createRule(record: AlertRuleRecord): Promise<void> {
    await this.put({ ...record, ...ruleKey(record.projectId, record.id) }, 'attribute_not_exists(pk)');
  }

  async findRule(projectId: string, ruleId: string): Promise<AlertRuleRecord | undefined> {
    const item = await this.get(ruleKey(projectId, ruleId));
    return item ? toRule(item) : undefined;
  }

  async getRule(projectId: string, ruleId: string): Promise<AlertRuleRecord> {
    const rule = await this.findRule(projectId, ruleId);
    if (!rule) throw new NotFoundError(`Alert rule ${ruleId} not found`);
    return rule;
  }

  async updateRule(
    current: AlertRuleRecord,
    patch: Partial<Omit<AlertRuleRecord, 'id' | 'projectId' | 'revision'>>,
  ): Promise<AlertRuleRecord> {
    const revision = current.revision + 1;
    const { names, values, sets } = setExpression({ ...patch, revision });
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ruleKey(current.projectId, current.id),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_exists(pk) AND #revision = :expected',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ...values, ':expected': current.revision },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) throw new StaleWriteError('The rule changed at the same time; retry');
      throw error;
    }
    return { ...current, ...patch, revision };
  }

  /** The rule, then its states (a crash in between leaves states the evaluator never reads again). */
  async deleteRule(projectId: string, ruleId: string): Promise<void> {
    await this.send(new DeleteCommand({ TableName: this.tableName, Key: ruleKey(projectId, ruleId) }));
    for (const state of await this.statesOf(projectId, ruleId)) {
      await this.send(
        new DeleteCommand({ TableName: this.tableName, Key: stateKey(projectId, ruleId, state.addonId) }),
      );
    }
  }

  async listRules(projectId: string, page: PaginationQuery): Promise<Page<AlertRuleRecord>> {
    const pk = partition(projectId);
    const result = await this.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': RULE },
        Limit: page.limit,
        ExclusiveStartKey: decodeCursor(page.cursor, pk),
      }),
    );
    return { items: (result.Items ?? []).map(toRule), nextCursor: encodeCursor(result.LastEvaluatedKey) };
  }

  /** Every rule of every project: what the local evaluator and the AWS alarm sync walk. */
  async scanRules(): Promise<AlertRuleRecord[]> {
    return (await this.scan(RULE)).map(toRule);
  }

  /** Writes the rule unless one with its id exists; true when this call wrote it. */
  async createRuleOnce(record: AlertRuleRecord): Promise<boolean> {
    try {
      await this.createRule(record);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /**
   * The keys of the default rules the project was offered (created, and perhaps deleted since):
   * none if never; a record of the first defaults (before keys were recorded) offered the four
   * original ones.
   */
  async offeredDefaults(projectId: string): Promise<string[]> {
    const item = await this.get({ pk: partition(projectId), sk: 'ALERTDEFAULTS' });
    if (!item) return [];
    const keys = item.keys instanceof Set ? [...(item.keys as Set<string>)] : [];
    return [...new Set([...FIRST_DEFAULT_KEYS, ...keys])];
  }

  /** Records that the project was offered these default rules: they are never offered again. */
  async recordOfferedDefaults(projectId: string, keys: readonly string[], at: string): Promise<void> {
    await this.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: partition(projectId), sk: 'ALERTDEFAULTS' },
        UpdateExpression: 'SET #at = if_not_exists(#at, :at) ADD #keys :keys',
        ExpressionAttributeNames: { '#at': 'at', '#keys': 'keys' },
        ExpressionAttributeValues: { ':at': at, ':keys': new Set(keys) },
      }),
    );
  }

  // States

  async findState(projectId: string, ruleId: string, addonId: string): Promise<AlertStateRecord | undefined> {
    const item = await this.get(stateKey(projectId, ruleId, addonId));
    return item ? (strip(item) as unknown as AlertStateRecord) : undefined;
  }

  async statesOf(projectId: string, ruleId: string): Promise<AlertStateRecord[]> {
    const items: AlertStateRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': partition(projectId), ':prefix': `${STATE}${ruleId}#` },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(result.Items ?? []).map((item) => strip(item) as unknown as AlertStateRecord));
      start = result.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /** Writes the next state if the stored one is still `previous` (absent: none yet); false if not. */
  async putState(next: AlertStateRecord, previous: AlertStateRecord | undefined): Promise<boolean> {
    try {
      await this.put(
        { ...next, ...stateKey(next.projectId, next.ruleId, next.addonId) },
        previous ? '#revision = :previous' : 'attribute_not_exists(pk)',
        previous ? { '#revision': 'revision' } : undefined,
        previous ? { ':previous': previous.revision } : undefined,
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async markAnnounced(state: AlertStateRecord): Promise<void> {
    await this.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: stateKey(state.projectId, state.ruleId, state.addonId),
        UpdateExpression: 'SET announced = :true',
        ConditionExpression: 'eventId = :eventId',
        ExpressionAttributeValues: { ':true': true, ':eventId': state.eventId },
      }),
    ).catch((error: unknown) => {
      if (!isConditionFailure(error)) throw error;
    });
  }

  /** States whose change a crash left unannounced (few: a scan filtered on the flag). */
  async unannouncedStates(): Promise<AlertStateRecord[]> {
    return (await this.scan(STATE, 'announced = :false', { ':false': false })).map(
      (item) => item as unknown as AlertStateRecord,
    );
  }

  // Outbox and history

  /** Queues a notification unless it was queued before (its id derives from the event and channel). */
  async enqueue(record: AlertOutboxRecord): Promise<void> {
    try {
      await this.put(
        {
          ...record,
          ...outboxKey(record.projectId, record.deliveryId),
          gsi2pk: OUTBOX_INDEX,
          gsi2sk: record.dueAt,
          [EXPIRY_ATTRIBUTE]: expiry(record.dueAt),
        },
        'attribute_not_exists(pk)',
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /** Notifications due at `now`, oldest first. */
  async due(now: string, limit = 50): Promise<AlertOutboxRecord[]> {
    const result = await this.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'gsi2',
        KeyConditionExpression: 'gsi2pk = :pk AND gsi2sk <= :now',
        ExpressionAttributeValues: { ':pk': OUTBOX_INDEX, ':now': now },
        Limit: limit,
      }),
    );
    return (result.Items ?? []).map((item) => strip(item) as unknown as AlertOutboxRecord);
  }

  /**
   * Takes the next attempt: bumps `attempts` and pushes `dueAt` to the end of a lease, on the
   * condition that nobody took it since it was read. A process that dies while sending leaves it
   * due again when the lease ends.
   */
  async claim(record: AlertOutboxRecord, leaseUntil: string): Promise<AlertOutboxRecord | undefined> {
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: outboxKey(record.projectId, record.deliveryId),
          UpdateExpression: 'SET attempts = :next, dueAt = :lease, gsi2sk = :lease',
          ConditionExpression: 'attempts = :seen AND #status = :queued',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':next': record.attempts + 1,
            ':seen': record.attempts,
            ':lease': leaseUntil,
            ':queued': 'queued',
          },
        }),
      );
      return { ...record, attempts: record.attempts + 1, dueAt: leaseUntil };
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  /** After an attempt: due again at `retryAt`, or finished (out of the outbox index). */
  async settle(record: AlertOutboxRecord, retryAt: string | null, status: AlertOutboxRecord['status']) {
    const key = outboxKey(record.projectId, record.deliveryId);
    await this.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: key,
        UpdateExpression:
          retryAt === null
            ? 'SET #status = :status REMOVE gsi2pk, gsi2sk'
            : 'SET #status = :status, dueAt = :due, gsi2sk = :due',
        ConditionExpression: 'attempts = :attempts',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':status': status,
          ':attempts': record.attempts,
          ...(retryAt === null ? {} : { ':due': retryAt }),
        },
      }),
    ).catch((error: unknown) => {
      if (!isConditionFailure(error)) throw error;
    });
  }

  async recordAttempt(projectId: string, attempt: AlertDelivery): Promise<void> {
    await this.put({
      ...attempt,
      pk: partition(projectId),
      sk: `${ATTEMPT}${attempt.ruleId}#${attempt.at}#${attempt.deliveryId}#${String(attempt.attempt).padStart(3, '0')}`,
      [EXPIRY_ATTRIBUTE]: expiry(attempt.at),
    });
  }

  /** The rule's delivery history, newest first. */
  async listAttempts(projectId: string, ruleId: string, page: PaginationQuery): Promise<Page<AlertDelivery>> {
    const pk = partition(projectId);
    const result = await this.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': `${ATTEMPT}${ruleId}#` },
        ScanIndexForward: false,
        Limit: page.limit,
        ExclusiveStartKey: decodeCursor(page.cursor, pk),
      }),
    );
    return {
      items: (result.Items ?? []).map((item) => AlertDeliverySchema.parse(strip(item))),
      nextCursor: encodeCursor(result.LastEvaluatedKey),
    };
  }

  // Plumbing

  private async get(key: Record<string, string>) {
    const result = await this.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    return result.Item;
  }

  private async put(
    item: Record<string, unknown>,
    condition?: string,
    names?: Record<string, string>,
    values?: Record<string, unknown>,
  ): Promise<void> {
    await this.send(
      new PutCommand({
        TableName: this.tableName,
        Item: item,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  private async scan(prefix: string, filter?: string, values: Record<string, unknown> = {}) {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: `begins_with(sk, :prefix)${filter ? ` AND ${filter}` : ''}`,
          ExpressionAttributeValues: { ':prefix': prefix, ...values },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(result.Items ?? []).map(strip));
      start = result.LastEvaluatedKey;
    } while (start);
    return items;
  }
}
