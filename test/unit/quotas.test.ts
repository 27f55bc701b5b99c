import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddonsHandler } from '#functions/api/addons.ts';
import { createBackupsHandler } from '#functions/api/backups.ts';
import { loadLocalConfig } from '#infra/local/config.ts';
import { routes } from '#shared/api/routes.ts';
import type { ScheduleRunner } from '#shared/ports/schedule-runner.ts';
import type { WorkflowStarter } from '#shared/ports/workflow-starter.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import { DEFAULT_QUOTAS } from '#shared/services/quotas.ts';
import { ScheduleService } from '#shared/services/schedule-service.ts';
import { BackupStore } from '#shared/store/backup-store.ts';
import { QuotaCounters } from '#shared/store/quota-counters.ts';
import { keys } from '#shared/store/table.ts';
import { newId } from '#shared/util/ids.ts';
import { unreachableArtifacts } from '../support/backups.ts';
import { testCursors } from '../support/cursors.ts';
import { startTestStore, TEST_TABLE } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { addonRecord, operation } from '../support/fixtures.ts';

const logger = new Logger({ logLevel: 'SILENT' });
const starter: WorkflowStarter = { start: async () => undefined, stop: async () => undefined };
const runner: ScheduleRunner = { upsert: async () => undefined, remove: async () => undefined };

let env: Awaited<ReturnType<typeof startTestStore>>;
let documentClient: DynamoDBDocumentClient;
let backupStore: BackupStore;

beforeAll(async () => {
  env = await startTestStore();
  documentClient = DynamoDBDocumentClient.from(env.dynamoClient, {
    marshallOptions: { removeUndefinedValues: true },
  });
  backupStore = new BackupStore({ client: documentClient, tableName: TEST_TABLE });
});
afterAll(async () => env.stop());

const addonsHandler = (addonsPerProject: number) =>
  createAddonsHandler({
    logger,
    service: new AddonService({
      store: env.store,
      workflows: starter,
      target: 'local',
      quotas: { addonsPerProject },
    }),
    cursors: testCursors(),
  });

const backupsHandler = (quotas: { schedulesPerAddon: number; minScheduleIntervalMinutes: number }) =>
  createBackupsHandler({
    logger,
    cursors: testCursors(),
    backups: new BackupService({
      store: env.store,
      backups: backupStore,
      workflows: starter,
      artifacts: unreachableArtifacts(),
      snapshotDeleters: {} as never,
      target: 'local',
    }),
    schedules: new ScheduleService({
      store: env.store,
      backups: backupStore,
      runner,
      target: 'local',
      quotas,
    }),
  });

const createAddon = (handler: ReturnType<typeof addonsHandler>, projectId: string, name: string) =>
  handler(
    apiEvent(routes.createAddon, { pathParameters: { projectId }, body: { name, engine: 'postgresql' } }),
    context(),
  );

/** A running addon in `projectId`, written straight to the store. */
const runningAddon = async (projectId: string) => {
  const addon = addonRecord({ projectId, name: `db-${newId('x').slice(-8)}` });
  const op = operation({ addonId: addon.id, projectId });
  await env.store.createAddon({ ...addon, currentOperationId: op.id }, op);
  await env.store.updateAddonForOperation(addon, op.id, { status: 'running' }, { release: true });
  return addon;
};

const createSchedule = (
  handler: ReturnType<typeof backupsHandler>,
  addon: { projectId: string; id: string },
  body: Record<string, unknown>,
) =>
  handler(
    apiEvent(routes.createBackupSchedule, {
      pathParameters: { projectId: addon.projectId, addonId: addon.id },
      body: { retentionDays: 7, ...body },
    }),
    context(),
  );

