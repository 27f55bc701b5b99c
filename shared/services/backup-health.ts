import type { RestorableWindow } from '../ports/engine-provider.ts';
import type { Backup, Schedule } from '../schemas/backup.ts';
import type { BackupHealth } from '../schemas/backup-health.ts';
import type { BackupHealthProblem } from '../schemas/event.ts';
import type { Operation } from '../schemas/operation.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import type { BackupStore } from '../store/backup-store.ts';
import { nextRun, timingOf } from './schedule-timing.ts';

const MINUTE_MS = 60_000;
const INTERVAL_MINUTES: Record<Schedule['interval'], number> = {
  hourly: 60,
  daily: 24 * 60,
  weekly: 7 * 24 * 60,
};
/** How late the newest successful backup may be, in schedule intervals, before it is overdue. */
export const OVERDUE_FACTOR = 1.5;
/** Backups read per evaluation: one query page, newest first (ids sort by time). */
export const RECENT_BACKUPS = 50;

const ended = (backup: Backup) => backup.completedAt ?? backup.createdAt;
const HOUR_MS = 3_600_000;

/**
 * What the addon promises for point-in-time recovery: a window of `retentionDays` back from now,
 * counted from `since` (when the addon was created or last restored or upgraded in place, which
 * starts the window again) while it is younger than that.
 */
export interface PitrPromise {
  retentionDays: number;
  since: string;
  /** Wall-clock time the window was read at (the schedule clock may run faster locally). */
  at: Date;
}

/**
 * The point-in-time rule: the window reaches back (from now) less far than promised, by more than
 * the slack a healthy window has (a day of base backups or snapshots, at most half of what is
 * expected). A window that does not exist yet counts once two hours are expected.
 */
export const pitrShortfall = (
  window: RestorableWindow | null,
  promise: PitrPromise,
  now: Date,
): BackupHealthProblem | undefined => {
  const expectedMs = Math.min(
    promise.retentionDays * 24 * HOUR_MS,
    now.getTime() - Date.parse(promise.since),
  );
  const slackMs = Math.min(25 * HOUR_MS, expectedMs / 2);
  const hours = (ms: number) => Math.round((ms / HOUR_MS) * 10) / 10;
  if (!window) {
    if (expectedMs < 2 * HOUR_MS) return undefined;
    return {
      code: 'PointInTimeWindowShort',
      message: `There is no point-in-time window, where ${hours(expectedMs)} hours are promised`,
    };
  }
  const reachMs = now.getTime() - Date.parse(window.earliestRestorableTime);
  if (expectedMs - reachMs <= slackMs) return undefined;
  return {
    code: 'PointInTimeWindowShort',
    message: `The point-in-time window starts at ${window.earliestRestorableTime}: it reaches back ${hours(reachMs)} hours, where ${hours(expectedMs)} are promised`,
  };
};

/**
 * The backup health of an addon from what the table already holds: its schedules (their last
 * firing) and its newest backups. Null for an addon without an enabled schedule. Two built-in
 * rules make it `degraded`: the newest scheduled attempt failed (its backup, or the firing
 * itself), and no backup succeeded within 1.5 times the shortest enabled interval (counted from
 * the newest success, or from when the oldest enabled schedule was created); a third where the
 * addon has point-in-time recovery (`pitr` given): its window is shorter than promised.
 */
