import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../support/http.ts';
import { localPlatformForFile } from '../support/local-platform.ts';
import { operationEnded } from '../support/operations.ts';

/**
 * The local storage guard through the API (docs/scaling.md), on one PostgreSQL addon whose
 * "GiB" is 4 MiB (ADDONS_STORAGE_GIB_BYTES, a test setting), so that 20 GiB fill with tens of MB:
 * written until refused with PostgreSQL's own read-only error, reported `storage.readOnly`, reads
 * still served; a storage growth makes it writable again.
 */
const TOKEN = 'e2e-storage-full-token-0123456789';
const PROJECT = 'storagefull';
const GIB = 4 * 1024 * 1024;
const api = localPlatformForFile('storage-full', TOKEN, {
  ADDONS_STORAGE_GIB_BYTES: String(GIB),
  ADDONS_SCHEDULER_TICK_MS: '300',
});
const addonPath = (addonId: string) => `/v1/projects/${PROJECT}/addons/${addonId}`;
const READ_ONLY_TRANSACTION = '25006';

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
/** About 2 MB of rows; resolves to the error the server answered, if any. */
const writeChunk = (client: pg.Client) =>
  client.query('INSERT INTO filler SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, 2000) g').then(
    () => undefined,
    (error: Error & { code?: string }) => error,
  );

