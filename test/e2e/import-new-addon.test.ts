import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPostgres, type TestPostgres } from '../jobs/postgres-server.ts';
import { removePlatformData } from '../support/data-dir.ts';
import { client } from '../support/http.ts';
import { closedPort, filesContaining, liveSecretFiles } from '../support/live-sources.ts';
import { operationEnded } from '../support/operations.ts';
import { pgFingerprint } from '../support/pg-fingerprint.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * Addons created with their data, as a user does it over HTTP: `POST .../addons` with
 * `source.import`. A live source is streamed in by the create operation itself (a failure fails
 * the create, deletes the new instance and names host:port, never the password); an upload gets
 * its URL with the addon and is started once the addon runs. Bad input is refused before anything
 * exists.
 */
const TOKEN = 'e2e-import-new-addon-token-0123456';
const PROJECT = 'import-new';
const addonsPath = `/v1/projects/${PROJECT}/addons`;

let dataDir: string;
let platform: PlatformProcess;
let api: ReturnType<typeof client>;
let source: TestPostgres;
let sourceUri: string;
let atSource: Record<string, string>;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-import-new-'));
  platform = await startPlatformProcess({ ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN });
  api = client(platform.url, TOKEN);
  source = await startTestPostgres({ database: 'shop' });
  const db = await source.client('shop');
  try {
    await db.query('CREATE TABLE customers (id int PRIMARY KEY, name text)');
    await db.query("INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 3000) g");
    await db.query('CREATE TABLE orders (id bigserial PRIMARY KEY, customer int REFERENCES customers)');
    await db.query('INSERT INTO orders (customer) SELECT 1 + g % 3000 FROM generate_series(1, 9000) g');
  } finally {
    await db.end();
  }
  const { host, port, username, password } = source.connection;
  sourceUri = `postgresql://${username}:${encodeURIComponent(password)}@${host}:${port}/shop`;
  atSource = await pgFingerprint(sourceUri);
}, 180_000);

afterAll(async () => {
  await source?.stop();
  if (platform?.child.exitCode === null) await platform.interrupt();
  if (dataDir) await removePlatformData(dataDir);
});

const addonNames = async () =>
  ((await api('GET', addonsPath)).body.items as Array<{ name: string }>).map((addon) => addon.name);

