import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removePlatformData } from '../support/data-dir.ts';
import { client, isListening } from '../support/http.ts';
import { operationEnded } from '../support/operations.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * The whole local target over HTTP, as a user drives it: `npm start`'s entry point in a child
 * process, real PostgreSQL servers, Ctrl-C, a crash, and restarts.
 */
const TOKEN = 'e2e-token-0123456789abcdef';
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;

const start = async () => {
  // No mongod, whatever this machine has installed: the MongoDB create below must be refused.
  platform = await startPlatformProcess({
    ADDONS_DATA_DIR: dataDir,
    ADDONS_TOKEN: TOKEN,
    ADDONS_MONGOD: join(dataDir, 'no-mongod'),
  });
  api = client(platform.url, TOKEN);
};

const sql = async (credentials: { uri: string }, text: string) => {
  const connection = new pg.Client({ connectionString: credentials.uri, connectionTimeoutMillis: 5_000 });
  await connection.connect();
  try {
    return (await connection.query(text)).rows;
  } finally {
    await connection.end();
  }
};

const waitForOperation = (operationId: string) => operationEnded(api, 'e2e', operationId, 60_000);

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-'));
  await start();
});

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await removePlatformData(dataDir);
});

describe('local target, end to end', () => {
  let addonId: string;
  let credentials: {
    host: string;
    port: number;
    uri: string;
    username: string;
    password: string;
    database: string;
  };

  it('serves health, the OpenAPI document and an offline docs page without a token', async () => {
    expect((await api('GET', '/health', { token: null })).body).toEqual({ status: 'ok', target: 'local' });
    const openapi = await api('GET', '/openapi.json', { token: null });
    expect(openapi.body.openapi).toBe('3.1.0');
    const docs = await api('GET', '/docs', { token: null });
    expect(docs.status).toBe(200);
    expect(docs.body).toContain('docs/swagger-ui-bundle.js');
    expect(docs.body).not.toMatch(/https?:\/\/(?!addons\.dev)/);
    const asset = await api('GET', '/docs/swagger-ui-bundle.js', { token: null });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
  });

  it('refuses a missing or wrong token with a 401 problem', async () => {
    for (const token of [null, 'wrong-token']) {
      const response = await api('GET', '/v1/addon-types', { token });
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  it('rate limits every caller and says so in the RateLimit headers of every answer', async () => {
    const response = await api('GET', '/v1/addon-types');
    expect(response.headers.get('ratelimit-limit')).toBe('100');
    expect(Number(response.headers.get('ratelimit-remaining'))).toBeGreaterThan(0);
    expect(response.headers.get('ratelimit-reset')).toMatch(/^\d+$/);
  });

  it('shows the engine catalog', async () => {
    const response = await api('GET', '/v1/addon-types');
    expect(response.body.items.map((type: { engine: string }) => type.engine)).toEqual([
      'postgresql',
      'mysql',
      'redis',
      'mongodb',
    ]);
  });

  it('creates a PostgreSQL addon that becomes running and connectable', async () => {
    const created = await api('POST', '/v1/projects/e2e/addons', {
      body: { name: 'orders', engine: 'postgresql' },
    });
    expect(created.status).toBe(202);
    addonId = created.body.addon.id;
    const operation = await waitForOperation(created.body.operation.id);
    expect(operation).toMatchObject({ status: 'completed', type: 'create', error: null });
    const addon = await api('GET', `/v1/projects/e2e/addons/${addonId}`);
    expect(addon.body).toMatchObject({ status: 'running', currentOperationId: null });
    const response = await api('GET', `/v1/projects/e2e/addons/${addonId}/credentials`);
    expect(response.status).toBe(200);
    credentials = response.body;
    expect(credentials).toMatchObject({ host: '127.0.0.1', username: 'addonadmin', database: 'orders' });
    await sql(credentials, 'CREATE TABLE items (id int PRIMARY KEY, label text)');
    await sql(credentials, "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1000) g");
    expect(await sql(credentials, 'SELECT count(*)::int AS n FROM items')).toEqual([{ n: 1000 }]);
  });

  it('refuses a wrong password', async () => {
    const uri = credentials.uri.replace(credentials.password, 'not-the-password');
    await expect(sql({ uri }, 'SELECT 1')).rejects.toThrow(/password authentication failed/);
  });

  it('rejects bad input with problem+json naming the field, never a 500', async () => {
    const cases: Array<
      [string, { body?: unknown; rawBody?: string; headers?: Record<string, string> }, number, string]
    > = [
      [
        'malformed JSON',
        { rawBody: '{"name":', headers: { 'content-type': 'application/json' } },
        400,
        'body',
      ],
      [
        'wrong type',
        { body: { name: 'x', engine: 'postgresql', storageGiB: 'big' } },
        400,
        'body.storageGiB',
      ],
      ['unknown engine', { body: { name: 'x', engine: 'db2' } }, 400, 'body.engine'],
      ['unknown version', { body: { name: 'x', engine: 'postgresql', version: '11' } }, 422, 'body.version'],
      ['name too long', { body: { name: 'a'.repeat(41), engine: 'postgresql' } }, 400, 'body.name'],
      ['name not DNS-safe', { body: { name: 'Orders DB', engine: 'postgresql' } }, 400, 'body.name'],
      ['duplicate name', { body: { name: 'orders', engine: 'postgresql' } }, 409, 'name'],
      ['no mongod here', { body: { name: 'cache', engine: 'mongodb' } }, 422, 'body.engine'],
    ];
    for (const [what, request, status, path] of cases) {
      const response = await api('POST', '/v1/projects/e2e/addons', request);
      expect(response.status, what).toBe(status);
      expect(response.headers.get('content-type'), what).toBe('application/problem+json');
      expect(
        response.body.errors.map((error: { path: string }) => error.path),
        what,
      ).toContain(path);
    }
    expect((await api('GET', `/v1/projects/other/addons/${addonId}`)).status).toBe(404);
    expect((await api('GET', '/v1/projects/e2e/nothing-here')).status).toBe(404);
    expect((await api('PUT', '/v1/projects/e2e/addons')).status).toBe(405);
  });

  it('honours Idempotency-Key: the same request twice creates one addon', async () => {
    const request = {
      body: { name: 'idem', engine: 'postgresql' },
      headers: { 'idempotency-key': 'e2e-idem-1' },
    };
    const first = await api('POST', '/v1/projects/e2e/addons', request);
    const second = await api('POST', '/v1/projects/e2e/addons', request);
    expect(first.status).toBe(202);
    expect(second.body).toEqual(first.body);
    await waitForOperation(first.body.operation.id);
  });

  it('lists addons with cursor pagination', async () => {
    const first = await api('GET', '/v1/projects/e2e/addons?limit=1');
    expect(first.body.items).toHaveLength(1);
    expect(first.body.nextCursor).toBeTypeOf('string');
    const second = await api(
      'GET',
      `/v1/projects/e2e/addons?limit=1&cursor=${encodeURIComponent(first.body.nextCursor)}`,
    );
    expect(second.body.items).toHaveLength(1);
    expect(second.body.items[0].id).not.toBe(first.body.items[0].id);
    const operations = await api('GET', `/v1/projects/e2e/addons/${addonId}/operations`);
    expect(operations.body.items.map((op: { type: string }) => op.type)).toEqual(['create']);
  });

  it('stops every engine on Ctrl-C and brings the addons back with their data on restart', async () => {
    expect(await platform?.interrupt()).toBe(0);
    expect(await isListening(credentials.host, credentials.port)).toBe(false);
    expect(await isListening('127.0.0.1', Number(new URL(platform?.url ?? '').port))).toBe(false);
    await start();
    const addon = await api('GET', `/v1/projects/e2e/addons/${addonId}`);
    expect(addon.body.status).toBe('running');
    expect(await sql(credentials, 'SELECT count(*)::int AS n FROM items')).toEqual([{ n: 1000 }]);
  }, 120_000);

  it('recovers from a crash (SIGKILL): addons come back, nothing is stuck', async () => {
    await sql(credentials, "INSERT INTO items VALUES (1001, 'written before the crash')");
    await platform?.kill();
    await start();
    expect(await sql(credentials, 'SELECT label FROM items WHERE id = 1001')).toEqual([
      { label: 'written before the crash' },
    ]);
  }, 120_000);

  it('resumes an operation that a crash interrupted: it completes after the restart', async () => {
    const created = await api('POST', '/v1/projects/e2e/addons', {
      body: { name: 'interrupted', engine: 'postgresql' },
    });
    expect(created.status).toBe(202);
    await platform?.kill();
    await start();
    const operation = await waitForOperation(created.body.operation.id);
    expect(operation.status).toBe('completed');
    const response = await api('GET', `/v1/projects/e2e/addons/${created.body.addon.id}/credentials`);
    expect(await sql(response.body, 'SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
  }, 120_000);

  it('deletes the addon: process gone, data removed, credentials gone', async () => {
    const deleted = await api('DELETE', `/v1/projects/e2e/addons/${addonId}`);
    expect(deleted.status).toBe(202);
    expect((await waitForOperation(deleted.body.operation.id)).status).toBe('completed');
    expect((await api('GET', `/v1/projects/e2e/addons/${addonId}`)).status).toBe(404);
    expect((await api('GET', `/v1/projects/e2e/addons/${addonId}/credentials`)).status).toBe(404);
    expect(await isListening(credentials.host, credentials.port)).toBe(false);
    expect(existsSync(join(dataDir, 'secrets', 'e2e', `${addonId}.json`))).toBe(false);
    const engineDirs = existsSync(join(dataDir, 'engines'))
      ? (await import('node:fs')).readdirSync(join(dataDir, 'engines'))
      : [];
    expect(engineDirs.some((dir) => dir.includes(addonId.replace(/^adn-/, '')))).toBe(false);
  });
});
