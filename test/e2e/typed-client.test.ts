import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddonsApiError, type AddonsClient, createAddonsClient, type Operation } from '../../client/index.ts';
import { removePlatformData } from '../support/data-dir.ts';
import { contractFetch } from '../support/http.ts';
import { pgQuery } from '../support/pg-fingerprint.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * Every route family through the generated typed client against `npm start`: catalog, addons,
 * credentials, backups (dump, download, pin, abort, restore), project backups, schedules,
 * operations, imports, point-in-time restore, forks and deletion. One PostgreSQL addon and one
 * zstd dump carry the whole file (plus one fork), to keep it fast.
 */
const TOKEN = 'e2e-typed-client-token-0123456789';
const projectId = 'tc';
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: AddonsClient;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-typed-client-'));
  platform = await startPlatformProcess({ ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN });
  api = createAddonsClient({ baseUrl: platform.url, token: TOKEN, fetch: contractFetch(platform.url) });
}, 120_000);

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await removePlatformData(dataDir);
});

/** Waits for the operation and asserts it completed; returns the progress the callback saw. */
const completes = async (operationId: string) => {
  const seen: Operation[] = [];
  const ended = await api.waitForOperation(projectId, operationId, {
    intervalMs: 100,
    timeoutMs: 120_000,
    onProgress: (operation) => seen.push(operation),
  });
  expect(ended, JSON.stringify(ended)).toMatchObject({ status: 'completed', error: null });
  expect(seen.at(-1)).toEqual(ended);
  return seen;
};

/** The API error a call ends in (it must end in one). */
const refusal = async (call: Promise<unknown>): Promise<AddonsApiError> => {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AddonsApiError);
  return error as AddonsApiError;
};

