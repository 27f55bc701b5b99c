import { issuesOf } from '../api/zod-issues.ts';
import { capabilitiesOf } from '../catalog/engines.ts';
import { ConflictError, QuotaExceededError, UnsupportedError, ValidationError } from '../errors.ts';
import type { ScheduleRunner } from '../ports/schedule-runner.ts';
import {
  type CreateScheduleRequest,
  type Schedule,
  type ScheduleTiming,
  ScheduleTimingSchema,
} from '../schemas/backup.ts';
import type { Target } from '../schemas/catalog.ts';
import type { AddonStore } from '../store/addon-store.ts';
import type { BackupStore, ScheduleRecord } from '../store/backup-store.ts';
import { newId, nowIso } from '../util/ids.ts';
import type { ScheduledRun } from './backup-service.ts';
import { DEFAULT_QUOTAS, type Quotas } from './quotas.ts';
import { shortestGapMinutes, timingOf } from './schedule-timing.ts';

export interface ScheduleServiceDeps {
  store: AddonStore;
  backups: BackupStore;
  runner: ScheduleRunner;
  target: Target;
  /** @default DEFAULT_QUOTAS */
  quotas?: Pick<Quotas, 'schedulesPerAddon' | 'minScheduleIntervalMinutes'>;
}

const toSchedule = ({ revision: _revision, ...schedule }: ScheduleRecord): Schedule => schedule;

const fieldsOf = (timing: ScheduleTiming) => ({
  interval: timing.interval,
  minutes: [...new Set(timing.minutes)].sort((a, b) => a - b),
  hours: timing.interval === 'hourly' ? null : [...new Set(timing.hours)].sort((a, b) => a - b),
  days: timing.interval === 'weekly' ? [...new Set(timing.days)] : null,
  retentionDays: timing.retentionDays,
});

export class ScheduleService {
  private readonly quotas: Pick<Quotas, 'schedulesPerAddon' | 'minScheduleIntervalMinutes'>;

  constructor(private readonly deps: ScheduleServiceDeps) {
    this.quotas = deps.quotas ?? DEFAULT_QUOTAS;
  }

  /**
   * The addon's enabled schedules, `candidate` in place of the one with its id, must fire at
   * least the minimum interval apart, all together: two hourly schedules at :00 and :15 are
   * 15 minutes apart however they are split.
   */
  private async checkInterval(candidate: ScheduleRecord): Promise<void> {
    if (!candidate.enabled) return;
    const others = await this.deps.backups.listSchedules(candidate.projectId, candidate.addonId);
    const timings = [...others.filter((other) => other.enabled && other.id !== candidate.id), candidate];
    const gap = shortestGapMinutes(timings.map(timingOf));
    const minimum = this.quotas.minScheduleIntervalMinutes;
    if (gap >= minimum) return;
    const message =
      timings.length > 1
        ? `with the addon's other enabled schedules, backups would be ${gap} minutes apart; the minimum is ${minimum}`
        : `backups would be ${gap} minutes apart; the minimum is ${minimum}`;
    throw new QuotaExceededError(
      `Scheduled backups of an addon must be at least ${minimum} minutes apart`,
      'min-schedule-interval-minutes',
      minimum,
      [{ path: 'body.minutes', message }],
    );
  }

