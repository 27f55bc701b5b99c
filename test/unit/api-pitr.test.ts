import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAddonsHandler } from '#functions/api/addons.ts';
import { createBackupsHandler } from '#functions/api/backups.ts';
import { dynamoDbIdempotency } from '#shared/api/idempotency.ts';
import { routes } from '#shared/api/routes.ts';
import { EngineRegistry } from '#shared/engines/registry.ts';
import { pointInTimeKey, type RestorableWindow } from '#shared/ports/engine-provider.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import { PitrService, type RestorableWindowReader, toSecondsWindow } from '#shared/services/pitr-service.ts';
import { ScheduleService } from '#shared/services/schedule-service.ts';
import { workflowInputFor } from '#shared/services/workflow-inputs.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import { newId } from '#shared/util/ids.ts';
import { refusingSnapshots, snapshotDeleters, unreachableArtifacts } from '../support/backups.ts';
import { testCursors } from '../support/cursors.ts';
import { startTestStore, TEST_TABLE } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { addonRecord, operation } from '../support/fixtures.ts';
import { RecordingStarter } from '../support/recording-starter.ts';

/**
 * Point-in-time recovery through the API, on the AWS catalog (where PostgreSQL and MySQL offer
 * `pitr`): the window GET shows, and POST .../restore with its 202, 409, 422 and 400 answers. The
 * window comes from a reader standing in for RDS (its own tests: aws-rds-pitr.test.ts).
 */

const PROJECT = 'proj-pitr';
const logger = new Logger({ logLevel: 'SILENT' });
/** What the reader reports: sub-second edges, as RDS does. */
const RAW_WINDOW: RestorableWindow = {
  earliestRestorableTime: '2026-11-23T10:00:00.250Z',
  latestRestorableTime: '2026-11-30T11:55:42.900Z',
};
const WINDOW = {
  earliestRestorableTime: '2026-11-23T10:00:01Z',
  latestRestorableTime: '2026-11-30T11:55:42Z',
};

let env: Awaited<ReturnType<typeof startTestStore>>;
let starter: RecordingStarter;
let window: RestorableWindow | null;
let asked: string[];
let backups: ReturnType<typeof createBackupsHandler>;
let addons: ReturnType<typeof createAddonsHandler>;

beforeAll(async () => {
  env = await startTestStore();
});
afterAll(async () => env.stop());
beforeEach(() => {
  starter = new RecordingStarter();
  window = RAW_WINDOW;
  asked = [];
  const reader: RestorableWindowReader = {
    describeRestorableWindow: async (resourceId) => {
      asked.push(resourceId);
      return window;
    },
  };
  const pitr = new PitrService({
    store: env.store,
    workflows: starter,
    windows: EngineRegistry.everyEngine('restorable windows', () => reader),
    target: 'aws',
  });
  const idempotency = dynamoDbIdempotency({ client: env.dynamoClient, tableName: TEST_TABLE });
  backups = createBackupsHandler({
    logger,
    backups: new BackupService({
      store: env.store,
      backups: env.backups,
      workflows: starter,
      artifacts: unreachableArtifacts(),
      snapshotDeleters: snapshotDeleters(refusingSnapshots('not in this test')),
      target: 'aws',
    }),
    schedules: new ScheduleService({
      store: env.store,
      backups: env.backups,
      runner: { upsert: async () => undefined, remove: async () => undefined },
      target: 'aws',
    }),
    pitr,
    idempotency,
    cursors: testCursors(),
  });
  addons = createAddonsHandler({
    logger,
    service: new AddonService({ store: env.store, workflows: starter, target: 'aws' }),
    pitr,
    idempotency,
    cursors: testCursors(),
  });
});

/** A running addon, as the provision workflow leaves it. */
const runningAddon = async (overrides: Partial<AddonRecord> = {}) => {
  const addon = addonRecord({ projectId: PROJECT, name: `db-${newId('x').slice(-8)}`, ...overrides });
  const op = operation({ addonId: addon.id, projectId: PROJECT });
  await env.store.createAddon({ ...addon, currentOperationId: op.id }, op);
  await env.store.updateAddonForOperation(addon, op.id, { status: 'running' }, { release: true });
  return env.store.getAddon(PROJECT, addon.id);
};

const restore = (addonId: string, body: unknown, headers: Record<string, string> = {}) =>
  backups(
    apiEvent(routes.restoreAddonToPointInTime, {
      pathParameters: { projectId: PROJECT, addonId },
      body,
      headers,
    }),
    context(),
  );

const problemOf = (response: { statusCode?: number; body?: string }, status: number) => {
  expect(response.statusCode).toBe(status);
  return json(response) as { errors?: Array<{ path: string; message: string }>; detail: string };
};

describe('the restorable window', () => {
  it('GET of one addon shows it to the second (earliest rounded up, latest down); lists leave it out', async () => {
    const addon = await runningAddon();
    const got = await addons(
      apiEvent(routes.getAddon, { pathParameters: { projectId: PROJECT, addonId: addon.id } }),
      context(),
    );
    expect(got.statusCode).toBe(200);
    expect(json(got).restorableWindow).toEqual(WINDOW);
    expect(asked).toEqual([addon.resourceId]);

    const listed = await addons(
      apiEvent(routes.listAddons, { pathParameters: { projectId: PROJECT } }),
      context(),
    );
    const items = json(listed).items as Array<Record<string, unknown>>;
    expect(items.find((item) => item.id === addon.id)).not.toHaveProperty('restorableWindow');
    expect(asked).toHaveLength(1);
  });

  it('is null for an engine without pitr on this deployment, and while there is no window yet', async () => {
    const redis = await runningAddon({ engine: 'redis', version: '7.1' });
    const get = async (addonId: string) =>
      json(
        await addons(
          apiEvent(routes.getAddon, { pathParameters: { projectId: PROJECT, addonId } }),
          context(),
        ),
      ).restorableWindow;
    expect(await get(redis.id)).toBeNull();
    expect(asked).toEqual([]);
    window = null;
    expect(await get((await runningAddon()).id)).toBeNull();
  });

  it('rounds a window shorter than a second to none', () => {
    expect(
      toSecondsWindow({
        earliestRestorableTime: '2026-01-01T00:00:00.100Z',
        latestRestorableTime: '2026-01-01T00:00:00.900Z',
      }),
    ).toBeNull();
  });
});

