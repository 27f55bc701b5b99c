import { Logger } from '@aws-lambda-powertools/logger';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  UpdateScheduleCommand,
} from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRunBackupHandler } from '#functions/schedule/run-backup.ts';
import { createSweepHandler } from '#functions/schedule/sweep.ts';
import type { SnapshotProvider } from '#shared/ports/engine-provider.ts';
import type { ScheduleRunner } from '#shared/ports/schedule-runner.ts';
import { EventBridgeScheduleRunner } from '#shared/providers/aws/eventbridge-schedule-runner.ts';
import { type Schedule, ScheduleSchema } from '#shared/schemas/backup.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import { ScheduleService } from '#shared/services/schedule-service.ts';
import type { BackupStore } from '#shared/store/backup-store.ts';
import { newId, nowIso } from '#shared/util/ids.ts';
import { snapshotDeleters, unreachableArtifacts } from '../support/backups.ts';
import { startTestStore } from '../support/dynamo.ts';
import { context } from '../support/events.ts';
import { addonRecord, backupRecord, operation } from '../support/fixtures.ts';
import { RecordingStarter } from '../support/recording-starter.ts';

const $metadata = { httpStatusCode: 400 };
const region = { region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };

const schedule = (overrides: Partial<Schedule> = {}): Schedule =>
  ScheduleSchema.parse({
    id: 'sch-01jd0000000000000000000000',
    projectId: 'proj-a',
    addonId: 'adn-01jd0000000000000000000000',
    interval: 'weekly',
    days: ['mon', 'thu'],
    hours: [2],
    minutes: [30, 0],
    retentionDays: 30,
    type: 'dump',
    compression: 'zstd',
    enabled: true,
    lastRun: null,
    createdAt: nowIso(),
    updatedAt: nowIso(),
    ...overrides,
  });

describe('EventBridgeScheduleRunner', () => {
  const scheduler = mockClient(SchedulerClient);
  afterAll(() => scheduler.restore());
  beforeEach(() => scheduler.reset());
  const runner = new EventBridgeScheduleRunner({
    client: new SchedulerClient(region),
    groupName: 'Addons-backups',
    targetArn: 'arn:aws:lambda:eu-west-1:123456789012:function:run-backup',
    roleArn: 'arn:aws:iam::123456789012:role/scheduler',
    deadLetterArn: 'arn:aws:sqs:eu-west-1:123456789012:schedule-dead-letters',
  });
  const definition = (state: 'ENABLED' | 'DISABLED') => ({
    Name: 'sch-01jd0000000000000000000000',
    GroupName: 'Addons-backups',
    Description: 'weekly dump backup of addon adn-01jd0000000000000000000000 (project proj-a)',
    ScheduleExpression: 'cron(0,30 2 ? * MON,THU *)',
    ScheduleExpressionTimezone: 'UTC',
    // Spreads a fan-out of schedules due in the same minute (docs/performance.md).
    FlexibleTimeWindow: { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 4 },
    State: state,
    ActionAfterCompletion: 'NONE',
    Target: {
      Arn: 'arn:aws:lambda:eu-west-1:123456789012:function:run-backup',
      RoleArn: 'arn:aws:iam::123456789012:role/scheduler',
      Input: JSON.stringify({
        projectId: 'proj-a',
        addonId: 'adn-01jd0000000000000000000000',
        scheduleId: 'sch-01jd0000000000000000000000',
        // EventBridge Scheduler fills it in at each firing: the backup id derives from it.
        scheduledTime: '<aws.scheduler.scheduled-time>',
      }),
      RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
      DeadLetterConfig: { Arn: 'arn:aws:sqs:eu-west-1:123456789012:schedule-dead-letters' },
    },
  });

  it('creates one schedule per addon schedule, in UTC, with a 4-minute flexible window', async () => {
    scheduler.on(CreateScheduleCommand).resolves({ ScheduleArn: 'arn' });
    await runner.upsert(schedule());
    expect(scheduler.commandCalls(CreateScheduleCommand).map((call) => call.args[0].input)).toEqual([
      definition('ENABLED'),
    ]);
    expect(scheduler.commandCalls(UpdateScheduleCommand)).toHaveLength(0);
  });

  it('updates the schedule when it exists, and keeps a disabled one as DISABLED', async () => {
    scheduler.on(CreateScheduleCommand).rejects(
      new ConflictException({
        $metadata,
        message: 'Schedule already exists',
        Message: 'Schedule already exists',
      }),
    );
    scheduler.on(UpdateScheduleCommand).resolves({ ScheduleArn: 'arn' });
    await runner.upsert(schedule({ enabled: false }));
    expect(scheduler.commandCalls(UpdateScheduleCommand).map((call) => call.args[0].input)).toEqual([
      definition('DISABLED'),
    ]);
  });

  it('deletes idempotently', async () => {
    scheduler
      .on(DeleteScheduleCommand)
      .resolvesOnce({})
      .rejects(
        new ResourceNotFoundException({
          $metadata,
          message: 'Schedule not found',
          Message: 'Schedule not found',
        }),
      );
    await runner.remove(schedule());
    await runner.remove(schedule());
    expect(scheduler.commandCalls(DeleteScheduleCommand).map((call) => call.args[0].input)).toEqual([
      { Name: 'sch-01jd0000000000000000000000', GroupName: 'Addons-backups' },
      { Name: 'sch-01jd0000000000000000000000', GroupName: 'Addons-backups' },
    ]);
  });

  it('names AWS errors it cannot handle', async () => {
    scheduler.on(CreateScheduleCommand).rejects(
      new ResourceNotFoundException({
        $metadata,
        message: 'Schedule group Addons-backups does not exist',
        Message: 'Schedule group Addons-backups does not exist',
      }),
    );
    await expect(runner.upsert(schedule())).rejects.toMatchObject({
      name: 'ProviderError',
      message: expect.stringContaining('creating the backup schedule'),
    });
  });
});

