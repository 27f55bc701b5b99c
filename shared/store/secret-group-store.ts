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
import type { Page, PaginationQuery } from '../schemas/common.ts';
import {
  type ExternalService,
  ExternalServiceSchema,
  type SecretGroup,
  SecretGroupSchema,
} from '../schemas/secret-group.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { isConditionFailure, setExpression } from './expressions.ts';
import { keys } from './table.ts';

/** What the platform keeps about a secret group: the API's view without its location, plus the lock. */
export interface SecretGroupRecord extends Omit<SecretGroup, 'documentLocation'> {
  /** Optimistic-lock counter, bumped by every write. */
  revision: number;
  /**
   * SHA-256 of the document last published (null before the first). A re-publish derives the
   * document from the sources' current connection details and writes it only when this differs,
   * so running it again after a crash, or from every tick, is cheap and idempotent.
   */
  documentHash: string | null;
  /**
   * Set when a delete began: the record goes last, so a crash between deleting the document and the
   * record leaves a marked record the sweep finishes deleting, never a group it would publish again.
   */
  deletingAt?: string | undefined;
}

export interface ExternalServiceRecord extends ExternalService {
  revision: number;
}

const GroupRecordSchema = z.extend(z.omit(SecretGroupSchema, { documentLocation: true }), {
  revision: z.number().check(z.int()),
  documentHash: z.nullable(z.string()),
  deletingAt: z.optional(z.string()),
});
const ExternalRecordSchema = z.extend(ExternalServiceSchema, { revision: z.number().check(z.int()) });

const GROUP = 'SECRETGROUP#';
const EXTERNAL = 'EXTSERVICE#';

const strip = (item: Record<string, unknown>) => {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest;
};

/** Secret groups and external services of a project, one item each in the single table. */
export class SecretGroupStore {
  private readonly send: DynamoDBDocumentClient['send'];
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.send = transientErrors(props.client, 'DynamoDB');
    this.tableName = props.tableName;
  }

  // Secret groups

  async createGroup(record: SecretGroupRecord): Promise<void> {
    await this.create(keys.secretGroup(record.projectId, record.id), record);
  }

  async getGroup(projectId: string, groupId: string): Promise<SecretGroupRecord> {
    const item = await this.get(keys.secretGroup(projectId, groupId));
    if (!item) throw new NotFoundError(`Secret group ${groupId} not found`);
    return GroupRecordSchema.parse(strip(item));
  }

  /** Replaces the record if nobody wrote it since `current` was read; returns the new record. */
  async updateGroup(
    current: SecretGroupRecord,
    patch: Partial<Omit<SecretGroupRecord, 'id' | 'projectId' | 'revision'>>,
  ): Promise<SecretGroupRecord> {
    const next = { ...current, ...patch, revision: current.revision + 1 };
    await this.update(
      keys.secretGroup(current.projectId, current.id),
      { ...patch, revision: next.revision },
      current.revision,
    );
    return next;
  }

  async deleteGroup(projectId: string, groupId: string): Promise<void> {
    await this.send(
      new DeleteCommand({ TableName: this.tableName, Key: keys.secretGroup(projectId, groupId) }),
    );
  }

  async listGroups(projectId: string, page: PaginationQuery): Promise<Page<SecretGroupRecord>> {
    const result = await this.page(projectId, GROUP, page);
    return {
      items: result.items.map((item) => GroupRecordSchema.parse(item)),
      nextCursor: result.nextCursor,
    };
  }

  /** Every group of a project: a project has a handful, so a query of its partition is cheap. */
  async allGroupsOf(projectId: string): Promise<SecretGroupRecord[]> {
    const groups: SecretGroupRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listGroups(projectId, { limit: 100, cursor });
      groups.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return groups;
  }

  /** Every group across projects: what the re-publish sweep checks. */
  async scanGroups(): Promise<SecretGroupRecord[]> {
    const groups: SecretGroupRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':prefix': GROUP },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of result.Items ?? []) groups.push(GroupRecordSchema.parse(strip(item)));
      start = result.LastEvaluatedKey;
    } while (start);
    return groups;
  }

  // External services

  async createExternal(record: ExternalServiceRecord): Promise<void> {
    await this.create(keys.externalService(record.projectId, record.id), record);
  }

  async getExternal(projectId: string, externalServiceId: string): Promise<ExternalServiceRecord> {
    const item = await this.get(keys.externalService(projectId, externalServiceId));
    if (!item) throw new NotFoundError(`External service ${externalServiceId} not found`);
    return ExternalRecordSchema.parse(strip(item));
  }

  async listExternals(projectId: string, page: PaginationQuery): Promise<Page<ExternalServiceRecord>> {
    const result = await this.page(projectId, EXTERNAL, page);
    return {
      items: result.items.map((item) => ExternalRecordSchema.parse(item)),
      nextCursor: result.nextCursor,
    };
  }

  async deleteExternal(projectId: string, externalServiceId: string): Promise<void> {
    await this.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: keys.externalService(projectId, externalServiceId),
      }),
    );
  }

  private async get(key: Record<string, string>): Promise<Record<string, unknown> | undefined> {
    const result = await this.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    return result.Item;
  }

  private async create(key: Record<string, string>, record: object): Promise<void> {
    await this.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...record, ...key },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  /** An UpdateItem, not a Put: the workflow and reconciler functions publish with UpdateItem only. */
  private async update(
    key: Record<string, string>,
    patch: Record<string, unknown>,
    revision: number,
  ): Promise<void> {
    const { names, values, sets } = setExpression(patch);
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_exists(pk) AND #revision = :expected',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ...values, ':expected': revision },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new StaleWriteError('The record changed since it was read; retry', { cause: error });
      }
      throw error;
    }
  }

  private async page(projectId: string, prefix: string, page: PaginationQuery) {
    const pk = `PROJECT#${projectId}`;
    const result = await this.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
        Limit: page.limit,
        ExclusiveStartKey: decodeCursor(page.cursor, pk),
      }),
    );
    return {
      items: (result.Items ?? []).map(strip),
      nextCursor: encodeCursor(result.LastEvaluatedKey),
    };
  }
}