  async create(projectId: string, addonId: string, request: CreateScheduleRequest): Promise<Schedule> {
    const addon = await this.deps.store.getAddon(projectId, addonId);
    const capabilities = capabilitiesOf(addon.engine, this.deps.target);
    if (!(request.type === 'dump' ? capabilities.dumpBackup : capabilities.snapshotBackup)) {
      throw new UnsupportedError(`${request.type} backups are not supported for ${addon.engine} here`, [
        { path: 'body.type', message: `${request.type} backups are not supported for ${addon.engine} here` },
      ]);
    }
    const now = nowIso();
    const schedule: ScheduleRecord = {
      id: newId('sch'),
      projectId,
      addonId,
      ...fieldsOf(request),
      type: request.type,
      compression: request.compression,
      enabled: request.enabled,
      lastRun: null,
      createdAt: now,
      updatedAt: now,
      revision: 1,
    };
    await this.checkInterval(schedule);
    const limit = this.quotas.schedulesPerAddon;
    if (!(await this.deps.backups.takeScheduleQuota(projectId, addonId, limit))) {
      throw new QuotaExceededError(
        `An addon can have at most ${limit} backup schedules; delete one first`,
        'schedules-per-addon',
        limit,
        [{ path: 'addonId', message: `at most ${limit} backup schedules per addon` }],
      );
    }
    try {
      await this.deps.backups.putSchedule(schedule);
    } catch (error) {
      await this.deps.backups.giveScheduleQuota(projectId, addonId);
      throw error;
    }
    try {
      // Again once written: a concurrent create checked without seeing this one. If both
      // conflict, both are removed (and both callers told), never both kept.
      await this.checkInterval(schedule);
      await this.deps.runner.upsert(toSchedule(schedule));
    } catch (error) {
      await this.deps.backups.deleteSchedule(projectId, addonId, schedule.id);
      throw error;
    }
    return toSchedule(schedule);
  }

  async list(projectId: string, addonId: string): Promise<Schedule[]> {
    await this.deps.store.getAddon(projectId, addonId);
    return (await this.deps.backups.listSchedules(projectId, addonId)).map(toSchedule);
  }

  /** A partial update, re-validated as a whole: a longer interval may allow a longer retention and vice versa. */
  async update(
    projectId: string,
    addonId: string,
    scheduleId: string,
    patch: Partial<CreateScheduleRequest> & Record<string, unknown>,
  ): Promise<Schedule> {
    const current = await this.deps.backups.getSchedule(projectId, addonId, scheduleId);
    const { type, compression, enabled, ...timingPatch } = patch;
    const merged = { ...timingOf(current), ...timingPatch };
    const interval = merged.interval;
    const candidate = {
      interval,
      minutes: merged.minutes,
      retentionDays: merged.retentionDays,
      ...(interval !== 'hourly'
        ? { hours: (merged as { hours?: number[] }).hours ?? current.hours ?? undefined }
        : {}),
      ...(interval === 'weekly'
        ? { days: (merged as { days?: string[] }).days ?? current.days ?? undefined }
        : {}),
    };
    const parsed = ScheduleTimingSchema.safeParse(candidate);
    if (!parsed.success)
      throw new ValidationError('The updated schedule is not valid', issuesOf(parsed.error, 'body'));
    const next: ScheduleRecord = {
      ...current,
      ...fieldsOf(parsed.data),
      type: type ?? current.type,
      compression: compression ?? current.compression,
      enabled: enabled ?? current.enabled,
      updatedAt: nowIso(),
    };
    await this.checkInterval(next);
    await this.deps.backups.replaceSchedule(next, current.revision);
    await this.deps.runner.upsert(toSchedule(next));
    return toSchedule(next);
  }

  async delete(projectId: string, addonId: string, scheduleId: string): Promise<void> {
    const schedule = await this.deps.backups.getSchedule(projectId, addonId, scheduleId);
    await this.deps.runner.remove(schedule);
    await this.deps.backups.deleteSchedule(projectId, addonId, scheduleId);
  }

  /**
   * Remember what the last firing did (started, or skipped because an operation was in flight).
   * Two deliveries of one firing may race here: the one that started the backup wins, and a
   * lost optimistic write is read again rather than failing the run.
   */
  async recordRun(
    schedule: Schedule,
    run: Exclude<ScheduledRun, { outcome: 'duplicate' }> | { outcome: 'failed-to-start'; reason: string },
    at: Date,
  ) {
    for (let attempt = 0; ; attempt++) {
      const current = await this.deps.backups.findSchedule(schedule.projectId, schedule.addonId, schedule.id);
      if (!current) return;
      const last = current.lastRun;
      if (last?.at === at.toISOString() && last.outcome === 'started' && run.outcome !== 'started') return;
      try {
        await this.deps.backups.replaceSchedule(
          {
            ...current,
            lastRun: {
              at: at.toISOString(),
              outcome: run.outcome,
              backupId: run.outcome === 'started' ? run.backupId : null,
              reason: run.outcome === 'started' ? null : run.reason,
            },
          },
          current.revision,
        );
        return;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= 2) throw error;
      }
    }
  }
}
