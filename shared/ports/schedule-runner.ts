import type { Schedule } from '../schemas/backup.ts';

/**
 * Backup schedules: one EventBridge Scheduler schedule per addon schedule on AWS (its target
 * starts the backup), an in-process cron locally. Both are idempotent.
 */
export interface ScheduleRunner {
  upsert(schedule: Schedule): Promise<void>;
  remove(schedule: Pick<Schedule, 'id' | 'projectId' | 'addonId'>): Promise<void>;
}
