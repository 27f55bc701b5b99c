import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertNotifier } from '#shared/services/alert-notifier.ts';
import { BackupHealthReader, evaluateBackupHealth } from '#shared/services/backup-health.ts';
import { BackupHealthAlerts } from '#shared/services/backup-health-alerts.ts';
import { BackupHealthMonitor } from '#shared/services/backup-health-monitor.ts';
import { type AlertRuleRecord, AlertStore } from '#shared/store/alert-store.ts';
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

describe('the point-in-time rule', () => {
  const addonId = newId('adn');
  const schedule = scheduleRecord({
    projectId: 'p',
    addonId,
    interval: 'hourly',
    hours: null,
    createdAt: T0,
  });
  const recent = backupRecord({ addonId, source: 'schedule', completedAt: hoursAfter(47.5) });
  const window = (fromHour: number) => ({
    earliestRestorableTime: hoursAfter(fromHour),
    latestRestorableTime: hoursAfter(48),
  });
  const problemsAt = (hours: number, win: ReturnType<typeof window> | null, since = T0) =>
    evaluateBackupHealth([schedule], [recent], at(hoursAfter(hours)), win, {
      retentionDays: 7,
      since,
      at: at(hoursAfter(hours)),
    })?.problems.map((problem) => problem.code);

  it('is quiet while the window reaches back as far as the addon is old, within a day of slack', () => {
    expect(problemsAt(48, window(0))).toEqual([]);
    expect(problemsAt(48, window(20))).toEqual([]);
  });

  it('reports a window that reaches back less than promised, and a missing one once two hours are due', () => {
    expect(problemsAt(48, window(30))).toEqual(['PointInTimeWindowShort']);
    expect(problemsAt(48, null)).toEqual(['PointInTimeWindowShort']);
    expect(problemsAt(1, null)).toEqual([]);
  });

  it('counts from the newest restore, which starts the window again', () => {
    expect(problemsAt(48, window(40.1), hoursAfter(40))).toEqual([]);
    expect(problemsAt(48, window(46), hoursAfter(40))).toEqual(['PointInTimeWindowShort']);
  });

  it('holds the window to the retention, not to the age, once the addon is older', () => {
    const day = 24;
    const old = (fromHour: number) =>
      evaluateBackupHealth(
        [schedule],
        [backupRecord({ addonId, completedAt: hoursAfter(10 * day) })],
        at(hoursAfter(10 * day)),
        {
          earliestRestorableTime: hoursAfter(fromHour),
          latestRestorableTime: hoursAfter(10 * day),
        },
        { retentionDays: 7, since: T0, at: at(hoursAfter(10 * day)) },
      )?.problems.map((problem) => problem.code);
    expect(old(3 * day)).toEqual([]);
    expect(old(5 * day)).toEqual(['PointInTimeWindowShort']);
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

  it('sends a change through the backup-health alert rules once: event, webhook and e-mail, then resolved', async () => {
    // Prepare: an addon with an hourly schedule, and a rule on backup.problems with a webhook and an e-mail.
    const project = 'bh-alerts';
    const addon = addonRecord({ projectId: project, name: 'orders', status: 'running' });
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
    const alerts = new AlertStore({ client: env.documentClient, tableName: TEST_TABLE });
    const stamp = new Date().toISOString();
    const rule: AlertRuleRecord = {
      id: newId('alr'),
      projectId: project,
      name: 'Backup health degraded',
      metric: 'backup.problems',
      unit: 'count',
      comparison: '>=',
      threshold: 1,
      durationSeconds: 0,
      addons: 'all',
      channels: { webhooks: [{ url: 'https://hooks.example.com/backups' }], emails: ['ops@example.com'] },
      enabled: true,
      isDefault: false,
      signingSecret: 'whsec_unit',
      signingSecretCreatedAt: stamp,
      createdAt: stamp,
      updatedAt: stamp,
      revision: 1,
    };
    await alerts.createRule(rule);
    const mailed: string[] = [];
    const notifier = new AlertNotifier({
      alerts,
      events: env.store.events,
      emails: { send: async (_rule, event) => void mailed.push(event.type) },
    });
    let now = at(hoursAfter(0.5));
    const monitor = new BackupHealthMonitor({
      client: env.documentClient,
      tableName: TEST_TABLE,
      store: env.store,
      backups: env.backups,
      events: env.store.events,
      alerts: new BackupHealthAlerts({ alerts, notifier }),
      now: () => now,
    });
    const alertEvents = async () =>
      (await env.store.events.list(project, { limit: 100 })).items.filter((event) =>
        event.type.startsWith('alert.'),
      );

    // Act: healthy, overdue (three runs), healthy again.
    await monitor.run();
    now = at(hoursAfter(2));
    await monitor.run();
    await monitor.run();
    await monitor.run();
    const firing = await alertEvents();
    await env.backups.putBackup(
      backupRecord({ projectId: project, addonId: addon.id, completedAt: hoursAfter(2) }),
    );
    await monitor.run();
    await monitor.run();

    // Assess: one firing, one resolved, each as event, queued webhook and e-mail.
    expect(firing.map((event) => [event.type, event.alert?.metric, event.alert?.value])).toEqual([
      ['alert.firing', 'backup.problems', 1],
    ]);
    expect((await alertEvents()).map((event) => event.type)).toEqual(['alert.firing', 'alert.resolved']);
    expect(mailed).toEqual(['alert.firing', 'alert.resolved']);
    const due = (await alerts.due(new Date(Date.now() + 60_000).toISOString())).filter(
      (delivery) => delivery.ruleId === rule.id,
    );
    expect(due.map((delivery) => [delivery.kind, delivery.target])).toEqual([
      ['firing', 'https://hooks.example.com/backups'],
      ['resolved', 'https://hooks.example.com/backups'],
    ]);
    expect((await alerts.findState(project, rule.id, addon.id))?.state).toBe('ok');
  });
});

describe('BackupHealthReader', () => {
  const project = 'p';
  const addon = addonRecord({ projectId: project, createdAt: T0 });
  const schedule = scheduleRecord({
    projectId: project,
    addonId: addon.id,
    interval: 'hourly',
    createdAt: T0,
  });
  const ok = backupRecord({ projectId: project, addonId: addon.id, completedAt: hoursAfter(1) });

  /** Store reads that wait until released, recording the order they were asked in. */
  const gatedReads = () => {
    const asked: string[] = [];
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const read =
      <T>(name: string, value: () => T) =>
      async () => {
        asked.push(name);
        await gate;
        return value();
      };
    return { asked, release: () => release(), read };
  };

  it('asks for the schedules before the addon is known, and the backups once they show one enabled', async () => {
    const { asked, release, read } = gatedReads();
    const reader = new BackupHealthReader({
      backups: {
        listSchedules: read('schedules', () => [schedule]),
        listBackups: read('backups', () => ({ items: [ok], nextCursor: null })),
      },
      now: () => at(hoursAfter(2)),
    });

    const finish = reader.begin(project, addon.id);
    expect(asked).toEqual(['schedules']); // before the caller has read the addon
    release();
    const health = await finish(addon, null);

    expect(asked).toEqual(['schedules', 'backups']);
    expect(health).toMatchObject({ state: 'healthy', lastSuccessfulBackup: { id: ok.id } });
  });

  it('asks for nothing more without an enabled schedule, and a dropped start leaves no unhandled failure', async () => {
    const { asked, release, read } = gatedReads();
    const reader = new BackupHealthReader({
      backups: {
        listSchedules: read('schedules', () => [{ ...schedule, enabled: false }]),
        listBackups: read('backups', () => ({ items: [], nextCursor: null })),
      },
    });
    release();
    expect(await reader.begin(project, addon.id)(addon, null)).toBeNull();
    expect(asked).toEqual(['schedules']);

    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const failing = new BackupHealthReader({
        backups: {
          listSchedules: async () => {
            throw new Error('table unavailable');
          },
          listBackups: async () => ({ items: [], nextCursor: null }),
        },
      });
      failing.begin(project, addon.id); // the caller's own read failed first (a 404): never finished
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });
});