describe('addons per project', () => {
  it('refuses the addon past the quota with a 422 that names the quota and its value', async () => {
    const handler = addonsHandler(2);
    expect((await createAddon(handler, 'quota-a', 'one')).statusCode).toBe(202);
    expect((await createAddon(handler, 'quota-a', 'two')).statusCode).toBe(202);

    const refused = await createAddon(handler, 'quota-a', 'three');

    expect(refused.statusCode).toBe(422);
    expect(refused.headers?.['content-type']).toBe('application/problem+json');
    const problem = json(refused);
    expect(problem).toMatchObject({ quota: 'addons-per-project', limit: 2, status: 422 });
    expect(problem.errors).toEqual([{ path: 'projectId', message: 'at most 2 addons per project' }]);
    // Other projects have their own quota.
    expect((await createAddon(handler, 'quota-a-other', 'three')).statusCode).toBe(202);
  });

  it('gives the unit back when an addon is deleted, and when its create fails', async () => {
    const handler = addonsHandler(2);
    const first = json(await createAddon(handler, 'quota-b', 'one'));
    // A name conflict fails the create after its unit was taken: the unit must come back.
    expect((await createAddon(handler, 'quota-b', 'one')).statusCode).toBe(409);
    expect((await createAddon(handler, 'quota-b', 'two')).statusCode).toBe(202);
    expect((await createAddon(handler, 'quota-b', 'three')).statusCode).toBe(422);

    await env.store.deleteAddon(first.addon, first.operation.id);

    expect((await createAddon(handler, 'quota-b', 'three')).statusCode).toBe(202);
  });

  it('lets exactly the quota through when creates race', async () => {
    const handler = addonsHandler(3);

    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => createAddon(handler, 'quota-race', `db-${i}`)),
    );

    const statuses = answers.map((answer) => answer.statusCode).sort();
    expect(statuses).toEqual([202, 202, 202, 422, 422, 422, 422, 422]);
    const listed = await env.store.listAddons('quota-race', { limit: 100 });
    expect(listed.items).toHaveLength(3);
  });

  it('counts the addons that existed before the counter did', async () => {
    await runningAddon('quota-old');
    await runningAddon('quota-old');

    const refused = await createAddon(addonsHandler(2), 'quota-old', 'third');

    expect(refused.statusCode).toBe(422);
  });
});

describe('quota counters after a crash', () => {
  it('recounts a full counter that has been quiet for 30 s, so a leaked unit comes back', async () => {
    const counters = new QuotaCounters({ client: documentClient, tableName: TEST_TABLE });
    const key = keys.quota('quota-leak', 'addons');
    const counted = { pk: 'PROJECT#quota-leak', skPrefix: 'ADDON#' };
    // Two units taken for addons that were never written (the process died in between).
    expect(await counters.take(key, 2, counted, 1_000)).toBe(true);
    expect(await counters.take(key, 2, counted, 1_000)).toBe(true);

    const tooSoon = await counters.take(key, 2, counted, 20_000);
    const settled = await counters.take(key, 2, counted, 32_000);

    expect(tooSoon).toBe(false);
    expect(settled).toBe(true);
  });
});

describe('schedules per addon', () => {
  it('refuses the schedule past the quota, and takes one again after a delete', async () => {
    const handler = backupsHandler({ schedulesPerAddon: 2, minScheduleIntervalMinutes: 60 });
    const addon = await runningAddon('quota-s');
    const first = await createSchedule(handler, addon, { interval: 'daily', hours: [1], minutes: [0] });
    expect(first.statusCode).toBe(201);
    expect(
      (await createSchedule(handler, addon, { interval: 'daily', hours: [5], minutes: [0] })).statusCode,
    ).toBe(201);

    const refused = await createSchedule(handler, addon, { interval: 'daily', hours: [9], minutes: [0] });

    expect(refused.statusCode).toBe(422);
    expect(json(refused)).toMatchObject({ quota: 'schedules-per-addon', limit: 2 });
    const removed = await handler(
      apiEvent(routes.deleteBackupSchedule, {
        pathParameters: { projectId: addon.projectId, addonId: addon.id, scheduleId: json(first).id },
      }),
      context(),
    );
    expect(removed.statusCode).toBe(204);
    expect(
      (await createSchedule(handler, addon, { interval: 'daily', hours: [9], minutes: [0] })).statusCode,
    ).toBe(201);
  });
});