export const evaluateBackupHealth = (
  schedules: readonly Schedule[],
  recentBackups: readonly Backup[],
  now: Date,
  window: RestorableWindow | null = null,
  pitr?: PitrPromise,
): BackupHealth | null => {
  const enabled = schedules.filter((schedule) => schedule.enabled);
  if (enabled.length === 0) return null;
  const problems: BackupHealthProblem[] = [];
  const success = recentBackups.find((backup) => backup.status === 'completed');
  const scheduledEnded = recentBackups.filter(
    (backup) => backup.source === 'schedule' && (backup.status === 'completed' || backup.status === 'failed'),
  );
  const failedBackup = scheduledEnded.find((backup) => backup.status === 'failed');
  // A firing that could not even start a backup is a failed scheduled backup too.
  const failedFiring = enabled
    .map((schedule) => schedule.lastRun)
    .filter((run) => run?.outcome === 'failed-to-start')
    .sort((a, b) => (b?.at ?? '').localeCompare(a?.at ?? ''))[0];
  const lastFailed =
    failedFiring && (!failedBackup || failedFiring.at > ended(failedBackup))
      ? {
          id: null,
          at: failedFiring.at,
          error: { code: 'BackupStartFailed', message: failedFiring.reason ?? 'The firing failed' },
        }
      : failedBackup
        ? { id: failedBackup.id, at: ended(failedBackup), error: failedBackup.error }
        : null;
  const newestScheduled = scheduledEnded[0];
  if (
    lastFailed &&
    (!newestScheduled || newestScheduled.status === 'failed' || lastFailed.at > ended(newestScheduled))
  ) {
    problems.push({
      code: 'ScheduledBackupFailed',
      message: `The scheduled backup at ${lastFailed.at} failed: ${lastFailed.error?.message ?? 'no reason recorded'}`,
    });
  }
  const intervalMs = Math.min(...enabled.map((schedule) => INTERVAL_MINUTES[schedule.interval])) * MINUTE_MS;
  const scheduledSince = Math.min(...enabled.map((schedule) => Date.parse(schedule.createdAt)));
  const since = Math.max(success ? Date.parse(ended(success)) : 0, scheduledSince);
  if (now.getTime() - since > OVERDUE_FACTOR * intervalMs) {
    const hours = Math.round(((OVERDUE_FACTOR * intervalMs) / 3_600_000) * 10) / 10;
    problems.push({
      code: 'BackupOverdue',
      message: success
        ? `No backup succeeded within ${hours} hours; the last success was at ${ended(success)}`
        : `No backup has succeeded within ${hours} hours of the schedule's creation`,
    });
  }
  const shortfall = pitr ? pitrShortfall(window, pitr, pitr.at) : undefined;
  if (shortfall) problems.push(shortfall);
  const next = enabled.map((schedule) => nextRun(timingOf(schedule), now).toISOString()).sort()[0] as string;
  return {
    state: problems.length > 0 ? 'degraded' : 'healthy',
    problems,
    lastSuccessfulBackup: success ? { id: success.id, completedAt: ended(success) } : null,
    lastFailedScheduledBackup: lastFailed,
    nextScheduledRun: next,
    pointInTimeWindow: window,
  };
};

/** Operations after which the point-in-time window starts again. */
const WINDOW_RESTARTS: readonly Operation['type'][] = ['restore', 'upgrade'];

/**
 * The point-in-time promise of an addon that has a window to keep (`retentionDays` given): since
 * its creation or its newest completed restore or upgrade among its 25 newest operations.
 */
export const pitrPromiseOf = async (
  operations: Pick<AddonStore, 'listOperations'>,
  addon: Pick<AddonRecord, 'projectId' | 'id' | 'createdAt'>,
  retentionDays: number | undefined,
): Promise<PitrPromise | undefined> => {
  if (!retentionDays) return undefined;
  const page = await operations.listOperations(addon.projectId, addon.id, { limit: 25 });
  const restart = page.items.find(
    (operation) => WINDOW_RESTARTS.includes(operation.type) && operation.status === 'completed',
  );
  const since = [addon.createdAt, restart?.completedAt ?? addon.createdAt].sort().at(-1) as string;
  return { retentionDays, since, at: new Date() };
};

/** The addon as backup health reads it. */
export type HealthAddon = Pick<AddonRecord, 'projectId' | 'id' | 'createdAt' | 'engine' | 'plan'>;
/** How many days of point-in-time recovery an addon promises; undefined: it has none here. */
export type PitrRetention = (addon: HealthAddon) => number | undefined;

/** Finishes reading one addon's health once the addon itself is known (`BackupHealthReader.begin`). */
export type HealthFinish = (
  addon: HealthAddon,
  window: RestorableWindow | null,
) => Promise<BackupHealth | null>;

/** Reads one addon's health for GET: its schedules, then a page of its backups (and operations). */
export class BackupHealthReader {
  constructor(
    private readonly deps: {
      backups: Pick<BackupStore, 'listSchedules' | 'listBackups'>;
      /** With `retention`: the point-in-time rule too. */
      operations?: Pick<AddonStore, 'listOperations'>;
      retention?: PitrRetention;
      now?: () => Date;
    },
  ) {}

  /**
   * Starts reading an addon's health before the caller has the addon: the schedule query runs
   * beside the caller's own read of it, so a GET waits for the slower of the two instead of each
   * in turn. The function returned finishes once the addon is known: nothing more without an
   * enabled schedule, else a page of backups and, for the point-in-time rule, of operations, side
   * by side. A caller whose own read fails (a 404) may drop it: its failure is not left unhandled.
   */
  begin(projectId: string, addonId: string): HealthFinish {
    const schedules = this.deps.backups.listSchedules(projectId, addonId);
    schedules.catch(() => undefined);
    return async (addon, window) => {
      const all = await schedules;
      if (!all.some((schedule) => schedule.enabled)) return null;
      const { operations, retention } = this.deps;
      const [page, pitr] = await Promise.all([
        this.deps.backups.listBackups(projectId, addonId, { limit: RECENT_BACKUPS }),
        operations && retention ? pitrPromiseOf(operations, addon, retention(addon)) : undefined,
      ]);
      return evaluateBackupHealth(all, page.items, (this.deps.now ?? (() => new Date()))(), window, pitr);
    };
  }
}
