import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError, QuotaExceededError, StaleWriteError } from '../errors.ts';
import { transientErrors } from '../providers/aws/aws-errors.ts';
import { type Addon, AddonSchema, type AddonStatus } from '../schemas/addon.ts';
import { boundedError } from '../schemas/bounds.ts';
import type { Page, PaginationQuery } from '../schemas/common.ts';
import {
  type Operation,
  OperationSchema,
  type OperationStatus,
  TERMINAL_STATUSES,
} from '../schemas/operation.ts';
import { nowIso } from '../util/ids.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { EventStore } from './event-store.ts';
import { isConditionFailure, notTerminal, setExpression } from './expressions.ts';
import { queryAddonIndexPage } from './pages.ts';
import { QuotaCounters } from './quota-counters.ts';
import { keys } from './table.ts';

/** What the platform keeps about an addon beyond what the API shows. */
export interface AddonRecord extends Addon {
  /** Optimistic-lock counter, bumped by every write. */
  revision: number;
  /** Provider identifier (RDS DB identifier, local instance dir). */
  resourceId: string;
}

export interface AddonStoreProps {
  client: DynamoDBDocumentClient;
  tableName: string;
}

const stripKeys = <T extends Record<string, unknown>>(item: T) => {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g1s, gsi2pk: _g2, gsi2sk: _g2s, ...rest } = item;
  return rest;
};

const toAddonRecord = (item: Record<string, unknown>): AddonRecord => ({
  ...AddonSchema.parse(item),
  revision: Number(item.revision),
  resourceId: String(item.resourceId),
});

/** gsi2 partition of ended operations whose events are not yet all in the feed. */
const UNPUBLISHED = 'UNPUBLISHED';

const toOperation = (item: Record<string, unknown>): Operation => OperationSchema.parse(item);