describe('a local PostgreSQL addon whose storage fills', () => {
  let addonId: string | undefined;
  afterAll(async () => {
    if (addonId) await api('DELETE', addonPath(addonId));
  });

  it('turns read-only at its allocated size, reports it, and is writable again once grown', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'full-pg', engine: 'postgresql', plan: 'nano', storageGiB: 20 },
    });
    expect(created.status).toBe(202);
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    addonId = created.body.addon.id as string;
    const path = addonPath(addonId);
    credentials = (await api('GET', `${path}/credentials`)).body;
    const fresh = (await api('GET', path)).body.storage;
    expect(fresh, 'a fresh cluster fits in 20 test GiB').toMatchObject({ allocatedGiB: 20, readOnly: false });
    expect(fresh.usedBytes).toBeLessThan(20 * GIB);

    // Write until the server refuses: the guard checks every scheduler tick (300 ms here).
    const refused = await withClient(async (client) => {
      await client.query('CREATE TABLE filler (id int, payload text)');
      const deadline = Date.now() + 40_000;
      while (Date.now() < deadline) {
        const error = await writeChunk(client);
        if (error) return error;
      }
      throw new Error('the addon never refused a write');
    });
    expect(refused.code, refused.message).toBe(READ_ONLY_TRANSACTION);
    expect(refused.message).toBe('cannot execute INSERT in a read-only transaction');
    const full = (await api('GET', path)).body.storage;
    expect(full).toMatchObject({ allocatedGiB: 20, readOnly: true });
    // At least the lift threshold (95 %): the guard found it at 100 %, nothing removed WAL since.
    expect(full.usedBytes).toBeGreaterThanOrEqual(0.95 * 20 * GIB);
    // Reads are served; a new session is read-only too.
    const rows = await withClient(async (client) => {
      expect((await writeChunk(client))?.code).toBe(READ_ONLY_TRANSACTION);
      return (await client.query('SELECT count(*)::int AS n FROM filler')).rows[0].n as number;
    });
    expect(rows).toBeGreaterThan(0);

    // Grow it well past what the data takes: under 95 % of the new size, it is lifted.
    const storageGiB = Math.ceil(full.usedBytes / GIB) * 2;
    const grow = await api('PATCH', path, { body: { storageGiB } });
    expect(grow.status, JSON.stringify(grow.body)).toBe(202);
    expect((await operationEnded(api, PROJECT, grow.body.operation.id, 60_000)).status).toBe('completed');
    const lifted = await pollUntil(
      () => api('GET', path),
      (response) => response.body.storage.readOnly === false,
      { what: 'the addon to be writable again', timeoutMs: 15_000 },
    );
    expect(lifted.body.storage).toMatchObject({ allocatedGiB: storageGiB, readOnly: false });
    // The reload reaches the server's sessions within moments of pg_reload_conf().
    await pollUntil(
      () => withClient(writeChunk),
      (error) => error === undefined,
      { what: 'a write to succeed', timeoutMs: 5_000 },
    );
    // Both changes are in the addon's event feed, with the storage figures.
    const events = await pollUntil(
      () => api('GET', `/v1/projects/${PROJECT}/events?addonId=${addonId}&limit=100`),
      (response) => response.body.items.some((event: { type: string }) => event.type === 'storage.writable'),
      { what: 'the storage.writable event', timeoutMs: 10_000 },
    );
    const storageEvents = events.body.items.filter((event: { type: string }) =>
      event.type.startsWith('storage.'),
    );
    expect(storageEvents.map((event: { type: string }) => event.type)).toEqual([
      'storage.full',
      'storage.writable',
    ]);
    expect(storageEvents[0].storage).toMatchObject({ allocatedBytes: 20 * GIB, readOnly: true });
    expect(storageEvents[0].storage.usedBytes).toBeGreaterThanOrEqual(20 * GIB);
  }, 120_000);

  it('puts a local MySQL (MariaDB) addon read-only at its allocated size too, until it grows', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'full-mysql', engine: 'mysql', plan: 'nano', storageGiB: 20 },
    });
    expect(created.status).toBe(202);
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    const mysqlId = created.body.addon.id as string;
    const path = addonPath(mysqlId);
    try {
      const details = (await api('GET', `${path}/credentials`)).body;
      const connect = () =>
        mysql.createConnection({
          host: details.host,
          port: details.port,
          user: details.username,
          password: details.password,
          database: details.database,
          connectTimeout: 5_000,
        });
      const fill = async (connection: mysql.Connection) =>
        connection.query('INSERT INTO filler SELECT seq, REPEAT(MD5(seq), 32) FROM seq_1_to_2000').then(
          () => undefined,
          (error: Error & { errno?: number }) => error,
        );
      // Room for about 32 MB of rows beyond what the fresh server takes.
      const fresh = (await api('GET', path)).body.storage;
      const roomy = Math.ceil(fresh.usedBytes / GIB) + 8;
      if (roomy > 20) {
        const grow = await api('PATCH', path, { body: { storageGiB: roomy } });
        expect(grow.status, JSON.stringify(grow.body)).toBe(202);
        expect((await operationEnded(api, PROJECT, grow.body.operation.id, 60_000)).status).toBe('completed');
        await pollUntil(
          () => api('GET', path),
          (response) => response.body.storage.readOnly === false,
          { what: 'a writable MariaDB', timeoutMs: 15_000 },
        );
      }
      const connection = await connect();
      try {
        await connection.query('CREATE TABLE filler (id int, payload text)');
        const deadline = Date.now() + 60_000;
        let refused: (Error & { errno?: number }) | undefined;
        while (!refused && Date.now() < deadline) refused = await fill(connection);
        expect(refused?.errno, refused?.message).toBe(1290);
        expect(refused?.message).toMatch(/read-only/);
        expect((await api('GET', path)).body.storage.readOnly).toBe(true);
        const [rows] = await connection.query('SELECT COUNT(*) AS n FROM filler');
        expect((rows as Array<{ n: number }>)[0]?.n).toBeGreaterThan(0);
      } finally {
        await connection.end().catch(() => undefined);
      }
      const used = (await api('GET', path)).body.storage.usedBytes as number;
      const grow = await api('PATCH', path, { body: { storageGiB: Math.ceil(used / GIB) * 2 } });
      expect(grow.status, JSON.stringify(grow.body)).toBe(202);
      expect((await operationEnded(api, PROJECT, grow.body.operation.id, 60_000)).status).toBe('completed');
      await pollUntil(
        () => api('GET', path),
        (response) => response.body.storage.readOnly === false,
        { what: 'MariaDB writable again', timeoutMs: 15_000 },
      );
      const again = await connect();
      try {
        expect(await fill(again)).toBeUndefined();
      } finally {
        await again.end().catch(() => undefined);
      }
    } finally {
      await api('DELETE', path);
    }
  }, 150_000);
});
