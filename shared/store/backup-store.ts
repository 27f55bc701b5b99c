import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError } from '../errors.ts';
import { transientErrors } from '../providers/aws/aws-errors.ts';
import { type Backup, BackupSchema, type Schedule, ScheduleSchema } from '../schemas/backup.ts';
import { boundedError } from '../schemas/bounds.ts';
import type { Page, PaginationQuery } from '../schemas/common.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { isConditionFailure, notTerminal, setExpression } from './expressions.ts';
import { type ExpiryPage, queryAddonIndexPage, queryExpiryIndexPage } from './pages.ts';
import { QuotaCounters } from './quota-counters.ts';
import { keys } from './table.ts';

/** Where a backup's data lives: an S3 object for dumps, a provider snapshot for snapshots. */
export interface BackupRecord extends Backup {
  artifact: { bucket: string; key: string } | null;
  snapshotId: string | null;
}

export interface ScheduleRecord extends Schedule {
  revision: number;
}

/** Backups are keyed by project and id, so a backup of another addon is recognised as such (a 422, not a 404). */
const backupKey = (projectId: string, backupId: string) => ({
  pk: `PROJECT#${projectId}`,
  sk: `BACKUP#${backupId}`,
});
const backupsOfAddon = (addonId: string) => `BACKUPS#${addonId}`;
const scheduleKey = (projectId: string, addonId: string, scheduleId: string) => ({
  pk: `PROJECT#${projectId}`,
  sk: `SCHEDULE#${addonId}#${scheduleId}`,
});

/** A schedule as stored: its key, and gsi1 so the local cron can list every schedule. */
const scheduleItem = (schedule: ScheduleRecord) => ({
  ...scheduleKey(schedule.projectId, schedule.addonId, schedule.id),
  gsi1pk: 'SCHEDULES',
  gsi1sk: schedule.id,
  ...schedule,
});

const TERMINAL = ['completed', 'failed', 'aborted'];

const toBackup = (item: Record<string, unknown>): BackupRecord => ({
  ...BackupSchema.parse(item),
  artifact: (item.artifact as BackupRecord['artifact']) ?? null,
  snapshotId: (item.snapshotId as string | undefined) ?? null,
});
const toSchedule = (item: Record<string, unknown>): ScheduleRecord => ({
  ...ScheduleSchema.parse(item),
  revision: Number(item.revision ?? 1),
});

/** Retention index: only unpinned backups with an expiry are in it (a sparse GSI). */
const expiryIndex = (backup: Pick<Backup, 'pinned' | 'expiresAt' | 'id'>) =>
  !backup.pinned && backup.expiresAt ? { gsi2pk: 'EXPIRES', gsi2sk: `${backup.expiresAt}#${backup.id}` } : {};

/** Backups and backup schedules in the single table. */
export class BackupStore {
  private readonly quotas: QuotaCounters;

  constructor(private readonly props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.quotas = new QuotaCounters(props);
  }

  private send<T>(command: T) {
    return transientErrors(this.props.client, 'DynamoDB')(command as never) as Promise<
      Record<string, unknown>
    >;
  }

  /** Create a backup record; a second one with the same id is a conflict (ids can be derived). */
  async putBackup(backup: BackupRecord): Promise<void> {
    try {
      await this.writeNewBackup(backup);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw new ConflictError(`Backup ${backup.id} already exists`, { field: 'backupId' });
    }
  }