describe('run-backup and sweep', () => {
  const deletedSnapshots: string[] = [];
  const snapshots: SnapshotProvider = {
    createSnapshot: async () => undefined,
    describeSnapshot: async () => ({ status: 'absent' }),
    deleteSnapshot: async (id) => {
      deletedSnapshots.push(id);
    },
    restoreSnapshot: async () => undefined,
    discardRestore: async () => 'discarded',
    describeRestore: async () => ({ status: 'available' }),
  };
  const refuse: ScheduleRunner = {
    upsert: () => Promise.reject(new Error('no')),
    remove: () => Promise.reject(new Error('no')),
  };
  let env: Awaited<ReturnType<typeof startTestStore>>;
  let backupStore: BackupStore;
  let starter: RecordingStarter;
  let services: { backups: BackupService; schedules: ScheduleService };
  const logger = new Logger({ logLevel: 'SILENT' });
  const now = new Date('2026-11-25T02:30:00.000Z');

  beforeAll(async () => {
    env = await startTestStore();
    backupStore = env.backups;
  });
  afterAll(async () => env.stop());
  beforeEach(() => {
    starter = new RecordingStarter();
    deletedSnapshots.length = 0;
    const backups = new BackupService({
      store: env.store,
      backups: backupStore,
      workflows: starter,
      artifacts: unreachableArtifacts(),
      snapshotDeleters: snapshotDeleters(snapshots),
      target: 'aws',
      now: () => now,
    });
    services = {
      backups,
      schedules: new ScheduleService({
        store: env.store,
        backups: backupStore,
        runner: refuse,
        target: 'aws',
      }),
    };
  });

  const runBackup = (event: unknown) =>
    createRunBackupHandler({ logger, ...services, store: backupStore, now: () => now })(event, context());

  const addonWithSchedule = async (overrides: Partial<Schedule> = {}, busy = false) => {
    const id = newId('adn');
    const create = operation({
      addonId: id,
      projectId: 'proj-a',
      status: busy ? 'in-progress' : 'completed',
    });
    const addon = addonRecord({
      id,
      projectId: 'proj-a',
      name: `sched-${id.slice(-8)}`,
      version: '17',
      status: busy ? 'creating' : 'running',
      currentOperationId: busy ? create.id : null,
    });
    await env.store.createAddon(addon, create);
    const saved = {
      ...schedule({ id: newId('sch'), addonId: addon.id, type: 'snapshot', ...overrides }),
      revision: 1,
    };
    await backupStore.putSchedule(saved);
    return { addon, schedule: saved };
  };

  it('starts the backup of the schedule and records it on the schedule', async () => {
    const { addon, schedule: saved } = await addonWithSchedule();
    const result = await runBackup({ projectId: 'proj-a', addonId: addon.id, scheduleId: saved.id });

    expect(result).toEqual({ outcome: 'started', backupId: expect.stringMatching(/^bkp-/) });
    expect(starter.started).toEqual([
      { workflow: 'backup-addon', input: expect.objectContaining({ addonId: addon.id }) },
    ]);
    const backupId = (result as { backupId: string }).backupId;
    expect(await backupStore.getBackup('proj-a', backupId)).toMatchObject({
      source: 'schedule',
      scheduleId: saved.id,
      type: 'snapshot',
      expiresAt: new Date(now.getTime() + 30 * 86_400_000).toISOString(),
    });
    expect((await backupStore.getSchedule('proj-a', addon.id, saved.id)).lastRun).toEqual({
      at: now.toISOString(),
      outcome: 'started',
      backupId,
      reason: null,
    });
  });

  it('records a skip, not an error, when an operation is in flight', async () => {
    const { addon, schedule: saved } = await addonWithSchedule({}, true);

    const result = await runBackup({ projectId: 'proj-a', addonId: addon.id, scheduleId: saved.id });

    expect(result).toMatchObject({ outcome: 'skipped', reason: expect.any(String) });
    expect(starter.started).toEqual([]);
    expect((await backupStore.getSchedule('proj-a', addon.id, saved.id)).lastRun).toMatchObject({
      outcome: 'skipped',
      backupId: null,
    });
  });

  it('does nothing for a schedule that is gone or disabled, and records a start that failed', async () => {
    expect(await runBackup({ projectId: 'proj-a', addonId: 'adn-gone', scheduleId: 'sch-gone' })).toEqual({
      outcome: 'no-schedule',
    });
    const disabled = await addonWithSchedule({ enabled: false });
    expect(
      await runBackup({ projectId: 'proj-a', addonId: disabled.addon.id, scheduleId: disabled.schedule.id }),
    ).toEqual({ outcome: 'disabled' });

    // The addon was deleted but its schedule record is still there.
    const orphan = { ...schedule({ id: newId('sch'), addonId: 'adn-deleted' }), revision: 1 };
    await backupStore.putSchedule(orphan);
    const result = await runBackup({ projectId: 'proj-a', addonId: 'adn-deleted', scheduleId: orphan.id });
    expect(result).toMatchObject({
      outcome: 'failed-to-start',
      reason: expect.stringContaining('adn-deleted'),
    });
    expect((await backupStore.getSchedule('proj-a', 'adn-deleted', orphan.id)).lastRun?.outcome).toBe(
      'failed-to-start',
    );
    expect(starter.started).toEqual([]);
  });

  it('rejects an event that is not a scheduled backup', async () => {
    await expect(runBackup({ projectId: 'proj-a' })).rejects.toThrow();
  });

  it('sweeps expired unpinned backups: data first, then the record', async () => {
    const { addon } = await addonWithSchedule();
    const swept = {
      addonId: addon.id,
      source: 'schedule',
      scheduleId: 'sch-x',
      operationId: 'op-x',
    } as const;
    const expired = backupRecord({ ...swept, completedAt: null, expiresAt: '2020-01-01T00:00:00.000Z' });
    const pinned = backupRecord({
      ...swept,
      completedAt: null,
      pinned: true,
      expiresAt: '2020-01-01T00:00:00.000Z',
    });
    const kept = backupRecord({ ...swept, completedAt: null, expiresAt: '2099-01-01T00:00:00.000Z' });
    for (const backup of [expired, pinned, kept]) {
      await backupStore.putBackup(backup);
    }

    const result = await createSweepHandler({ logger, backups: services.backups })({}, context());

    expect(result).toEqual({ deleted: 1, failed: [] });
    expect(deletedSnapshots).toEqual([`snap-${expired.id}`]);
    expect(await backupStore.findBackup('proj-a', expired.id)).toBeUndefined();
    expect(await backupStore.findBackup('proj-a', pinned.id)).toBeDefined();
    expect(await backupStore.findBackup('proj-a', kept.id)).toBeDefined();
  });
});
