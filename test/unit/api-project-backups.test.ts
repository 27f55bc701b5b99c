import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupsHandler } from '#functions/api/backups.ts';
import { routes } from '#shared/api/routes.ts';
import type { ScheduleRunner } from '#shared/ports/schedule-runner.ts';
import type { WorkflowStarter } from '#shared/ports/workflow-starter.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import { ScheduleService } from '#shared/services/schedule-service.ts';
import type { BackupStore } from '#shared/store/backup-store.ts';
import { newId } from '#shared/util/ids.ts';
import { refusingSnapshots, snapshotDeleters, unreachableArtifacts } from '../support/backups.ts';
import { testCursors } from '../support/cursors.ts';
import { startTestStore } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { backupRecord } from '../support/fixtures.ts';

const refuse = () => Promise.reject(new Error('not in this test'));
const workflows: WorkflowStarter = { start: refuse, stop: refuse };
const runner: ScheduleRunner = { upsert: refuse, remove: refuse };

let env: Awaited<ReturnType<typeof startTestStore>>;
let backups: BackupStore;
let handler: ReturnType<typeof createBackupsHandler>;

beforeAll(async () => {
  env = await startTestStore();
  backups = env.backups;
  const artifacts = unreachableArtifacts();
  handler = createBackupsHandler({
    logger: new Logger({ logLevel: 'SILENT' }),
    cursors: testCursors(),
    backups: new BackupService({
      store: env.store,
      backups,
      workflows,
      artifacts,
      snapshotDeleters: snapshotDeleters(refusingSnapshots('not in this test')),
      target: 'local',
    }),
    schedules: new ScheduleService({ store: env.store, backups, runner, target: 'local' }),
  });
});
afterAll(async () => env?.stop());

const listPage = async (projectId: string, query: Record<string, string>) =>
  json(
    await handler(apiEvent(routes.listProjectBackups, { pathParameters: { projectId }, query }), context()),
  );

describe('GET /v1/projects/{projectId}/backups', () => {
  it("pages through the project's backups newest first, deleted addons' included and named", async () => {
    // Prepare: a live addon's two backups, a deleted addon's three, another project's one.
    const projectId = `pb-${newId('p').slice(-6)}`;
    const live = newId('adn');
    const gone = newId('adn');
    const put = async (addonId: string, deleted: boolean, at: number) => {
      const backup = backupRecord({
        id: newId('bkp', Date.UTC(2026, 10, 1) + at * 1000),
        projectId,
        addonId,
        addonName: deleted ? 'retired-db' : 'orders-db',
        addonDeleted: deleted,
        addonDeletedAt: deleted ? '2026-11-20T00:00:00.000Z' : null,
      });
      await backups.putBackup(backup);
      return backup.id;
    };
    const ids = [
      await put(gone, true, 1),
      await put(live, false, 2),
      await put(gone, true, 3),
      await put(gone, true, 4),
      await put(live, false, 5),
    ];
    await backups.putBackup(backupRecord({ projectId: `${projectId}-other`, addonId: newId('adn') }));

    // Act
    const first = await listPage(projectId, { limit: '2' });
    const second = await listPage(projectId, { limit: '2', cursor: first.nextCursor });
    const third = await listPage(projectId, { limit: '2', cursor: second.nextCursor });

    // Assess
    const items = [...first.items, ...second.items, ...third.items];
    expect(items.map((backup: { id: string }) => backup.id)).toEqual([...ids].reverse());
    expect(third.nextCursor).toBeNull();
    expect(items.find((backup: { id: string }) => backup.id === ids[0])).toMatchObject({
      addonId: gone,
      addonName: 'retired-db',
      addonDeleted: true,
      addonDeletedAt: '2026-11-20T00:00:00.000Z',
    });
    expect(items.find((backup: { id: string }) => backup.id === ids[1])).toMatchObject({
      addonId: live,
      addonDeleted: false,
      addonDeletedAt: null,
    });
  });

  it("keeps a deleted addon's backup reachable at its addon path: get it, unpin it", async () => {
    // Prepare: the addon record is gone, its backup is not.
    const backup = backupRecord({
      projectId: 'pb-kept',
      addonId: newId('adn'),
      pinned: true,
      addonDeleted: true,
      addonDeletedAt: '2026-11-20T00:00:00.000Z',
      expiresAt: '2026-11-27T00:00:00.000Z',
    });
    await backups.putBackup(backup);
    const path = { projectId: 'pb-kept', addonId: backup.addonId, backupId: backup.id };

    // Act
    const got = await handler(apiEvent(routes.getBackup, { pathParameters: path }), context());
    const unpinned = await handler(
      apiEvent(routes.updateBackup, { pathParameters: path, body: { pinned: false } }),
      context(),
    );

    // Assess
    expect(got.statusCode).toBe(200);
    expect(json(unpinned)).toMatchObject({ pinned: false, addonDeleted: true });
    const expired = await backups.listExpiredBackups('2026-11-28T00:00:00.000Z', { limit: 100 });
    expect(expired.items.map((item) => item.id)).toContain(backup.id);
  });
});