  private async writeNewBackup(backup: BackupRecord): Promise<void> {
    await this.send(
      new PutCommand({
        TableName: this.props.tableName,
        Item: {
          ...backupKey(backup.projectId, backup.id),
          gsi1pk: backupsOfAddon(backup.addonId),
          gsi1sk: backup.id,
          ...backup,
          ...expiryIndex(backup),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async findBackup(projectId: string, backupId: string): Promise<BackupRecord | undefined> {
    const result = await this.send(
      new GetCommand({
        TableName: this.props.tableName,
        Key: backupKey(projectId, backupId),
        ConsistentRead: true,
      }),
    );
    return result.Item ? toBackup(result.Item as Record<string, unknown>) : undefined;
  }

  async getBackup(projectId: string, backupId: string): Promise<BackupRecord> {
    const backup = await this.findBackup(projectId, backupId);
    if (!backup) throw new NotFoundError(`Backup '${backupId}' was not found in project '${projectId}'`);
    return backup;
  }

  /**
   * A backup found from its addon and id alone (a snapshot name carries no project), through
   * gsi1: eventually consistent, so a backup written a moment ago may not show yet.
   */
  async findBackupOfAddon(addonId: string, backupId: string): Promise<BackupRecord | undefined> {
    const result = await this.send(
      new QueryCommand({
        TableName: this.props.tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk = :id',
        ExpressionAttributeValues: { ':pk': backupsOfAddon(addonId), ':id': backupId },
      }),
    );
    const item = (result.Items as Record<string, unknown>[] | undefined)?.[0];
    return item ? toBackup(item) : undefined;
  }

  async listBackups(projectId: string, addonId: string, page: PaginationQuery): Promise<Page<BackupRecord>> {
    return queryAddonIndexPage(this.props, backupsOfAddon(addonId), projectId, page, toBackup);
  }

  /** The project's backups, newest first, including those of deleted addons. */
  async listProjectBackups(projectId: string, page: PaginationQuery): Promise<Page<BackupRecord>> {
    const pk = `PROJECT#${projectId}`;
    const result = await this.send(
      new QueryCommand({
        TableName: this.props.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': 'BACKUP#' },
        ScanIndexForward: false,
        Limit: page.limit,
        ExclusiveStartKey: decodeCursor(page.cursor, pk),
      }),
    );
    return {
      items: ((result.Items as Record<string, unknown>[]) ?? []).map(toBackup),
      nextCursor: encodeCursor(result.LastEvaluatedKey as Record<string, unknown> | undefined),
    };
  }

  /** Every backup of an addon, deleted or not (the addon's deletion pages through them). */
  async listAllBackupsOfAddon(projectId: string, addonId: string): Promise<BackupRecord[]> {
    const items: BackupRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listBackups(projectId, addonId, { limit: 100, cursor });
      items.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return items;
  }

  /**
   * Update a backup. Terminal statuses are final, like operations: an abort that won the race
   * is not overwritten by a job that finished a moment later.
   */
  async updateBackup(
    ref: Pick<Backup, 'projectId' | 'id'>,
    patch: Partial<Omit<BackupRecord, 'id' | 'projectId' | 'addonId'>>,
  ): Promise<BackupRecord> {
    const current = await this.getBackup(ref.projectId, ref.id);
    const bounded = { ...patch, error: boundedError(patch.error) };
    const next = { ...current, ...bounded };
    const { names, values, sets } = setExpression(bounded);
    const index = expiryIndex(next);
    const indexed = 'gsi2pk' in index;
    if (indexed) {
      sets.push('gsi2pk = :gsi2pk', 'gsi2sk = :gsi2sk');
      Object.assign(values, { ':gsi2pk': index.gsi2pk, ':gsi2sk': index.gsi2sk });
    }
    // A status change must not overwrite a terminal status; pinning a finished backup may.
    const conditions = ['attribute_exists(pk)'];
    if (patch.status !== undefined) {
      names['#status'] = 'status';
      conditions.push(...notTerminal(TERMINAL, values));
    }
    try {
      const result = await this.send(
        new UpdateCommand({
          TableName: this.props.tableName,
          Key: backupKey(ref.projectId, ref.id),
          UpdateExpression: `SET ${sets.join(', ')}${indexed ? '' : ' REMOVE gsi2pk, gsi2sk'}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toBackup(result.Attributes as Record<string, unknown>);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw new ConflictError(`Backup ${ref.id} is already ${current.status}`, { field: 'status' });
    }
  }

  async deleteBackupRecord(ref: Pick<Backup, 'projectId' | 'id'>): Promise<void> {
    await this.send(
      new DeleteCommand({ TableName: this.props.tableName, Key: backupKey(ref.projectId, ref.id) }),
    );
  }

  /**
   * One page of the unpinned backups whose retention ran out before `now`, across projects,
   * oldest expiry first; `next` is where the following page starts (undefined on the last).
   */
  async listExpiredBackups(
    now: string,
    page: { limit?: number; start?: Record<string, unknown> } = {},
  ): Promise<ExpiryPage<BackupRecord>> {
    return queryExpiryIndexPage(this.props, 'EXPIRES', now, page, toBackup);
  }

  // Schedules ----------------------------------------------------------------------------

  async putSchedule(schedule: ScheduleRecord): Promise<void> {
    await this.send(
      new PutCommand({
        TableName: this.props.tableName,
        Item: scheduleItem(schedule),
      }),
    );
  }

  async findSchedule(
    projectId: string,
    addonId: string,
    scheduleId: string,
  ): Promise<ScheduleRecord | undefined> {
    const result = await this.send(
      new GetCommand({
        TableName: this.props.tableName,
        Key: scheduleKey(projectId, addonId, scheduleId),
        ConsistentRead: true,
      }),
    );
    return result.Item ? toSchedule(result.Item as Record<string, unknown>) : undefined;
  }

  async getSchedule(projectId: string, addonId: string, scheduleId: string): Promise<ScheduleRecord> {
    const schedule = await this.findSchedule(projectId, addonId, scheduleId);
    if (!schedule)
      throw new NotFoundError(`Backup schedule '${scheduleId}' was not found for addon '${addonId}'`);
    return schedule;
  }

  async listSchedules(projectId: string, addonId: string): Promise<ScheduleRecord[]> {
    const result = await this.send(
      new QueryCommand({
        TableName: this.props.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': `PROJECT#${projectId}`, ':prefix': `SCHEDULE#${addonId}#` },
      }),
    );
    return ((result.Items as Record<string, unknown>[]) ?? []).map(toSchedule);
  }

  /** Every schedule across projects: the local in-process cron loads them at start. */
  async listAllSchedules(): Promise<ScheduleRecord[]> {
    const items: ScheduleRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.send(
        new QueryCommand({
          TableName: this.props.tableName,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :pk',
          ExpressionAttributeValues: { ':pk': 'SCHEDULES' },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...((result.Items as Record<string, unknown>[]) ?? []).map(toSchedule));
      start = result.LastEvaluatedKey as Record<string, unknown> | undefined;
    } while (start);
    return items;
  }

  /** Replace a schedule if nobody changed it since it was read (optimistic locking). */
  async replaceSchedule(schedule: ScheduleRecord, expectedRevision: number): Promise<void> {
    try {
      await this.send(
        new PutCommand({
          TableName: this.props.tableName,
          Item: { ...scheduleItem(schedule), revision: expectedRevision + 1 },
          ConditionExpression: 'revision = :rev',
          ExpressionAttributeValues: { ':rev': expectedRevision },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw new ConflictError(`Backup schedule ${schedule.id} changed meanwhile; read it again`, {
        field: 'schedule',
      });
    }
  }

  /**
   * Take a unit of the addon's schedule quota before writing a schedule (quota-counters.ts);
   * false when the addon has `limit` schedules already. `deleteSchedule` gives it back.
   */
  async takeScheduleQuota(projectId: string, addonId: string, limit: number): Promise<boolean> {
    return this.quotas.take(keys.quota(projectId, `schedules#${addonId}`), limit, {
      pk: `PROJECT#${projectId}`,
      skPrefix: `SCHEDULE#${addonId}#`,
    });
  }

  /** Give back a unit taken for a schedule that was never written. */
  async giveScheduleQuota(projectId: string, addonId: string): Promise<void> {
    await this.quotas.give(keys.quota(projectId, `schedules#${addonId}`));
  }

  /** Delete a schedule; when it existed, its unit of the addon's schedule quota is given back. */
  async deleteSchedule(projectId: string, addonId: string, scheduleId: string): Promise<void> {
    const result = await this.send(
      new DeleteCommand({
        TableName: this.props.tableName,
        Key: scheduleKey(projectId, addonId, scheduleId),
        ReturnValues: 'ALL_OLD',
      }),
    );
    if (result.Attributes) await this.giveScheduleQuota(projectId, addonId);
  }
}