describe('minimum interval between scheduled backups', () => {
  const handler = () => backupsHandler({ schedulesPerAddon: 10, minScheduleIntervalMinutes: 60 });

  it('refuses an hourly schedule at minutes 0 and 15: backups 15 minutes apart', async () => {
    const addon = await runningAddon('quota-i');

    const refused = await createSchedule(handler(), addon, { interval: 'hourly', minutes: [0, 15] });

    expect(refused.statusCode).toBe(422);
    const problem = json(refused);
    expect(problem).toMatchObject({ quota: 'min-schedule-interval-minutes', limit: 60 });
    expect(problem.errors).toEqual([
      { path: 'body.minutes', message: 'backups would be 15 minutes apart; the minimum is 60' },
    ]);
  });

  it("counts the addon's enabled schedules together, and not the disabled ones", async () => {
    const addon = await runningAddon('quota-j');
    expect(
      (await createSchedule(handler(), addon, { interval: 'daily', hours: [3], minutes: [0] })).statusCode,
    ).toBe(201);

    const together = await createSchedule(handler(), addon, { interval: 'daily', hours: [3], minutes: [30] });
    const disabled = await createSchedule(handler(), addon, {
      interval: 'daily',
      hours: [3],
      minutes: [30],
      enabled: false,
    });

    expect(together.statusCode).toBe(422);
    expect(json(together).errors[0].message).toContain('30 minutes apart');
    expect(disabled.statusCode).toBe(201);
    const enabling = await handler()(
      apiEvent(routes.updateBackupSchedule, {
        pathParameters: { projectId: addon.projectId, addonId: addon.id, scheduleId: json(disabled).id },
        body: { enabled: true },
      }),
      context(),
    );
    expect(enabling.statusCode).toBe(422);
  });

  it('accepts an hourly schedule at minute 0: exactly the minimum', async () => {
    const addon = await runningAddon('quota-k');

    const created = await createSchedule(handler(), addon, { interval: 'hourly', minutes: [0] });

    expect(created.statusCode).toBe(201);
  });
});

describe('configuration', () => {
  it('defaults to quotas a small team accepts, and takes each from the environment', () => {
    const defaults = loadLocalConfig({});
    const configured = loadLocalConfig({
      ADDONS_MAX_ADDONS_PER_PROJECT: '3',
      ADDONS_MAX_SCHEDULES_PER_ADDON: '4',
      ADDONS_MIN_SCHEDULE_INTERVAL_MINUTES: '5',
      ADDONS_RATE_LIMIT_PER_SECOND: '6',
      ADDONS_RATE_LIMIT_BURST: '7',
      ADDONS_CORS_ORIGINS: 'https://a.example, https://b.example',
    });

    expect(defaults.quotas).toEqual({
      addonsPerProject: 25,
      schedulesPerAddon: 10,
      minScheduleIntervalMinutes: 60,
    });
    expect(defaults.quotas).toEqual(DEFAULT_QUOTAS);
    expect(defaults.rateLimit).toEqual({ perSecond: 50, burst: 100 });
    expect(defaults.corsOrigins).toEqual([]);
    expect(configured.quotas).toEqual({
      addonsPerProject: 3,
      schedulesPerAddon: 4,
      minScheduleIntervalMinutes: 5,
    });
    expect(configured.rateLimit).toEqual({ perSecond: 6, burst: 7 });
    expect(configured.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
  });

  it('refuses a quota that is not a positive whole number, naming the variable', () => {
    expect(() => loadLocalConfig({ ADDONS_MAX_ADDONS_PER_PROJECT: '0' })).toThrow(
      /ADDONS_MAX_ADDONS_PER_PROJECT/,
    );
    expect(() => loadLocalConfig({ ADDONS_MIN_SCHEDULE_INTERVAL_MINUTES: 'often' })).toThrow(
      /ADDONS_MIN_SCHEDULE_INTERVAL_MINUTES/,
    );
  });
});
