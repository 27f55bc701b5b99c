import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { transientErrors } from '../providers/aws/aws-errors.ts';
import type { Schedule } from '../schemas/backup.ts';
import type { BackupHealth, BackupHealthState } from '../schemas/backup-health.ts';
import type { BackupHealthProblem, PlatformEvent } from '../schemas/event.ts';
import type { AddonStore } from '../store/addon-store.ts';
import type { BackupStore } from '../store/backup-store.ts';
import type { EventStore } from '../store/event-store.ts';
import { isConditionFailure } from '../store/expressions.ts';
import { evaluateBackupHealth, pitrPromiseOf, RECENT_BACKUPS } from './backup-health.ts';
import type { BackupHealthAlerts, HealthEvaluation } from './backup-health-alerts.ts';
import type { PitrService } from './pitr-service.ts';

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
  store: Pick<AddonStore, 'findAddon' | 'listOperations'>;
  backups: Pick<BackupStore, 'listAllSchedules' | 'listBackups'>;
  events: Pick<EventStore, 'append'>;
  /** Point-in-time recovery: the window and what it promises (the third built-in rule). */
  pitr?: Pick<PitrService, 'windowOf' | 'retentionDaysOf'>;
  /** Alert rules on `backup.problems`: what each run found goes through their channels. */
  alerts?: Pick<BackupHealthAlerts, 'run'>;
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
    const evaluated: HealthEvaluation[] = [];
    for (const schedules of byAddon.values()) {
      const [first] = schedules;
      if (!first || !schedules.some((schedule) => schedule.enabled)) continue;
      const { change, health } = await this.evaluate(first.projectId, first.addonId, schedules);
      if (change) changes.push(change);
      if (health) {
        evaluated.push({
          addon: { projectId: first.projectId, id: first.addonId },
          problems: health.problems.length,
        });
      }
    }
    await this.deps.alerts?.run(evaluated);
    return changes;
  }

  private async evaluate(
    projectId: string,
    addonId: string,
    schedules: Schedule[],
  ): Promise<{ change?: BackupHealthChange; health?: BackupHealth }> {
    const addon = await this.deps.store.findAddon(projectId, addonId);
    if (!addon || addon.status === 'deleting') return {};
    const page = await this.deps.backups.listBackups(projectId, addonId, { limit: RECENT_BACKUPS });
    const pitr = this.deps.pitr;
    const promise = pitr
      ? await pitrPromiseOf(this.deps.store, addon, pitr.retentionDaysOf(addon))
      : undefined;
    const window = promise && pitr ? await pitr.windowOf(addon) : null;
    const now = this.now();
    const health = evaluateBackupHealth(schedules, page.items, now, window, promise);
    if (!health) return {};
    return { change: await this.record(projectId, addonId, health), health };
  }

  /** Stores and announces a change of state; the change, if this run made it. */
  private async record(
    projectId: string,
    addonId: string,
    health: BackupHealth,
  ): Promise<BackupHealthChange | undefined> {
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