describe('creating an addon from an import', () => {
  it('refuses a bad connection string or upload before anything exists (422 naming the field)', async () => {
    for (const [wanted, field] of [
      [{ kind: 'live', connectionString: 'mysql://u:secret-word@127.0.0.1:3306/db' }, 'connectionString'],
      [{ kind: 'live', connectionString: 'not a uri' }, 'connectionString'],
      [{ kind: 'upload', sizeBytes: 1, compression: 'zstd', multipart: 'yes' }, 'multipart'],
    ] as const) {
      const refused = await api('POST', addonsPath, {
        body: { name: 'never-made', engine: 'postgresql', source: { import: wanted } },
      });
      expect(refused.status, JSON.stringify(refused.body)).toBeGreaterThanOrEqual(400);
      expect(refused.status).toBeLessThan(500);
      expect(JSON.stringify(refused.body)).toContain(`source.import.${field}`);
      expect(JSON.stringify(refused.body)).not.toContain('secret-word');
    }
    // Redis addons take RDB files, not live databases.
    const redis = await api('POST', addonsPath, {
      body: {
        name: 'never-made',
        engine: 'redis',
        source: { import: { kind: 'live', connectionString: sourceUri } },
      },
    });
    expect(redis.status).toBe(422);
    expect(JSON.stringify(redis.body)).toContain('body.source.import.kind');
    expect(await addonNames()).not.toContain('never-made');
    expect(await liveSecretFiles(dataDir)).toEqual([]);
  }, 60_000);

  it('fails the create of an unreachable live source naming host:port, and leaves no instance or secret', async () => {
    const port = await closedPort();
    const password = 'unreachable-new-addon-pass';
    const created = await api('POST', addonsPath, {
      body: {
        name: 'from-nowhere',
        engine: 'postgresql',
        source: {
          import: { kind: 'live', connectionString: `postgresql://app:${password}@127.0.0.1:${port}/app` },
        },
      },
    });
    expect(created.status).toBe(202);
    const importId = created.body.import.import.id as string;
    expect(created.body.addon.source).toEqual({ importId, kind: 'live', database: 'from_nowhere' });
    expect(created.body.operation).toMatchObject({ type: 'create', importId });
    const operation = await operationEnded(api, PROJECT, created.body.operation.id, 240_000);
    expect(operation.status).toBe('failed');
    expect(operation.error.message).toContain(`127.0.0.1:${port}`);
    const addonId = created.body.addon.id as string;
    const addon = (await api('GET', `${addonsPath}/${addonId}`)).body;
    expect(addon).toMatchObject({ status: 'failed', endpoint: null, currentOperationId: null });
    const record = (await api('GET', `${addonsPath}/${addonId}/imports/${importId}`)).body;
    expect(record).toMatchObject({ status: 'failed', error: { message: operation.error.message } });
    expect(JSON.stringify({ created: created.body, operation, record })).not.toContain(password);
    expect(await liveSecretFiles(dataDir)).toEqual([]);
    expect(await filesContaining(dataDir, password)).toEqual([]);
  }, 300_000);

  it('streams a live source into the new addon within its create operation: checksums match', async () => {
    const created = await api('POST', addonsPath, {
      body: {
        name: 'shop-copy',
        engine: 'postgresql',
        source: { import: { kind: 'live', connectionString: sourceUri } },
      },
    });
    expect(created.status).toBe(202);
    expect(created.body.import.import).toMatchObject({ kind: 'live', status: 'importing' });
    const importId = created.body.import.import.id as string;
    // The import belongs to the create: it cannot be aborted or started on its own.
    const abort = await api('POST', `${addonsPath}/${created.body.addon.id}/imports/${importId}/abort`);
    expect([409, 404]).toContain(abort.status);
    const operation = await operationEnded(api, PROJECT, created.body.operation.id, 300_000);
    expect(operation).toMatchObject({ status: 'completed', error: null });
    const addonId = created.body.addon.id as string;
    const credentials = (await api('GET', `${addonsPath}/${addonId}/credentials`)).body;
    expect(credentials.database).toBe('shop_copy');
    expect(await pgFingerprint(credentials.uri)).toEqual(atSource);
    const record = (await api('GET', `${addonsPath}/${addonId}/imports/${importId}`)).body;
    expect(record).toMatchObject({ status: 'completed', kind: 'live', operationId: operation.id });
    const password = source.connection.password;
    expect(JSON.stringify({ created: created.body, operation, record })).not.toContain(password);
    expect(platform.output()).not.toContain(password);
    expect(await liveSecretFiles(dataDir)).toEqual([]);
  }, 400_000);

  it('hands out the upload URL with the addon; the file is imported once the addon runs', async () => {
    const dump = spawnSync('pg_dump', ['-Fc', '--no-owner', sourceUri], { maxBuffer: 1024 ** 3 });
    expect(dump.status, String(dump.stderr)).toBe(0);
    const file = dump.stdout;
    const created = await api('POST', addonsPath, {
      body: {
        name: 'shop-upload',
        engine: 'postgresql',
        source: { import: { kind: 'upload', sizeBytes: file.length } },
      },
    });
    expect(created.status).toBe(202);
    const { import: imported, uploadUrl } = created.body.import;
    expect(imported).toMatchObject({ kind: 'upload', status: 'awaiting-upload', sizeBytes: file.length });
    expect(created.body.addon.source).toEqual({
      importId: imported.id,
      kind: 'upload',
      database: 'shop_upload',
    });
    // The upload does not wait for the addon.
    expect((await fetch(uploadUrl, { method: 'PUT', body: file })).status).toBe(200);
    const addonId = created.body.addon.id as string;
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    const started = await api('POST', `${addonsPath}/${addonId}/imports/${imported.id}/start`, { body: {} });
    expect(started.status).toBe(202);
    expect((await operationEnded(api, PROJECT, started.body.operation.id, 240_000)).status).toBe('completed');
    const credentials = (await api('GET', `${addonsPath}/${addonId}/credentials`)).body;
    expect(await pgFingerprint(credentials.uri)).toEqual(atSource);
  }, 400_000);

  it('takes the import back when the create is refused (name taken)', async () => {
    const refused = await api('POST', addonsPath, {
      body: {
        name: 'shop-copy',
        engine: 'postgresql',
        source: { import: { kind: 'live', connectionString: sourceUri } },
      },
    });
    expect(refused.status).toBe(409);
    expect(await liveSecretFiles(dataDir)).toEqual([]);
  }, 60_000);
});
