import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError } from '../errors.ts';
import { transientErrors } from '../providers/aws/aws-errors.ts';
import { boundedError } from '../schemas/bounds.ts';
import type { Page, PaginationQuery } from '../schemas/common.ts';
import { type Import, ImportSchema, type ImportStatus } from '../schemas/import.ts';
import { isConditionFailure, setExpression } from './expressions.ts';
import { type ExpiryPage, queryAddonIndexPage, queryExpiryIndexPage } from './pages.ts';

/** Where an import's file is: the uploaded object, and (engines that load snapshots) the snapshot made of it. */
export interface ImportRecord extends Import {
  object: { bucket: string; key: string };
  /** The provider snapshot the file becomes before it is restored (Redis), once made. */
  snapshotId: string | null;
  /** The S3 multipart upload the file arrives by, until it is completed (null: one presigned PUT). */
  uploadId?: string | null;
  /** How many parts that multipart upload was cut into. */
  uploadParts?: number | null;
}

/**
 * Imports in the single table, beside the backups:
 *
 * | item   | pk          | sk              | gsi1 (by addon)          | gsi2 (expiry)                     |
 * |--------|-------------|-----------------|--------------------------|-----------------------------------|
 * | import | PROJECT#{p} | IMPORT#{id}     | IMPORTS#{addonId} / {id} | IMPORT-EXPIRES / {expiresAt}#{id} |
 */
const importKey = (projectId: string, importId: string) => ({
  pk: `PROJECT#${projectId}`,
  sk: `IMPORT#${importId}`,
});
const importsOfAddon = (addonId: string) => `IMPORTS#${addonId}`;
const EXPIRY_INDEX = 'IMPORT-EXPIRES';

const toImport = (item: Record<string, unknown>): ImportRecord => ({
  ...ImportSchema.parse(item),
  object: item.object as ImportRecord['object'],
  snapshotId: (item.snapshotId as string | undefined) ?? null,
  uploadId: (item.uploadId as string | undefined) ?? null,
  uploadParts: (item.uploadParts as number | undefined) ?? null,
});

export class ImportStore {
  constructor(private readonly props: { client: DynamoDBDocumentClient; tableName: string }) {}

  private send<T>(command: T) {
    return transientErrors(this.props.client, 'DynamoDB')(command as never) as Promise<
      Record<string, unknown>
    >;
  }

  async putImport(record: ImportRecord): Promise<void> {
    try {
      await this.send(
        new PutCommand({
          TableName: this.props.tableName,
          Item: {
            ...importKey(record.projectId, record.id),
            gsi1pk: importsOfAddon(record.addonId),
            gsi1sk: record.id,
            gsi2pk: EXPIRY_INDEX,
            gsi2sk: `${record.expiresAt}#${record.id}`,
            ...record,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw new ConflictError(`Import ${record.id} already exists`, { field: 'importId' });
    }
  }

  async findImport(projectId: string, importId: string): Promise<ImportRecord | undefined> {
    const result = await this.send(
      new GetCommand({
        TableName: this.props.tableName,
        Key: importKey(projectId, importId),
        ConsistentRead: true,
      }),
    );
    return result.Item ? toImport(result.Item as Record<string, unknown>) : undefined;
  }

  async getImport(projectId: string, importId: string): Promise<ImportRecord> {
    const record = await this.findImport(projectId, importId);
    if (!record) throw new NotFoundError(`Import '${importId}' was not found in project '${projectId}'`);
    return record;
  }

  listImports(projectId: string, addonId: string, page: PaginationQuery): Promise<Page<ImportRecord>> {
    return queryAddonIndexPage(this.props, importsOfAddon(addonId), projectId, page, toImport);
  }

  /**
   * Update an import. `expectStatus`: only from these statuses (a conditional write), so two
   * starts racing cannot both start it, and a late workflow step cannot revive an ended import.
   */
  async updateImport(
    ref: Pick<Import, 'projectId' | 'id'>,
    patch: Partial<Omit<ImportRecord, 'id' | 'projectId' | 'addonId' | 'object'>>,
    expectStatus?: readonly ImportStatus[],
  ): Promise<ImportRecord> {
    const { names, values, sets } = setExpression({ ...patch, error: boundedError(patch.error) });
    const conditions = ['attribute_exists(pk)'];
    if (expectStatus) {
      names['#status'] = 'status';
      const allowed = expectStatus.map((status, index) => {
        values[`:expect${index}`] = status;
        return `#status = :expect${index}`;
      });
      conditions.push(`(${allowed.join(' OR ')})`);
    }
    try {
      const result = await this.send(
        new UpdateCommand({
          TableName: this.props.tableName,
          Key: importKey(ref.projectId, ref.id),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toImport(result.Attributes as Record<string, unknown>);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const current = await this.getImport(ref.projectId, ref.id);
      throw new ConflictError(`Import ${ref.id} is ${current.status}`, { field: 'status' });
    }
  }

  async deleteImportRecord(ref: Pick<Import, 'projectId' | 'id'>): Promise<void> {
    await this.send(
      new DeleteCommand({ TableName: this.props.tableName, Key: importKey(ref.projectId, ref.id) }),
    );
  }

  /** One page of the imports that expired before `now`, across projects, oldest first. */
  async listExpiredImports(
    now: string,
    page: { limit?: number; start?: Record<string, unknown> } = {},
  ): Promise<ExpiryPage<ImportRecord>> {
    return queryExpiryIndexPage(this.props, EXPIRY_INDEX, now, page, toImport);
  }
}