describe('the typed client against the local target', () => {
  let addonId: string;
  let uri: string;
  let backupId: string;
  let dump: Buffer;
  const addonPath = () => ({ projectId, addonId });
  const rows = async () => (await pgQuery(uri, 'SELECT id FROM items ORDER BY id')).map((row) => row.id);

  it('reads the health check and the catalog', async () => {
    expect(await api.GET('/health')).toMatchObject({ status: 'ok', target: 'local' });
    const catalog = await api.GET('/v1/addon-types');
    expect(catalog.items.map((type) => type.engine)).toContain('postgresql');
  });

  it('refuses a bad token with a typed 401', async () => {
    const anonymous = createAddonsClient({ baseUrl: platform?.url ?? '', token: 'not-the-token-at-all' });
    const error = await refusal(anonymous.GET('/v1/addon-types'));
    expect(error).toMatchObject({ status: 401, kind: 'unauthorized', title: 'Unauthorized' });
  });

  it('creates an addon once per Idempotency-Key, and reports its progress until it runs', async () => {
    const request = {
      params: { path: { projectId }, header: { 'idempotency-key': 'typed-client-create-1' } },
      body: { name: 'ledger', engine: 'postgresql' as const },
    };
    const created = await api.POST('/v1/projects/{projectId}/addons', request);
    const repeated = await api.POST('/v1/projects/{projectId}/addons', request);
    expect(repeated.addon.id).toBe(created.addon.id);
    expect(repeated.operation.id).toBe(created.operation.id);
    addonId = created.addon.id;
    const seen = await completes(created.operation.id);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)?.progress.percent).toBe(100);

    const addon = await api.GET('/v1/projects/{projectId}/addons/{addonId}', {
      params: { path: addonPath() },
    });
    expect(addon).toMatchObject({ id: addonId, status: 'running', engine: 'postgresql' });
    const page = await api.GET('/v1/projects/{projectId}/addons', {
      params: { path: { projectId }, query: { limit: 10 } },
    });
    expect(page.items.map((item) => item.id)).toEqual([addonId]);
    const credentials = await api.GET('/v1/projects/{projectId}/addons/{addonId}/credentials', {
      params: { path: addonPath() },
    });
    uri = credentials.uri;
    await pgQuery(uri, 'CREATE TABLE items (id int PRIMARY KEY)');
    await pgQuery(uri, 'INSERT INTO items SELECT generate_series(1, 3)');
  });

  it('turns refusals into AddonsApiError with the problem title, detail and field issues', async () => {
    const invalid = await refusal(
      api.POST('/v1/projects/{projectId}/addons', {
        params: { path: { projectId } },
        body: { name: 'Not DNS Safe', engine: 'postgresql' },
      }),
    );
    expect(invalid).toMatchObject({ status: 400, kind: 'validation', title: 'The request is not valid' });
    expect(invalid.errors.map((issue) => issue.path)).toContain('body.name');

    const missing = await refusal(
      api.GET('/v1/projects/{projectId}/addons/{addonId}', {
        params: { path: { projectId, addonId: 'adn-doesnotexist' } },
      }),
    );
    expect(missing).toMatchObject({ status: 404, kind: 'not-found' });
    expect(missing.detail).toBeTruthy();
  });

  it('takes a dump backup, lists it per addon and per project, pins it and downloads it', async () => {
    const started = await api.POST('/v1/projects/{projectId}/addons/{addonId}/backups', {
      params: { path: addonPath() },
      body: { type: 'dump', compression: 'zstd' },
    });
    backupId = started.backup.id;
    await completes(started.operation.id);
    const backupPath = { ...addonPath(), backupId };
    const backup = await api.GET('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}', {
      params: { path: backupPath },
    });
    expect(backup).toMatchObject({ status: 'completed', type: 'dump', pinned: false });

    const listed = await api.GET('/v1/projects/{projectId}/addons/{addonId}/backups', {
      params: { path: addonPath() },
    });
    expect(listed.items.map((item) => item.id)).toEqual([backupId]);
    const project = await api.GET('/v1/projects/{projectId}/backups', { params: { path: { projectId } } });
    expect(project.items.map((item) => item.id)).toEqual([backupId]);

    const pinned = await api.PATCH('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}', {
      params: { path: backupPath },
      body: { pinned: true },
    });
    expect(pinned).toMatchObject({ pinned: true, expiresAt: null });

    const link = await api.POST('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}/download', {
      params: { path: backupPath },
    });
    dump = Buffer.from(await (await fetch(link.url)).arrayBuffer());
    expect(createHash('sha256').update(dump).digest('hex')).toBe(backup.sha256);
    expect(link.sha256).toBe(backup.sha256);

    const late = await refusal(
      api.POST('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}/abort', {
        params: { path: backupPath },
      }),
    );
    expect(late).toMatchObject({ status: 409, kind: 'conflict' });
  });

  it('restores the addon to the backup', async () => {
    await pgQuery(uri, 'INSERT INTO items VALUES (4)');
    const started = await api.POST('/v1/projects/{projectId}/addons/{addonId}/backups/{backupId}/restore', {
      params: { path: { ...addonPath(), backupId } },
    });
    expect(started.operation.type).toBe('restore');
    await completes(started.operation.id);
    expect(await rows()).toEqual([1, 2, 3]);
  });

  it('creates, lists, changes and deletes a backup schedule', async () => {
    const schedule = await api.POST('/v1/projects/{projectId}/addons/{addonId}/backup-schedules', {
      params: { path: addonPath() },
      body: { interval: 'daily', hours: [3], minutes: [15], retentionDays: 7, type: 'dump' },
    });
    expect(schedule).toMatchObject({ interval: 'daily', hours: [3], minutes: [15], enabled: true });
    const schedulePath = { ...addonPath(), scheduleId: schedule.id };
    const changed = await api.PATCH(
      '/v1/projects/{projectId}/addons/{addonId}/backup-schedules/{scheduleId}',
      { params: { path: schedulePath }, body: { retentionDays: 14, enabled: false } },
    );
    expect(changed).toMatchObject({ retentionDays: 14, enabled: false });
    const listed = await api.GET('/v1/projects/{projectId}/addons/{addonId}/backup-schedules', {
      params: { path: addonPath() },
    });
    expect(listed.items.map((item) => item.id)).toEqual([schedule.id]);
    await api.DELETE('/v1/projects/{projectId}/addons/{addonId}/backup-schedules/{scheduleId}', {
      params: { path: schedulePath },
    });
    const after = await api.GET('/v1/projects/{projectId}/addons/{addonId}/backup-schedules', {
      params: { path: addonPath() },
    });
    expect(after.items).toEqual([]);
  });

  it('imports the downloaded dump through an upload', async () => {
    await pgQuery(uri, 'DELETE FROM items');
    const created = await api.POST('/v1/projects/{projectId}/addons/{addonId}/imports', {
      params: { path: addonPath() },
      body: { kind: 'upload', sizeBytes: dump.length },
    });
    expect('uploadUrl' in created && created.uploadUrl).toBeTruthy();
    if (!('uploadUrl' in created) || !created.uploadUrl) throw new Error('no upload URL');
    const put = await fetch(created.uploadUrl, { method: 'PUT', body: dump, headers: created.uploadHeaders });
    expect(put.status).toBe(200);
    const importPath = { ...addonPath(), importId: created.import.id };
    const started = await api.POST('/v1/projects/{projectId}/addons/{addonId}/imports/{importId}/start', {
      params: { path: importPath },
      body: { sha256: createHash('sha256').update(dump).digest('hex') },
    });
    await completes(started.operation.id);
    expect(await rows()).toEqual([1, 2, 3]);
    const got = await api.GET('/v1/projects/{projectId}/addons/{addonId}/imports/{importId}', {
      params: { path: importPath },
    });
    expect(got.status).toBe('completed');
    const listed = await api.GET('/v1/projects/{projectId}/addons/{addonId}/imports', {
      params: { path: addonPath() },
    });
    expect(listed.items.map((item) => item.id)).toEqual([created.import.id]);
    const notRunning = await refusal(
      api.POST('/v1/projects/{projectId}/addons/{addonId}/imports/{importId}/abort', {
        params: { path: importPath },
      }),
    );
    expect(notRunning.status).toBe(409);
  });

  it('refuses a point-in-time restore outside the window, naming body.pointInTime', async () => {
    const refused = await refusal(
      api.POST('/v1/projects/{projectId}/addons/{addonId}/restore', {
        params: { path: addonPath() },
        body: { pointInTime: '2020-01-01T00:00:00Z' },
      }),
    );
    expect(refused.status).toBe(422);
    expect(refused.errors.map((issue) => issue.path)).toContain('body.pointInTime');
  });

  it("lists the addon's operations and gets one", async () => {
    const page = await api.GET('/v1/projects/{projectId}/addons/{addonId}/operations', {
      params: { path: addonPath() },
    });
    const types = page.items.map((operation) => operation.type);
    expect(types).toEqual(expect.arrayContaining(['create', 'backup', 'restore']));
    const first = page.items[0];
    if (!first) throw new Error('no operation listed');
    const operation = await api.GET('/v1/projects/{projectId}/operations/{operationId}', {
      params: { path: { projectId, operationId: first.id } },
    });
    expect(operation).toEqual(first);
  });

  it('changes networking, publishes a secret group, reads metrics and the events feed', async () => {
    const changed = await api.PATCH('/v1/projects/{projectId}/addons/{addonId}', {
      params: { path: addonPath() },
      body: { networking: { tls: true } },
    });
    await completes(changed.operation.id);
    expect(
      await api.GET('/v1/projects/{projectId}/addons/{addonId}', { params: { path: addonPath() } }),
    ).toMatchObject({ tls: true });
    const credentials = await api.GET('/v1/projects/{projectId}/addons/{addonId}/credentials', {
      params: { path: addonPath() },
    });
    expect(credentials.tls).toBe(true);

    const group = await api.POST('/v1/projects/{projectId}/secret-groups', {
      params: { path: { projectId } },
      body: {
        name: 'ledger-app',
        links: [{ addonId, keys: [{ key: 'uri', alias: 'DATABASE_URL' }] }],
        variables: { NODE_ENV: 'production' },
      },
    });
    const groupPath = { projectId, groupId: group.id };
    expect(
      await api.GET('/v1/projects/{projectId}/secret-groups/{groupId}', { params: { path: groupPath } }),
    ).toEqual(group);
    const document = await api.GET('/v1/projects/{projectId}/secret-groups/{groupId}/document', {
      params: { path: groupPath },
    });
    expect(document.values).toEqual({ DATABASE_URL: credentials.uri, NODE_ENV: 'production' });
    await api.DELETE('/v1/projects/{projectId}/secret-groups/{groupId}', { params: { path: groupPath } });
    expect(
      (
        await refusal(
          api.GET('/v1/projects/{projectId}/secret-groups/{groupId}', { params: { path: groupPath } }),
        )
      ).status,
    ).toBe(404);

    const metrics = await api.GET('/v1/projects/{projectId}/addons/{addonId}/metrics', {
      params: { path: addonPath(), query: { names: 'cpu,connections' } },
    });
    expect(metrics.series.map((series) => series.name).sort()).toEqual(['connections', 'cpu']);
    for (const series of metrics.series) expect(series.values).toHaveLength(metrics.timestamps.length);
    const events = await api.GET('/v1/projects/{projectId}/events', {
      params: { path: { projectId }, query: { addonId, type: 'operation.completed' } },
    });
    expect(events.items.map((event) => event.operation?.id)).toContain(changed.operation.id);
  });

  it('forks the addon from its latest backup', async () => {
    const created = await api.POST('/v1/projects/{projectId}/addons', {
      params: { path: { projectId } },
      body: { name: 'ledger-fork', engine: 'postgresql', source: { addonId, latest: true } },
    });
    await completes(created.operation.id);
    const fork = await api.GET('/v1/projects/{projectId}/addons/{addonId}', {
      params: { path: { projectId, addonId: created.addon.id } },
    });
    expect(fork.source).toMatchObject({ addonId, backupId });
    const credentials = await api.GET('/v1/projects/{projectId}/addons/{addonId}/credentials', {
      params: { path: { projectId, addonId: fork.id } },
    });
    expect((await pgQuery(credentials.uri, 'SELECT count(*)::int AS n FROM items'))[0]?.n).toBe(3);
    const deleted = await api.DELETE('/v1/projects/{projectId}/addons/{addonId}', {
      params: { path: { projectId, addonId: fork.id } },
    });
    await completes(deleted.operation.id);
  });

  it('deletes the addon; its pinned backup stays listed for the project', async () => {
    const deleted = await api.DELETE('/v1/projects/{projectId}/addons/{addonId}', {
      params: { path: addonPath() },
    });
    expect(deleted.operation.type).toBe('delete');
    await completes(deleted.operation.id);
    const project = await api.GET('/v1/projects/{projectId}/backups', { params: { path: { projectId } } });
    expect(project.items).toEqual([expect.objectContaining({ id: backupId, addonDeleted: true })]);
  });
});
