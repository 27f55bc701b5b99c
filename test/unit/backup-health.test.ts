import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateBackupHealth } from '#shared/services/backup-health.ts';
import { BackupHealthMonitor } from '#shared/services/backup-health-monitor.ts';
import { newId } from '#shared/util/ids.ts';
import { startTestStore, TEST_TABLE } from '../support/dynamo.ts';
import { addonRecord, backupRecord, operation, scheduleRecord } from '../support/fixtures.ts';

const HOUR = 3_600_000;
const at = (iso: string) => new Date(iso);
const T0 = '2026-11-30T00:00:00.000Z';
const hoursAfter = (hours: number) => new Date(Date.parse(T0) + hours * HOUR).toISOString();

describe('evaluateBackupHealth', () => {
  const addonId = newId('adn');
  const schedule = scheduleRecord({
    projectId: 'p',
    addonId,
    interval: 'hourly',
    hours: null,
    createdAt: T0,
  });

  it('is null without an enabled schedule', () => {
    expect(evaluateBackupHealth([{ ...schedule, enabled: false }], [], at(hoursAfter(5)))).toBeNull();
  });

  it('is healthy with a recent success, and says when the schedule fires next', () => {
    const ok = backupRecord({ addonId, source: 'schedule', completedAt: hoursAfter(1) });
    const health = evaluateBackupHealth([schedule], [ok], at(hoursAfter(2)), {
      earliestRestorableTime: T0,
      latestRestorableTime: hoursAfter(2),
    });
    expect(health).toMatchObject({
      state: 'healthy',
      problems: [],
      lastSuccessfulBackup: { id: ok.id, completedAt: hoursAfter(1) },
      lastFailedScheduledBackup: null,
      nextScheduledRun: '2026-11-30T03:00:00.000Z',
      pointInTimeWindow: { earliestRestorableTime: T0 },
    });
  });

  it('is degraded when the newest scheduled backup failed, and recovers with the next success', () => {
    const ok = backupRecord({ addonId, source: 'schedule', completedAt: hoursAfter(1) });
    const error = { code: 'DumpFailed', message: 'pg_dump is not installed' };
    const failed = backupRecord({
      addonId,
      source: 'schedule',
      status: 'failed',
      error,
      completedAt: hoursAfter(2),
    });
    const degraded = evaluateBackupHealth([schedule], [failed, ok], at(hoursAfter(2)));
    expect(degraded?.state).toBe('degraded');
    expect(degraded?.problems.map((problem) => problem.code)).toEqual(['ScheduledBackupFailed']);
    expect(degraded?.lastFailedScheduledBackup).toEqual({ id: failed.id, at: hoursAfter(2), error });

    const later = backupRecord({ addonId, source: 'schedule', completedAt: hoursAfter(3) });
    expect(evaluateBackupHealth([schedule], [later, failed, ok], at(hoursAfter(3)))?.state).toBe('healthy');
  });

  it('is degraded when no backup succeeded within 1.5 intervals, counted from the schedule without one', () => {
    expect(evaluateBackupHealth([schedule], [], at(hoursAfter(1.4)))?.state).toBe('healthy');
    const late = evaluateBackupHealth([schedule], [], at(hoursAfter(1.6)));
    expect(late?.problems.map((problem) => problem.code)).toEqual(['BackupOverdue']);
    const ok = backupRecord({ addonId, completedAt: hoursAfter(1) });
    expect(evaluateBackupHealth([schedule], [ok], at(hoursAfter(2.4)))?.state).toBe('healthy');
    expect(evaluateBackupHealth([schedule], [ok], at(hoursAfter(2.6)))?.state).toBe('degraded');
  });

  it('counts a firing that failed to start as a failed scheduled backup', () => {
    const ok = backupRecord({ addonId, source: 'schedule', completedAt: hoursAfter(1) });
    const lastRun = {
      at: hoursAfter(2),
      outcome: 'failed-to-start' as const,
      backupId: null,
      reason: 'no table',
    };
    const health = evaluateBackupHealth([{ ...schedule, lastRun }], [ok], at(hoursAfter(2)));
    expect(health?.lastFailedScheduledBackup).toMatchObject({ id: null, at: hoursAfter(2) });
    expect(health?.problems.map((problem) => problem.code)).toEqual(['ScheduledBackupFailed']);
  });
});

describe('BackupHealthMonitor', () => {
  let env: Awaited<ReturnType<typeof startTestStore>>;
  beforeAll(async () => {
    env = await startTestStore();
  });
  afterAll(async () => env.stop());

  it('announces each change of state once, never a flood, and a healthy start silently', async () => {
    // Prepare: a running addon with an hourly schedule created at T0.
    const project = 'bh-mon';
    const addon = addonRecord({ projectId: project, name: 'ledger', status: 'running' });
    await env.store.createAddon(
      addon,
      operation({ projectId: project, addonId: addon.id, status: 'completed' }),
    );
    await env.backups.putSchedule(
      scheduleRecord({
        projectId: project,
        addonId: addon.id,
        interval: 'hourly',
        hours: null,
        createdAt: T0,
      }),
    );
    let now = at(hoursAfter(0.5));
    const monitor = new BackupHealthMonitor({
      client: env.documentClient,
      tableName: TEST_TABLE,
      store: env.store,
      backups: env.backups,
      events: env.store.events,
      now: () => now,
    });
    const healthEvents = async () =>
      (await env.store.events.list(project, { limit: 100 })).items.filter((event) =>
        event.type.startsWith('backup-health.'),
      );

    // Act and assess: healthy at first (nothing said), overdue after 1.5 hours, once.
    expect(await monitor.run()).toEqual([]);
    now = at(hoursAfter(2));
    expect(await monitor.run()).toEqual([{ addonId: addon.id, state: 'degraded' }]);
    expect(await monitor.run()).toEqual([]);
    await env.backups.putBackup(
      backupRecord({ projectId: project, addonId: addon.id, completedAt: hoursAfter(2) }),
    );
    expect(await monitor.run()).toEqual([{ addonId: addon.id, state: 'healthy' }]);
    expect(await monitor.run()).toEqual([]);

    const events = await healthEvents();
    expect(events.map((event) => event.type)).toEqual(['backup-health.degraded', 'backup-health.recovered']);
    expect(events[0]?.backupHealth).toMatchObject({
      state: 'degraded',
      problems: [{ code: 'BackupOverdue' }],
    });
  });
});
