import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBackupsHandler } from '#functions/api/backups.ts';
import { routes } from '#shared/api/routes.ts';
import type { SnapshotProvider } from '#shared/ports/engine-provider.ts';
import type { ScheduleRunner } from '#shared/ports/schedule-runner.ts';
import type { Schedule } from '#shared/schemas/backup.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import { ScheduleService } from '#shared/services/schedule-service.ts';
import type { BackupRecord, BackupStore } from '#shared/store/backup-store.ts';
import { newId, nowIso } from '#shared/util/ids.ts';
import { snapshotDeleters, unreachableArtifacts } from '../support/backups.ts';
import { testCursors } from '../support/cursors.ts';
import { startTestStore } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { addonRecord, dumpBackupRecord, operation } from '../support/fixtures.ts';
import { RecordingStarter } from '../support/recording-starter.ts';

class RecordingScheduleRunner implements ScheduleRunner {
  upserts: Schedule[] = [];
  removed: string[] = [];
  async upsert(schedule: Schedule) {
    this.upserts.push(schedule);
  }
  async remove(schedule: Pick<Schedule, 'id'>) {
    this.removed.push(schedule.id);
  }
}
const snapshots: SnapshotProvider = {
  createSnapshot: async () => undefined,
  describeSnapshot: async () => ({ status: 'available', sizeBytes: 1 }),
  deleteSnapshot: async () => undefined,
  restoreSnapshot: async () => undefined,
  discardRestore: async () => 'discarded',
  describeRestore: async () => ({ status: 'available' }),
};

let env: Awaited<ReturnType<typeof startTestStore>>;
let backupStore: BackupStore;
let starter: RecordingStarter;
let scheduleRunner: RecordingScheduleRunner;
let handler: ReturnType<typeof createBackupsHandler>;

beforeAll(async () => {
  env = await startTestStore();
  backupStore = env.backups;
});
afterAll(async () => env.stop());
beforeEach(() => {
  starter = new RecordingStarter();
  scheduleRunner = new RecordingScheduleRunner();
  // Error paths never reach S3; a client pointed nowhere proves it.
  const artifacts = unreachableArtifacts();
  handler = createBackupsHandler({
    logger: new Logger({ logLevel: 'SILENT' }),
    backups: new BackupService({
      store: env.store,
      backups: backupStore,
      workflows: starter,
      artifacts,
      snapshotDeleters: snapshotDeleters(snapshots),
      target: 'local',
    }),
    schedules: new ScheduleService({
      store: env.store,
      backups: backupStore,
      runner: scheduleRunner,
      target: 'local',
    }),
    cursors: testCursors(),
  });
});

/** A running addon, as the provision workflow leaves it. */
const runningAddon = async (overrides: Parameters<typeof addonRecord>[0] = {}) => {
  const addon = addonRecord({ projectId: 'proj-b', name: `db-${newId('x').slice(-8)}`, ...overrides });
  const op = operation({ addonId: addon.id, projectId: 'proj-b' });
  await env.store.createAddon({ ...addon, currentOperationId: op.id }, op);
  await env.store.updateAddonForOperation(addon, op.id, { status: 'running' }, { release: true });
  return addon;
};

const finishedBackup = async (addonId: string, overrides: Partial<BackupRecord> = {}) => {
  const backup = dumpBackupRecord({ projectId: 'proj-b', addonId, sizeBytes: 100, ...overrides });

  await backupStore.putBackup(backup);
  return backup;
};

const call = (
  route: Parameters<typeof apiEvent>[0],
  pathParameters: Record<string, string>,
  body?: unknown,
) =>
  handler(apiEvent(route, { pathParameters: { projectId: 'proj-b', ...pathParameters }, body }), context());

const problemOf = (response: { statusCode?: number; body?: string }, status: number) => {
  expect(response.statusCode).toBe(status);
  return json(response) as { errors?: Array<{ path: string }>; detail: string; operationId?: string };
};