describe('POST /v1/projects/{projectId}/addons/{addonId}/restore', () => {
  it('accepts a second inside the window: 202, the operation records it, the workflow gets the point-in-time key', async () => {
    const addon = await runningAddon();
    const response = await restore(addon.id, { pointInTime: '2026-11-29T08:15:30Z' });
    expect(response.statusCode).toBe(202);
    const body = json(response);
    expect(body.addon).toMatchObject({
      id: addon.id,
      status: 'restoring',
      currentOperationId: body.operation.id,
    });
    expect(body.operation).toMatchObject({
      type: 'restore',
      status: 'pending',
      backupId: null,
      pointInTime: '2026-11-29T08:15:30Z',
    });
    expect(response.headers?.['operation-location']).toBe(
      `/v1/projects/${PROJECT}/operations/${body.operation.id}`,
    );
    const input = {
      projectId: PROJECT,
      addonId: addon.id,
      operationId: body.operation.id,
      backupId: pointInTimeKey(addon.resourceId, '2026-11-29T08:15:30Z'),
    };
    expect(starter.started).toEqual([{ workflow: 'restore-addon', input }]);
    // A restarted platform starts the same workflow again from the operation record.
    const stored = await env.store.getOperation(PROJECT, body.operation.id);
    expect(workflowInputFor(stored)).toEqual({ workflow: 'restore-addon', input });
  });

  it('accepts the window’s own edges', async () => {
    for (const pointInTime of [WINDOW.earliestRestorableTime, WINDOW.latestRestorableTime]) {
      const addon = await runningAddon();
      expect((await restore(addon.id, { pointInTime })).statusCode).toBe(202);
    }
  });

  it('replays an idempotent request instead of starting a second restore', async () => {
    const addon = await runningAddon();
    const headers = { 'idempotency-key': `pitr-${addon.id}` };
    const first = await restore(addon.id, { pointInTime: '2026-11-29T08:15:30Z' }, headers);
    const again = await restore(addon.id, { pointInTime: '2026-11-29T08:15:30Z' }, headers);
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(json(again).operation.id).toBe(json(first).operation.id);
    expect(starter.started).toHaveLength(1);
  });

  it('answers 409 while another operation is in flight', async () => {
    const addon = await runningAddon();
    expect((await restore(addon.id, { pointInTime: '2026-11-29T08:15:30Z' })).statusCode).toBe(202);
    const second = problemOf(await restore(addon.id, { pointInTime: '2026-11-29T08:15:31Z' }), 409);
    expect(second.detail).toMatch(/in flight/);
    expect(starter.started).toHaveLength(1);
  });

  it('answers 422 naming body.pointInTime and the window for a time outside it', async () => {
    const addon = await runningAddon();
    for (const pointInTime of ['2026-11-23T10:00:00Z', '2026-11-30T11:55:43Z', '2020-01-01T00:00:00Z']) {
      const problem = problemOf(await restore(addon.id, { pointInTime }), 422);
      expect(problem.detail).toBe(
        `${pointInTime} is outside the addon's restorable window, ${WINDOW.earliestRestorableTime} to ${WINDOW.latestRestorableTime}`,
      );
      expect(problem.errors).toEqual([
        {
          path: 'body.pointInTime',
          message: `must lie between ${WINDOW.earliestRestorableTime} and ${WINDOW.latestRestorableTime}`,
        },
      ]);
    }
    expect(starter.started).toEqual([]);
    expect(await env.store.getAddon(PROJECT, addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
  });

  it('answers 422 naming body.pointInTime for an engine without pitr here, and while there is no window yet', async () => {
    const redis = await runningAddon({ engine: 'redis', version: '7.1' });
    const unsupported = problemOf(await restore(redis.id, { pointInTime: '2026-11-29T08:15:30Z' }), 422);
    expect(unsupported.detail).toMatch(/no point-in-time recovery on this deployment/);
    expect(unsupported.errors?.[0]?.path).toBe('body.pointInTime');

    window = null;
    const fresh = await runningAddon();
    const none = problemOf(await restore(fresh.id, { pointInTime: '2026-11-29T08:15:30Z' }), 422);
    expect(none.detail).toMatch(/no restorable window yet/);
    expect(none.errors?.[0]?.path).toBe('body.pointInTime');
    expect(starter.started).toEqual([]);
  });

  it('answers 400 naming body.pointInTime for a time that is not RFC 3339 UTC to the second', async () => {
    const addon = await runningAddon();
    for (const pointInTime of ['yesterday', '2026-11-29T08:15:30.500Z', '2026-11-29T09:15:30+01:00', 17]) {
      const problem = problemOf(await restore(addon.id, { pointInTime }), 400);
      expect(problem.errors?.[0]?.path).toBe('body.pointInTime');
    }
    expect(problemOf(await restore(addon.id, {}), 400).errors?.[0]?.path).toBe('body.pointInTime');
    expect(starter.started).toEqual([]);
  });

  it('answers 404 for an unknown addon', async () => {
    problemOf(await restore('adn-unknown0', { pointInTime: '2026-11-29T08:15:30Z' }), 404);
  });
});