/** Addons, their name claims and their operations in the single table. */
export class AddonStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly send: DynamoDBDocumentClient['send'];
  private readonly quotas: QuotaCounters;
  /** Every operation's life lands in the project's events feed from here: the one choke point. */
  readonly events: EventStore;

  constructor(props: AddonStoreProps) {
    this.client = props.client;
    this.tableName = props.tableName;
    this.send = transientErrors(props.client, 'DynamoDB');
    this.quotas = new QuotaCounters(props);
    this.events = new EventStore(props);
  }

  /**
   * Create an addon with its first operation already holding the addon's lock. Without
   * transactions the name claim is its own item, written first; a crash between the two
   * writes leaves a claim without an addon, which the next create of that name takes over.
   * With `maxAddons`, a unit of the project's addon quota is taken first and given back if
   * the addon is not written.
   */
  async createAddon(addon: AddonRecord, operation: Operation, maxAddons?: number): Promise<void> {
    const counter = keys.quota(addon.projectId, 'addons');
    if (maxAddons !== undefined) {
      const counted = { pk: `PROJECT#${addon.projectId}`, skPrefix: 'ADDON#' };
      if (!(await this.quotas.take(counter, maxAddons, counted))) {
        throw new QuotaExceededError(
          `Project '${addon.projectId}' already has ${maxAddons} addons, the most this deployment allows; delete one first`,
          'addons-per-project',
          maxAddons,
          [{ path: 'projectId', message: `at most ${maxAddons} addons per project` }],
        );
      }
    }
    try {
      await this.claimName(addon.projectId, addon.name, addon.id);
      try {
        await this.putOperation(operation);
        await this.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...keys.addon(addon.projectId, addon.id), ...addon },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      } catch (error) {
        await this.releaseName(addon.projectId, addon.name, addon.id);
        throw error;
      }
    } catch (error) {
      if (maxAddons !== undefined) await this.quotas.give(counter);
      throw error;
    }
  }

  private async claimName(projectId: string, name: string, addonId: string): Promise<void> {
    const key = keys.addonName(projectId, name);
    try {
      await this.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key, addonId, claimedAt: nowIso() },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const claim = await this.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    const holder = claim.Item?.addonId as string | undefined;
    if (holder && (await this.findAddon(projectId, holder))) {
      throw new ConflictError(`An addon named '${name}' already exists in this project`, { field: 'name' });
    }
    // An orphaned claim (its addon never got written): take it over, unless somebody else just did.
    try {
      await this.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key, addonId, claimedAt: nowIso() },
          ConditionExpression: holder ? 'addonId = :holder' : 'attribute_not_exists(pk)',
          ExpressionAttributeValues: holder ? { ':holder': holder } : undefined,
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError(`An addon named '${name}' already exists in this project`, { field: 'name' });
      }
      throw error;
    }
  }

  private async releaseName(projectId: string, name: string, addonId: string): Promise<void> {
    try {
      await this.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.addonName(projectId, name),
          ConditionExpression: 'addonId = :addonId',
          ExpressionAttributeValues: { ':addonId': addonId },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async findAddon(projectId: string, addonId: string): Promise<AddonRecord | undefined> {
    const result = await this.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.addon(projectId, addonId),
        ConsistentRead: true,
      }),
    );
    return result.Item ? toAddonRecord(result.Item) : undefined;
  }

  async getAddon(projectId: string, addonId: string): Promise<AddonRecord> {
    const addon = await this.findAddon(projectId, addonId);
    if (!addon) throw new NotFoundError(`Addon '${addonId}' was not found in project '${projectId}'`);
    return addon;
  }

  async listAddons(projectId: string, page: PaginationQuery): Promise<Page<AddonRecord>> {
    const pk = `PROJECT#${projectId}`;
    const result = await this.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': 'ADDON#' },
        Limit: page.limit,
        ExclusiveStartKey: decodeCursor(page.cursor, pk),
      }),
    );
    return {
      items: (result.Items ?? []).map(toAddonRecord),
      nextCursor: encodeCursor(result.LastEvaluatedKey),
    };
  }

  /** Every addon across projects: a restarted local platform brings back the running ones. */
  async scanAddons(): Promise<AddonRecord[]> {
    const items: AddonRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':prefix': 'ADDON#' },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(result.Items ?? []).map(toAddonRecord));
      start = result.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /**
   * Take the addon's lock for a new operation: one mutating operation per addon at a time.
   * The loser of a race gets a 409 that names the operation in flight.
   */
  async beginOperation(addon: AddonRecord, operation: Operation, status: AddonStatus): Promise<AddonRecord> {
    const now = nowIso();
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.addon(addon.projectId, addon.id),
          UpdateExpression:
            'SET currentOperationId = :op, #status = :status, updatedAt = :now, revision = :next',
          ConditionExpression:
            'attribute_exists(pk) AND revision = :rev AND (attribute_not_exists(currentOperationId) OR currentOperationId = :none)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':op': operation.id,
            ':status': status,
            ':now': now,
            ':rev': addon.revision,
            ':next': addon.revision + 1,
            ':none': null,
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const current = await this.getAddon(addon.projectId, addon.id);
      if (current.currentOperationId) {
        throw new ConflictError(
          `Addon '${addon.name}' has operation ${current.currentOperationId} in flight; retry when it has finished`,
          { operationId: current.currentOperationId },
        );
      }
      throw new StaleWriteError('The addon changed while the operation was being started', { cause: error });
    }
    await this.putOperation(operation);
    return {
      ...addon,
      currentOperationId: operation.id,
      status,
      updatedAt: now,
      revision: addon.revision + 1,
    };
  }

  /** Patch the addon on behalf of the operation that holds its lock. */
  async updateAddonForOperation(
    addon: Pick<AddonRecord, 'projectId' | 'id'>,
    operationId: string,
    patch: Partial<Omit<AddonRecord, 'id' | 'projectId' | 'revision'>>,
    options: { release?: boolean } = {},
  ): Promise<void> {
    const { names, values, sets } = setExpression({ ...patch, updatedAt: nowIso() });
    Object.assign(values, { ':op': operationId, ':one': 1 });
    if (options.release) {
      sets.push('currentOperationId = :none');
      values[':none'] = null;
    }
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.addon(addon.projectId, addon.id),
          UpdateExpression: `SET ${sets.join(', ')} ADD revision :one`,
          ConditionExpression: 'attribute_exists(pk) AND currentOperationId = :op',
          ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError(`Operation ${operationId} no longer holds addon ${addon.id}`, {
          operationId,
        });
      }
      throw error;
    }
  }

  /**
   * Remove the addon and its name claim; only the delete operation holding the lock may.
   * Gives the addon's unit of the project quota back, and drops its schedule counter.
   */
  async deleteAddon(
    addon: Pick<AddonRecord, 'projectId' | 'id' | 'name'>,
    operationId: string,
  ): Promise<void> {
    try {
      await this.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.addon(addon.projectId, addon.id),
          ConditionExpression: 'currentOperationId = :op',
          ExpressionAttributeValues: { ':op': operationId },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Already gone (a retried task) is success; held by someone else is not.
      if (await this.findAddon(addon.projectId, addon.id)) {
        throw new ConflictError(`Operation ${operationId} no longer holds addon ${addon.id}`, {
          operationId,
        });
      }
      await this.releaseName(addon.projectId, addon.name, addon.id);
      return;
    }
    await this.releaseName(addon.projectId, addon.name, addon.id);
    await this.quotas.give(keys.quota(addon.projectId, 'addons'));
    await this.quotas.remove(keys.quota(addon.projectId, `schedules#${addon.id}`));
  }

  /**
   * Write an operation, then its `operation.created` event (and its terminal one if it is
   * written already ended). A crash between the two leaves the event out until the operation
   * ends: its terminal transition writes any missing event of its life.
   */
  async putOperation(operation: Operation): Promise<void> {
    const active = !TERMINAL_STATUSES.includes(operation.status);
    await this.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keys.operation(operation.projectId, operation.id),
          gsi1pk: `ADDON#${operation.addonId}`,
          gsi1sk: `OP#${operation.id}`,
          ...(active ? { gsi2pk: 'ACTIVE', gsi2sk: operation.id } : {}),
          ...operation,
        },
      }),
    );
    await this.events.appendOperationEvents(operation);
  }

  async findOperation(projectId: string, operationId: string): Promise<Operation | undefined> {
    const result = await this.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.operation(projectId, operationId),
        ConsistentRead: true,
      }),
    );
    return result.Item ? toOperation(result.Item) : undefined;
  }

  async getOperation(projectId: string, operationId: string): Promise<Operation> {
    const operation = await this.findOperation(projectId, operationId);
    if (!operation)
      throw new NotFoundError(`Operation '${operationId}' was not found in project '${projectId}'`);
    return operation;
  }

  /**
   * Move an operation along. Terminal states are final: a late writer (a retried task, a
   * resumed workflow) cannot turn a failed operation back into a running one.
   */
  async updateOperation(
    projectId: string,
    operationId: string,
    patch: Partial<
      Pick<Operation, 'status' | 'progress' | 'error' | 'message' | 'startedAt' | 'completedAt' | 'export'>
    >,
  ): Promise<Operation> {
    const terminal =
      patch.status !== undefined && TERMINAL_STATUSES.includes(patch.status as OperationStatus);
    // An error longer than the API schema allows would make the operation unreadable. An ended
    // operation always has its end time: its terminal event is keyed on it.
    const { names, values, sets } = setExpression({
      ...patch,
      error: boundedError(patch.error),
      ...(terminal ? { completedAt: patch.completedAt ?? nowIso() } : {}),
    });
    // Ending it moves it from the active index to the unpublished one in the same write; it
    // leaves that index once its events are in the feed (`publishEvents`), so a crash in between
    // is repaired by the reconciler (`listUnpublishedOperations`).
    if (terminal) {
      sets.push('gsi2pk = :unpublished', 'gsi2sk = :opId');
      Object.assign(values, { ':unpublished': UNPUBLISHED, ':opId': operationId });
    }
    names['#status'] = 'status';
    const conditions = ['attribute_exists(pk)', ...notTerminal(TERMINAL_STATUSES, values)];
    try {
      const result = await this.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.operation(projectId, operationId),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      const updated = toOperation(stripKeys(result.Attributes ?? {}));
      if (terminal) await this.publishEvents(updated);
      return updated;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const current = await this.getOperation(projectId, operationId);
      if (current.status === patch.status) return current;
      throw new ConflictError(`Operation ${operationId} is already ${current.status}`, { operationId });
    }
  }

  /**
   * Write every event an ended operation's life calls for, then take it out of the unpublished
   * index. Idempotent: the events are keyed on the operation, so a second call writes nothing.
   */
  async publishEvents(operation: Operation): Promise<void> {
    await this.events.appendOperationEvents(operation);
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.operation(operation.projectId, operation.id),
          UpdateExpression: 'REMOVE gsi2pk, gsi2sk',
          ConditionExpression: 'gsi2pk = :unpublished',
          ExpressionAttributeValues: { ':unpublished': UNPUBLISHED },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /** Ended operations whose events may not be in the feed yet (a crash after the status write). */
  async listUnpublishedOperations(limit = 100): Promise<Operation[]> {
    const result = await this.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'gsi2',
        KeyConditionExpression: 'gsi2pk = :unpublished',
        ExpressionAttributeValues: { ':unpublished': UNPUBLISHED },
        Limit: limit,
      }),
    );
    return (result.Items ?? []).map((item) => toOperation(stripKeys(item)));
  }

  async listOperations(projectId: string, addonId: string, page: PaginationQuery): Promise<Page<Operation>> {
    return queryAddonIndexPage(
      { client: this.client, tableName: this.tableName },
      `ADDON#${addonId}`,
      projectId,
      page,
      toOperation,
    );
  }

  /** Operations not yet terminal, across projects: what a restarted platform must resume. */
  async listActiveOperations(): Promise<Operation[]> {
    const items: Operation[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'gsi2',
          KeyConditionExpression: 'gsi2pk = :active',
          ExpressionAttributeValues: { ':active': 'ACTIVE' },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(result.Items ?? []).map((item) => toOperation(stripKeys(item))));
      start = result.LastEvaluatedKey;
    } while (start);
    return items;
  }
}
