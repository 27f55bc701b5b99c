import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, pollUntil } from '../support/http.ts';
import { operationEnded } from '../support/operations.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * What outlives a deleted addon, over HTTP on the local target: its schedule goes, its backups
 * (a final one taken by the delete included) stay listed and downloadable for the grace
 * period, then retention sweeps them, all but the pinned one. The clock runs at 10,000 times
 * real time and the grace period is one day, so it ends about 9 seconds after the delete.
 */
const TOKEN = 'e2e-deleted-addon-token-0123456789';
const PROJECT = 'gr';
const DAY_MS = 24 * 60 * 60 * 1000;
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;

const waitForOperation = (operationId: string) => operationEnded(api, PROJECT, operationId);

interface ListedBackup {
  id: string;
  addonId: string;
  addonName: string | null;
  addonDeleted: boolean;
  source: string;
  status: string;
  pinned: boolean;
  sha256: string | null;
}

const projectBackups = async (): Promise<ListedBackup[]> => {
  const response = await api('GET', `/v1/projects/${PROJECT}/backups?limit=100`);
  expect(response.status).toBe(200);
  return response.body.items;
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-deleted-'));
  platform = await startPlatformProcess({
    ADDONS_DATA_DIR: dataDir,
    ADDONS_TOKEN: TOKEN,
    ADDONS_CLOCK_SPEED: '10000',
    ADDONS_BACKUP_GRACE_DAYS: '1',
    ADDONS_SCHEDULER_TICK_MS: '250',
  });
  api = client(platform.url, TOKEN);
}, 120_000);

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await rm(dataDir, { recursive: true, force: true });
});

describe('deleting an addon with a final backup', () => {
  it('removes its schedule, keeps its backups listed and downloadable, then sweeps all but the pinned one', async () => {
    // Prepare: an addon with a weekly schedule (due days from now: it must not fire here), a
    // manual backup and a pinned one.
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'keepsake', engine: 'postgresql' },
    });
    expect(created.status).toBe(202);
    const addonId: string = created.body.addon.id;
    const base = `/v1/projects/${PROJECT}/addons/${addonId}`;
    expect((await waitForOperation(created.body.operation.id)).status).toBe('completed');
    const day = WEEKDAYS[new Date(Date.now() + 5 * DAY_MS).getUTCDay()];
    const schedule = await api('POST', `${base}/backup-schedules`, {
      body: { interval: 'weekly', days: [day], hours: [0], minutes: [0], retentionDays: 30, type: 'dump' },
    });
    expect(schedule.status).toBe(201);
    const backUp = async (pinned: boolean) => {
      const response = await api('POST', `${base}/backups`, { body: { type: 'dump', pinned } });
      expect(response.status).toBe(202);
      expect(await waitForOperation(response.body.operation.id)).toMatchObject({ status: 'completed' });
      return response.body.backup.id as string;
    };
    const manualId = await backUp(false);
    const pinnedId = await backUp(true);

    // Act: a bad final-backup kind is refused by name; then the delete with a final dump.
    const refused = await api('DELETE', `${base}?finalBackup=tarball`);
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([expect.objectContaining({ path: 'finalBackup' })]);
    const deleted = await api('DELETE', `${base}?finalBackup=dump`);
    expect(deleted.status).toBe(202);
    const finalId: string = deleted.body.operation.backupId;
    expect(finalId).toMatch(/^bkp-/);
    expect(await waitForOperation(deleted.body.operation.id)).toMatchObject({
      status: 'completed',
      error: null,
    });

    // Assess: the addon and its schedule are gone.
    expect((await api('GET', base)).status).toBe(404);
    expect((await api('GET', `${base}/backup-schedules`)).status).toBe(404);

    // Its backups are listed at the project level, naming the deleted addon.
    const listed = await projectBackups();
    for (const id of [manualId, pinnedId, finalId]) {
      expect(listed.find((backup) => backup.id === id)).toMatchObject({
        addonId,
        addonName: 'keepsake',
        addonDeleted: true,
        status: 'completed',
      });
    }
    expect(listed.find((backup) => backup.id === finalId)).toMatchObject({ source: 'final' });

    // The final dump is still downloadable at its addon-scoped path, and intact.
    const link = await api('POST', `${base}/backups/${finalId}/download`);
    expect(link.status).toBe(200);
    const dump = Buffer.from(await (await fetch(link.body.url)).arrayBuffer());
    expect(createHash('sha256').update(dump).digest('hex')).toBe(link.body.sha256);

    // After the grace period retention sweeps them, all but the pinned one.
    const remaining = await pollUntil(
      projectBackups,
      (backups) => !backups.some((backup) => backup.id === manualId || backup.id === finalId),
      { what: 'the grace period to end and the sweep to run', timeoutMs: 90_000, intervalMs: 250 },
    );
    expect(remaining.map((backup) => backup.id)).toEqual([pinnedId]);
    expect((await api('GET', `${base}/backups/${manualId}`)).status).toBe(404);

    // Unpinned, the last one goes too.
    expect((await api('PATCH', `${base}/backups/${pinnedId}`, { body: { pinned: false } })).status).toBe(200);
    await pollUntil(projectBackups, (backups) => backups.length === 0, {
      what: 'the unpinned backup to be swept',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
  }, 240_000);
});
