import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { localPlatformForFile } from '../support/local-platform.ts';
import { operationEnded } from '../support/operations.ts';

/**
 * Scaling a local PostgreSQL addon through the API: the plan is real limits on the server
 * (shared_buffers, max_connections, work_mem from the plan's memory), a plan change restarts it
 * with the new ones and keeps the data; storage growth is recorded and the used bytes reported.
 */
const TOKEN = 'e2e-scaling-token-0123456789abc';
const PROJECT = 'scaling';
const api = localPlatformForFile('scaling', TOKEN);
const addonPath = (addonId: string) => `/v1/projects/${PROJECT}/addons/${addonId}`;

let credentials: { host: string; port: number; username: string; password: string; database: string };
const withClient = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
  const { host, port, username: user, password, database } = credentials;
  const client = new pg.Client({ host, port, user, password, database, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
};
const settings = () =>
  withClient(async (client) => {
    const show = async (name: string) => (await client.query(`SHOW ${name}`)).rows[0][name] as string;
    return {
      shared_buffers: await show('shared_buffers'),
      max_connections: await show('max_connections'),
      work_mem: await show('work_mem'),
    };
  });

const scaled = async (addonId: string, body: Record<string, unknown>) => {
  const response = await api('PATCH', addonPath(addonId), { body });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  expect(response.body.operation.type).toBe('scale');
  const operation = await operationEnded(api, PROJECT, response.body.operation.id, 60_000);
  expect(operation, JSON.stringify(operation)).toMatchObject({ status: 'completed' });
  return (await api('GET', addonPath(addonId))).body;
};

describe('scaling a local PostgreSQL addon', () => {
  let addonId: string | undefined;
  afterAll(async () => {
    if (addonId) await api('DELETE', addonPath(addonId));
  });

  it('runs the plan as real limits; a plan change restarts with the new ones and keeps the data', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'scale-pg', engine: 'postgresql', plan: 'nano' },
    });
    expect(created.status).toBe(202);
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    addonId = created.body.addon.id as string;
    credentials = (await api('GET', `${addonPath(addonId)}/credentials`)).body;
    // nano: 1024 MiB.
    expect(await settings()).toEqual({ shared_buffers: '128MB', max_connections: '112', work_mem: '4MB' });
    await withClient(async (client) => {
      await client.query('CREATE TABLE orders (id int PRIMARY KEY, item text)');
      await client.query("INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 500) g");
    });

    const addon = await scaled(addonId, { plan: 'small' });
    expect(addon).toMatchObject({ plan: 'small', status: 'running', currentOperationId: null });
    // small: 2048 MiB.
    expect(await settings()).toEqual({ shared_buffers: '256MB', max_connections: '225', work_mem: '8MB' });
    const count = await withClient(
      async (client) => (await client.query('SELECT count(*) FROM orders')).rows[0],
    );
    expect(count).toEqual({ count: '500' });
  }, 120_000);

  it('grows the storage, reports the used bytes, and refuses a shrink and Multi-AZ naming the field', async () => {
    if (!addonId) throw new Error('the addon of the first test is missing');
    const before = (await api('GET', addonPath(addonId))).body;
    expect(before.storage.allocatedGiB).toBe(20);
    // A fresh cluster with a few hundred rows: tens of MB of files, well under the allocation.
    expect(before.storage.usedBytes).toBeGreaterThan(1_000_000);
    expect(before.storage.usedBytes).toBeLessThan(20 * 1024 ** 3);

    const grown = await scaled(addonId, { storageGiB: 30 });
    expect(grown).toMatchObject({ storageGiB: 30, storage: { allocatedGiB: 30 } });

    const shrink = await api('PATCH', addonPath(addonId), { body: { storageGiB: 25 } });
    expect(shrink.status).toBe(422);
    expect(shrink.body.errors.map((error: { path: string }) => error.path)).toEqual(['body.storageGiB']);
    const multiAz = await api('PATCH', addonPath(addonId), { body: { multiAz: true } });
    expect(multiAz.status).toBe(422);
    expect(multiAz.body.errors.map((error: { path: string }) => error.path)).toEqual(['body.multiAz']);
  }, 90_000);
});
