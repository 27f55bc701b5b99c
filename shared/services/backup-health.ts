import type { RestorableWindow } from '../ports/engine-provider.ts';
import type { Backup, Schedule } from '../schemas/backup.ts';
import type { BackupHealth } from '../schemas/backup-health.ts';
import type { BackupHealthProblem } from '../schemas/event.ts';
import type { BackupStore } from '../store/backup-store.ts';
import { timingOf } from './schedule-service.ts';
import { nextRun } from './schedule-timing.ts';

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

/**
 * The backup health of an addon from what the table already holds: its schedules (their last
 * firing) and its newest backups. Null for an addon without an enabled schedule. Two built-in
 * rules make it `degraded`: the newest scheduled attempt failed (its backup, or the firing
 * itself), and no backup succeeded within 1.5 times the shortest enabled interval (counted from
 * the newest success, or from when the oldest enabled schedule was created).
 */
export const evaluateBackupHealth = (
  schedules: readonly Schedule[],
  recentBackups: readonly Backup[],
  now: Date,
  window: RestorableWindow | null = null,
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

/** Reads one addon's health for GET: one schedule query and one page of backups. */
export class BackupHealthReader {
  constructor(
    private readonly deps: {
      backups: Pick<BackupStore, 'listSchedules' | 'listBackups'>;
      now?: () => Date;
    },
  ) {}

  async of(
    addon: { projectId: string; id: string },
    window: RestorableWindow | null,
  ): Promise<BackupHealth | null> {
    const schedules = await this.deps.backups.listSchedules(addon.projectId, addon.id);
    if (!schedules.some((schedule) => schedule.enabled)) return null;
    const page = await this.deps.backups.listBackups(addon.projectId, addon.id, { limit: RECENT_BACKUPS });
    return evaluateBackupHealth(schedules, page.items, (this.deps.now ?? (() => new Date()))(), window);
  }
}
