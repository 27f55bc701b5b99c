import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { transientErrors } from '../providers/aws/aws-errors.ts';
import type { Schedule } from '../schemas/backup.ts';
import type { BackupHealthState } from '../schemas/backup-health.ts';
import type { BackupHealthProblem, PlatformEvent } from '../schemas/event.ts';
import type { AddonStore } from '../store/addon-store.ts';
import type { BackupStore } from '../store/backup-store.ts';
import type { EventStore } from '../store/event-store.ts';
import { isConditionFailure } from '../store/expressions.ts';
import { evaluateBackupHealth, RECENT_BACKUPS } from './backup-health.ts';

/** The state the monitor last saw an addon in, and whether its event is in the feed yet. */
interface HealthRecord {
  state: BackupHealthState;
  problems: BackupHealthProblem[];
  since: string;
  eventId: string | null;
  published: boolean;
}

const healthKey = (projectId: string, addonId: string) => ({
  pk: `PROJECT#${projectId}`,
  sk: `BACKUPHEALTH#${addonId}`,
});

export interface BackupHealthMonitorDeps {
  client: DynamoDBDocumentClient;
  tableName: string;
  store: Pick<AddonStore, 'findAddon'>;
  backups: Pick<BackupStore, 'listAllSchedules' | 'listBackups'>;
  events: Pick<EventStore, 'append'>;
  /** The clock schedules run on (the local target can run it fast); events carry wall-clock times. */
  now?: () => Date;
}

export interface BackupHealthChange {
  addonId: string;
  state: BackupHealthState;
}

/**
 * Turns the built-in backup-health rules into events, one per state change: on each run
 * (the local tick, the AWS reconciler) every addon with an enabled schedule is evaluated and
 * compared with the state stored for it. A change is stored first (conditional on the state it
 * replaces, so two runs never both announce it) with its event marked unpublished; the event
 * (its id and time stored with the state) is appended next, then marked published. A crash in
 * between is caught by the next run, which appends the same event again (a no-op if it landed).
 * The first evaluation of an addon stores its state silently unless it is degraded.
 */
export class BackupHealthMonitor {
  private readonly send: DynamoDBDocumentClient['send'];
  private readonly now: () => Date;

  constructor(private readonly deps: BackupHealthMonitorDeps) {
    this.send = transientErrors(deps.client, 'DynamoDB');
    this.now = deps.now ?? (() => new Date());
  }

  async run(): Promise<BackupHealthChange[]> {
    const byAddon = new Map<string, Schedule[]>();
    for (const schedule of await this.deps.backups.listAllSchedules()) {
      const key = `${schedule.projectId}/${schedule.addonId}`;
      byAddon.set(key, [...(byAddon.get(key) ?? []), schedule]);
    }
    const changes: BackupHealthChange[] = [];
    for (const schedules of byAddon.values()) {
      const [first] = schedules;
      if (!first || !schedules.some((schedule) => schedule.enabled)) continue;
      const change = await this.evaluate(first.projectId, first.addonId, schedules);
      if (change) changes.push(change);
    }
    return changes;
  }

  private async evaluate(
    projectId: string,
    addonId: string,
    schedules: Schedule[],
  ): Promise<BackupHealthChange | undefined> {
    const addon = await this.deps.store.findAddon(projectId, addonId);
    if (!addon || addon.status === 'deleting') return undefined;
    const page = await this.deps.backups.listBackups(projectId, addonId, { limit: RECENT_BACKUPS });
    const now = this.now();
    const health = evaluateBackupHealth(schedules, page.items, now);
    if (!health) return undefined;
    const stored = await this.read(projectId, addonId);
    if (stored && !stored.published && stored.eventId) await this.publish(projectId, addonId, stored);
    if (stored?.state === health.state) return undefined;
    const announce = stored !== undefined || health.state === 'degraded';
    const since = new Date().toISOString();
    const record: HealthRecord = {
      state: health.state,
      problems: health.problems,
      since,
      eventId: announce ? `${addonId}.backup-health.${health.state}.${Date.parse(since)}` : null,
      published: !announce,
    };
    try {
      await this.send(
        new PutCommand({
          TableName: this.deps.tableName,
          Item: { ...healthKey(projectId, addonId), ...record },
          ConditionExpression: stored ? '#state = :previous' : 'attribute_not_exists(pk)',
          ExpressionAttributeNames: stored ? { '#state': 'state' } : undefined,
          ExpressionAttributeValues: stored ? { ':previous': stored.state } : undefined,
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return undefined; // another run announced it
      throw error;
    }
    if (!announce) return undefined;
    await this.publish(projectId, addonId, record);
    return { addonId, state: health.state };
  }

  private async read(projectId: string, addonId: string): Promise<HealthRecord | undefined> {
    const result = await this.send(
      new GetCommand({
        TableName: this.deps.tableName,
        Key: healthKey(projectId, addonId),
        ConsistentRead: true,
      }),
    );
    return result.Item as HealthRecord | undefined;
  }

  private async publish(projectId: string, addonId: string, record: HealthRecord): Promise<void> {
    if (!record.eventId) return;
    const event: PlatformEvent = {
      id: record.eventId,
      type: record.state === 'degraded' ? 'backup-health.degraded' : 'backup-health.recovered',
      projectId,
      addonId,
      occurredAt: record.since,
      operation: null,
      backupHealth: { state: record.state, problems: record.problems },
    };
    await this.deps.events.append(event);
    await this.send(
      new UpdateCommand({
        TableName: this.deps.tableName,
        Key: healthKey(projectId, addonId),
        UpdateExpression: 'SET published = :true',
        ConditionExpression: 'eventId = :eventId',
        ExpressionAttributeValues: { ':true': true, ':eventId': record.eventId },
      }),
    ).catch((error: unknown) => {
      if (!isConditionFailure(error)) throw error;
    });
  }
}
