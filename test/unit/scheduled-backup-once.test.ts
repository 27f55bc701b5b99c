import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunBackupHandler } from '#functions/schedule/run-backup.ts';
import { TransientError } from '#shared/errors.ts';
import type { ScheduleRunner } from '#shared/ports/schedule-runner.ts';
import { BackupService, scheduledBackupId } from '#shared/services/backup-service.ts';
import { ScheduleService } from '#shared/services/schedule-service.ts';
import type { BackupStore } from '#shared/store/backup-store.ts';
import { newId } from '#shared/util/ids.ts';
import { refusingSnapshots, snapshotDeleters, unreachableArtifacts } from '../support/backups.ts';
import { startTestStore } from '../support/dynamo.ts';
import { context } from '../support/events.ts';
import { addonRecord, operation, scheduleRecord } from '../support/fixtures.ts';
import { RecordingStarter } from '../support/recording-starter.ts';

const refuse = () => Promise.reject(new Error('not in this test'));
const runner: ScheduleRunner = { upsert: refuse, remove: refuse };

let env: Awaited<ReturnType<typeof startTestStore>>;
let backups: BackupStore;
beforeAll(async () => {
  env = await startTestStore();
  backups = env.backups;
});
afterAll(async () => env?.stop());

/** A running addon with an hourly schedule, and run-backup as deployed around them. */
const world = async () => {
  const addon = addonRecord({ projectId: 'proj-once', name: `db-${newId('x').slice(-8)}` });
  const op = operation({ addonId: addon.id, projectId: 'proj-once' });
  await env.store.createAddon({ ...addon, currentOperationId: op.id }, op);
  await env.store.updateAddonForOperation(addon, op.id, { status: 'running' }, { release: true });
  const schedule = scheduleRecord({
    projectId: 'proj-once',
    addonId: addon.id,
    interval: 'hourly',
    hours: null,
    retentionDays: 1,
  });
  await backups.putSchedule(schedule);
  const starter = new RecordingStarter();
  const backupService = new BackupService({
    store: env.store,
    backups,
    workflows: starter,
    artifacts: unreachableArtifacts(),
    snapshotDeleters: snapshotDeleters(refusingSnapshots('not in this test')),
    target: 'aws',
  });
  const runBackup = createRunBackupHandler({
    logger: new Logger({ logLevel: 'SILENT' }),
    backups: backupService,
    schedules: new ScheduleService({ store: env.store, backups, runner, target: 'aws' }),
    store: backups,
  });
  const fire = (scheduledTime: string) =>
    runBackup(
      { projectId: 'proj-once', addonId: addon.id, scheduleId: schedule.id, scheduledTime },
      context(),
    );
  /** What the backup workflow does at the end: the addon is free again. */
  const finish = async () => {
    const current = await env.store.getAddon('proj-once', addon.id);
    if (current.currentOperationId)
      await env.store.updateAddonForOperation(
        current,
        current.currentOperationId,
        { status: 'running' },
        { release: true },
      );
  };
  return { addon, schedule, starter, fire, finish };
};

describe('a schedule firing creates at most one backup', () => {
  it('ignores a second delivery of the same firing, even once the first backup has finished', async () => {
    // Prepare
    const { addon, schedule, starter, fire, finish } = await world();
    const first = await fire('2026-11-30T10:00:00Z');
    await finish();

    // Act
    const second = await fire('2026-11-30T10:00:00Z');

    // Assess
    const backupId = scheduledBackupId(schedule.id, new Date('2026-11-30T10:00:00Z'));
    expect(first).toEqual({ outcome: 'started', backupId });
    expect(second).toEqual({ outcome: 'duplicate', backupId });
    expect(starter.started).toHaveLength(1);
    const listed = await backups.listBackups('proj-once', addon.id, { limit: 10 });
    expect(listed.items.map((backup) => backup.id)).toEqual([backupId]);
    expect((await backups.getSchedule('proj-once', addon.id, schedule.id)).lastRun).toMatchObject({
      outcome: 'started',
      backupId,
    });
  });

  it('creates one backup when two deliveries of a firing arrive at once', async () => {
    // Prepare
    const { addon, starter, fire } = await world();

    // Act
    const outcomes = await Promise.all([fire('2026-11-30T11:00:00Z'), fire('2026-11-30T11:00:00.000Z')]);

    // Assess
    expect(outcomes.filter((outcome) => outcome.outcome === 'started')).toHaveLength(1);
    expect(starter.started).toHaveLength(1);
    expect((await backups.listBackups('proj-once', addon.id, { limit: 10 })).items).toHaveLength(1);
  });

  it('gives the next firing a backup of its own', async () => {
    // Prepare
    const { addon, fire, finish } = await world();
    await fire('2026-11-30T12:00:00Z');
    await finish();

    // Act
    const next = await fire('2026-11-30T13:00:00Z');

    // Assess
    expect(next).toMatchObject({ outcome: 'started' });
    expect((await backups.listBackups('proj-once', addon.id, { limit: 10 })).items).toHaveLength(2);
  });

  it('resumes a firing whose start was throttled under the same execution name: one execution, one backup', async () => {
    // Prepare: Step Functions throttles the first delivery's start (after the SDK's retries).
    const { addon, schedule, starter, fire } = await world();
    const start = starter.start.bind(starter);
    let throttle = true;
    starter.start = async (run) => {
      if (throttle)
        throw new TransientError('AWS throttled or failed while calling Step Functions; retrying');
      return start(run);
    };
    const backupId = scheduledBackupId(schedule.id, new Date('2026-11-30T14:00:00Z'));

    // Act: the first delivery throws (Lambda retries the event); the retry gets through.
    await expect(fire('2026-11-30T14:00:00Z')).rejects.toThrow(TransientError);
    const waiting = await env.store.getAddon('proj-once', addon.id);
    throttle = false;
    const retried = await fire('2026-11-30T14:00:00Z');
    const again = await fire('2026-11-30T14:00:00Z');

    // Assess
    expect(retried).toEqual({ outcome: 'started', backupId });
    expect(waiting.currentOperationId).not.toBeNull();
    expect(starter.started.map((run) => run.input.operationId)).toEqual([
      waiting.currentOperationId,
      waiting.currentOperationId,
    ]);
    expect(new Set(starter.started.map((run) => (run.input as { backupId?: string }).backupId))).toEqual(
      new Set([backupId]),
    );
    expect(again).toMatchObject({ backupId });
    expect((await backups.listBackups('proj-once', addon.id, { limit: 10 })).items).toHaveLength(1);
  });
});