describe('backups API', () => {
  it('starts a dump backup: 202, the backup pending with its operation, addon locked', async () => {
    const addon = await runningAddon();
    const response = await call(
      routes.createBackup,
      { addonId: addon.id },
      { type: 'dump', compression: 'gzip' },
    );
    expect(response.statusCode).toBe(202);
    const { backup, operation: op } = json(response);
    expect(backup).toMatchObject({
      type: 'dump',
      compression: 'gzip',
      status: 'pending',
      source: 'manual',
      engineVersion: '15',
    });
    expect(op).toMatchObject({ type: 'backup', backupId: backup.id });
    expect(starter.started[0]).toEqual({
      workflow: 'backup-addon',
      input: { projectId: 'proj-b', addonId: addon.id, operationId: op.id, backupId: backup.id },
    });
    // A second one while the first runs: 409 naming the operation in flight.
    const second = problemOf(await call(routes.createBackup, { addonId: addon.id }, { type: 'dump' }), 409);
    expect(second.operationId).toBe(op.id);
  });

  it('rejects an unknown backup type or compression with a 400 naming the field', async () => {
    const addon = await runningAddon();
    expect(
      problemOf(await call(routes.createBackup, { addonId: addon.id }, { type: 'tape' }), 400).errors?.[0]
        ?.path,
    ).toBe('body.type');
    const bad = problemOf(
      await call(routes.createBackup, { addonId: addon.id }, { type: 'dump', compression: 'lz4' }),
      400,
    );
    expect(bad.errors?.[0]?.path).toBe('body.compression');
  });

  it('refuses to download a snapshot (422) or an unfinished dump (409)', async () => {
    const addon = await runningAddon();
    const snapshot = await finishedBackup(addon.id, {
      type: 'snapshot',
      compression: null,
      artifact: null,
      snapshotId: 's',
    });
    expect(
      problemOf(await call(routes.downloadBackup, { addonId: addon.id, backupId: snapshot.id }), 422).detail,
    ).toMatch(/cannot be downloaded/);
    const running = await finishedBackup(addon.id, { status: 'in-progress', sha256: null, sizeBytes: null });
    problemOf(await call(routes.downloadBackup, { addonId: addon.id, backupId: running.id }), 409);
  });

  it("refuses to restore a failed backup (409), another addon's (422) or a newer major (422)", async () => {
    const addon = await runningAddon();
    const other = await runningAddon();
    const failed = await finishedBackup(addon.id, { status: 'failed' });
    problemOf(await call(routes.restoreBackup, { addonId: addon.id, backupId: failed.id }), 409);
    const foreign = await finishedBackup(other.id);
    expect(
      problemOf(await call(routes.restoreBackup, { addonId: addon.id, backupId: foreign.id }), 422).detail,
    ).toMatch(/fork/);
    const newer = await finishedBackup(addon.id, { engineVersion: '16' });
    problemOf(await call(routes.restoreBackup, { addonId: addon.id, backupId: newer.id }), 422);
    expect(starter.started).toHaveLength(0);
  });

  it("refuses a backup of another engine (422 naming backupId), even the addon's own record", async () => {
    const addon = await runningAddon();
    const mysql = await finishedBackup(addon.id, { engine: 'mysql', engineVersion: '8.0' });
    const problem = problemOf(
      await call(routes.restoreBackup, { addonId: addon.id, backupId: mysql.id }),
      422,
    );
    expect(problem.detail).toMatch(/MySQL backup.*PostgreSQL addon/);
    expect(problem.errors).toEqual([expect.objectContaining({ path: 'backupId' })]);
    expect(starter.started).toHaveLength(0);
  });

  it('restores a completed backup as an operation that holds the addon', async () => {
    const addon = await runningAddon();
    const backup = await finishedBackup(addon.id);
    const response = await call(routes.restoreBackup, { addonId: addon.id, backupId: backup.id });
    expect(response.statusCode).toBe(202);
    expect(json(response).operation).toMatchObject({ type: 'restore', backupId: backup.id });
    expect((await env.store.getAddon('proj-b', addon.id)).status).toBe('restoring');
  });

  it('refuses to delete a running backup (409) and aborts it instead', async () => {
    const addon = await runningAddon();
    const created = json(await call(routes.createBackup, { addonId: addon.id }, { type: 'snapshot' }));
    const params = { addonId: addon.id, backupId: created.backup.id };
    problemOf(await call(routes.deleteBackup, params), 409);
    const aborted = await call(routes.abortBackup, params);
    expect(json(aborted)).toMatchObject({ status: 'aborted' });
    expect(starter.stopped).toEqual([created.operation.id]);
    expect(await env.store.getAddon('proj-b', addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
    expect((await env.store.getOperation('proj-b', created.operation.id)).status).toBe('aborted');
    problemOf(await call(routes.abortBackup, params), 409);
    expect((await call(routes.deleteBackup, params)).statusCode).toBe(204);
    problemOf(await call(routes.getBackup, params), 404);
  });

  it('pins a backup, which takes it out of retention', async () => {
    const addon = await runningAddon();
    const backup = await finishedBackup(addon.id, { expiresAt: '2000-01-01T00:00:00.000Z' });
    expect((await backupStore.listExpiredBackups(nowIso())).items.map((b) => b.id)).toContain(backup.id);
    const pinned = await call(
      routes.updateBackup,
      { addonId: addon.id, backupId: backup.id },
      { pinned: true },
    );
    expect(json(pinned).pinned).toBe(true);
    expect((await backupStore.listExpiredBackups(nowIso())).items.map((b) => b.id)).not.toContain(backup.id);
  });
});

describe('backup schedules API', () => {
  it('creates, lists, updates and deletes a schedule, keeping the runner in step', async () => {
    const addon = await runningAddon();
    const created = await call(
      routes.createBackupSchedule,
      { addonId: addon.id },
      {
        interval: 'daily',
        hours: [3],
        minutes: [0],
        retentionDays: 30,
      },
    );
    expect(created.statusCode).toBe(201);
    const schedule = json(created);
    expect(schedule).toMatchObject({
      interval: 'daily',
      hours: [3],
      minutes: [0],
      days: null,
      type: 'dump',
      compression: 'zstd',
    });
    expect(scheduleRunner.upserts.map((s) => s.id)).toEqual([schedule.id]);
    expect(json(await call(routes.listBackupSchedules, { addonId: addon.id })).items).toHaveLength(1);

    const params = { addonId: addon.id, scheduleId: schedule.id };
    const updated = await call(routes.updateBackupSchedule, params, {
      interval: 'weekly',
      days: ['sun'],
      retentionDays: 90,
    });
    expect(json(updated)).toMatchObject({ interval: 'weekly', days: ['sun'], hours: [3], retentionDays: 90 });
    // Back to hourly with a retention of 90 days: too long for hourly.
    const invalid = problemOf(await call(routes.updateBackupSchedule, params, { interval: 'hourly' }), 400);
    expect(invalid.errors?.map((e) => e.path)).toContain('body.retentionDays');

    expect((await call(routes.deleteBackupSchedule, params)).statusCode).toBe(204);
    expect(scheduleRunner.removed).toEqual([schedule.id]);
    problemOf(await call(routes.deleteBackupSchedule, params), 404);
  });

  it.each([
    [{ interval: 'hourly', minutes: [0], retentionDays: 8 }, 'body.retentionDays'],
    [{ interval: 'daily', hours: [1], minutes: [0], retentionDays: 61 }, 'body.retentionDays'],
    [
      { interval: 'weekly', days: ['mon'], hours: [1], minutes: [0], retentionDays: 121 },
      'body.retentionDays',
    ],
    [{ interval: 'daily', hours: [24], minutes: [0], retentionDays: 1 }, 'body.hours.0'],
    [{ interval: 'monthly', retentionDays: 1 }, 'body.interval'],
  ])('rejects %o with a 400 naming %s', async (body, path) => {
    const addon = await runningAddon();
    const problem = problemOf(await call(routes.createBackupSchedule, { addonId: addon.id }, body), 400);
    expect(problem.errors?.map((e) => e.path)).toContain(path);
  });
});
