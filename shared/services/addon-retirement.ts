import * as z from 'zod/mini';
import type { ScheduleRunner } from '../ports/schedule-runner.ts';
import type { AddonStore } from '../store/addon-store.ts';
import type { BackupStore } from '../store/backup-store.ts';
import { nowIso } from '../util/ids.ts';

const Ref = { projectId: z.string(), addonId: z.string(), operationId: z.string() };

/** The delete-addon steps that deal with what outlives the addon: its schedules and its backups. */
export const RetirementTaskSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('completeFinalBackup'), ...Ref, backupId: z.string() }),
  z.object({ action: z.literal('removeSchedules'), ...Ref }),
  z.object({ action: z.literal('retireBackups'), ...Ref }),
]);
export type RetirementTask = z.infer<typeof RetirementTaskSchema>;

export const DEFAULT_BACKUP_GRACE_DAYS = 7;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface AddonRetirementDeps {
  store: AddonStore;
  backups: BackupStore;
  /** Only removal: the delete workflow never creates schedules. */
  schedules: Pick<ScheduleRunner, 'remove'>;
  /** How long a deleted addon's backups are kept (pinned ones: until unpinned). */
  graceDays: number;
  /** The retention clock (a test can run it fast). */
  now?: () => Date;
}

/**
 * What deleting an addon does to what it leaves behind. Its schedules go (the provider's
 * schedule first, then the record), so nothing fires at a deleted addon. Its backups stay,
 * marked with the addon's deletion, and expire after the grace period unless their own
 * retention ends sooner; a pinned one stays until it is unpinned. Every step is idempotent.
 */
export class AddonRetirement {
  private readonly now: () => Date;

  constructor(private readonly deps: AddonRetirementDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async run(task: RetirementTask): Promise<unknown> {
    switch (task.action) {
      case 'completeFinalBackup':
        return this.completeFinalBackup(task);
      case 'removeSchedules':
        return this.removeSchedules(task);
      case 'retireBackups':
        return this.retireBackups(task);
      default: {
        const exhaustive: never = task;
        throw new Error(`Unknown retirement task ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  /** The final backup is done; unlike a backup operation, the addon stays locked for the delete. */
  private async completeFinalBackup(task: Extract<RetirementTask, { action: 'completeFinalBackup' }>) {
    const backup = await this.deps.backups.getBackup(task.projectId, task.backupId);
    if (backup.status !== 'completed') {
      await this.deps.backups.updateBackup(backup, { status: 'completed', completedAt: nowIso() });
    }
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      progress: { step: 'final-backup-completed', percent: 25 },
    });
    return {};
  }

  private async removeSchedules(task: Extract<RetirementTask, { action: 'removeSchedules' }>) {
    const schedules = await this.deps.backups.listSchedules(task.projectId, task.addonId);
    for (const schedule of schedules) {
      await this.deps.schedules.remove(schedule);
      await this.deps.backups.deleteSchedule(task.projectId, task.addonId, schedule.id);
    }
    return { removed: schedules.length };
  }

  private async retireBackups(task: Extract<RetirementTask, { action: 'retireBackups' }>) {
    const addon = await this.deps.store.findAddon(task.projectId, task.addonId);
    const backups = await this.deps.backups.listAllBackupsOfAddon(task.projectId, task.addonId);
    const now = this.now();
    const graceEnds = new Date(now.getTime() + this.deps.graceDays * DAY_MS).toISOString();
    for (const backup of backups) {
      if (backup.addonDeleted) continue;
      const expiresAt = backup.expiresAt && backup.expiresAt < graceEnds ? backup.expiresAt : graceEnds;
      await this.deps.backups.updateBackup(backup, {
        addonDeleted: true,
        addonDeletedAt: now.toISOString(),
        addonName: backup.addonName ?? addon?.name ?? null,
        expiresAt,
      });
    }
    return { retired: backups.length };
  }
}
