import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPostgres, type TestPostgres } from '../jobs/postgres-server.ts';
import { removePlatformData } from '../support/data-dir.ts';
import { client } from '../support/http.ts';
import { closedPort, filesContaining, liveSecretFiles } from '../support/live-sources.ts';
import { mariadbRows } from '../support/mariadb-cli.ts';
import { operationEnded } from '../support/operations.ts';
import { pgFingerprint, pgQuery } from '../support/pg-fingerprint.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * Live imports as a user does them over HTTP: a PostgreSQL server this test starts itself (and a
 * MariaDB reached by TCP: another addon's server) is streamed into an addon through
 * `POST .../imports {"kind":"live"}` then `.../start`; per-table checksums compare. Unreachable
 * and refused sources fail the operation naming host:port, never the password, and leave the
 * addon's data as it was. The password is looked for everywhere the platform writes: the API's
 * answers, its logs (the jobs' included) and every file of its data directory (store, workflow
 * state, secrets) once the import ended.
 */
const TOKEN = 'e2e-live-imports-token-0123456';
const PROJECT = 'live-imports';
const addonPath = (addonId: string) => `/v1/projects/${PROJECT}/addons/${addonId}`;

let dataDir: string;
let platform: PlatformProcess;
let api: ReturnType<typeof client>;
let sourcePg: TestPostgres | undefined;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-live-imports-'));
  platform = await startPlatformProcess({ ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN });
  api = client(platform.url, TOKEN);
}, 120_000);

afterAll(async () => {
  await sourcePg?.stop();
  if (platform?.child.exitCode === null) await platform.interrupt();
  if (dataDir) await removePlatformData(dataDir);
});

const createAddon = async (name: string, engine: string) => {
  const created = await api('POST', `/v1/projects/${PROJECT}/addons`, { body: { name, engine } });
  expect(created.status).toBe(202);
  const operation = await operationEnded(api, PROJECT, created.body.operation.id);
  expect(operation.status).toBe('completed');
  const addonId = created.body.addon.id as string;
  const credentials = (await api('GET', `${addonPath(addonId)}/credentials`)).body;
  return { addonId, credentials };
};

/** Create a live import and start it; returns the import and its ended operation. */
const liveImport = async (addonId: string, connectionString: string) => {
  const created = await api('POST', `${addonPath(addonId)}/imports`, {
    body: { kind: 'live', connectionString },
  });
  expect(created.status).toBe(201);
  expect(created.body.import).toMatchObject({ kind: 'live', status: 'awaiting-start', sizeBytes: null });
  expect(created.body.uploadUrl).toBeUndefined();
  const importId = created.body.import.id as string;
  const started = await api('POST', `${addonPath(addonId)}/imports/${importId}/start`, { body: {} });
  expect(started.status).toBe(202);
  expect(started.body.operation).toMatchObject({ type: 'restore', importId });
  const operation = await operationEnded(api, PROJECT, started.body.operation.id, 240_000);
  const record = (await api('GET', `${addonPath(addonId)}/imports/${importId}`)).body;
  return { created: created.body, started: started.body, operation, record };
};

describe('live imports into PostgreSQL addons', () => {
  let target: { addonId: string; credentials: { uri: string } };
  let source: TestPostgres;
  let before: Record<string, string>;
  const passwordOf = () => source.connection.password;

  it('refuses a connection string of another engine or without a password (422 naming the field)', async () => {
    target = await createAddon('live-target', 'postgresql');
    await pgQuery(target.credentials.uri, 'CREATE TABLE mine (id int PRIMARY KEY, note text)');
    await pgQuery(target.credentials.uri, "INSERT INTO mine VALUES (1, 'kept'), (2, 'also kept')");
    before = await pgFingerprint(target.credentials.uri);
    for (const connectionString of [
      'mysql://u:secret-word@127.0.0.1:3306/db',
      'postgresql://u@127.0.0.1:5432/db',
      'postgresql://u:secret-word@127.0.0.1:99999/db',
      'not a uri',
    ]) {
      const refused = await api('POST', `${addonPath(target.addonId)}/imports`, {
        body: { kind: 'live', connectionString },
      });
      expect(refused.status).toBe(422);
      expect(JSON.stringify(refused.body)).toContain('body.connectionString');
      expect(JSON.stringify(refused.body)).not.toContain('secret-word');
    }
    expect(await liveSecretFiles(dataDir)).toEqual([]);
  }, 180_000);

  it('fails an unreachable source naming host:port, without the password; the addon keeps its data', async () => {
    const port = await closedPort();
    const password = 'unreachable-pass-4242';
    const { operation, record, created } = await liveImport(
      target.addonId,
      `postgresql://app:${password}@127.0.0.1:${port}/app`,
    );
    expect(operation.status).toBe('failed');
    expect(operation.error.message).toContain(`127.0.0.1:${port}`);
    expect(operation.error.message).toMatch(/not reachable/);
    expect(record).toMatchObject({ status: 'failed', error: operation.error });
    expect(record.source).toEqual({ host: '127.0.0.1', port, database: 'app', username: 'app', tls: false });
    for (const text of [JSON.stringify(operation), JSON.stringify(record), JSON.stringify(created)]) {
      expect(text).not.toContain(password);
    }
    expect(await pgFingerprint(target.credentials.uri)).toEqual(before);
    // Its connection string went with the failure: starting again is a 409, not a retry.
    const again = await api('POST', `${addonPath(target.addonId)}/imports/${record.id}/start`, { body: {} });
    expect(again.status).toBe(409);
    expect(await liveSecretFiles(dataDir)).toEqual([]);
  }, 240_000);

  it('fails a wrong password naming host:port, without the password; the addon keeps its data', async () => {
    source = await startTestPostgres({ database: 'shop' });
    sourcePg = source;
    const wrong = `${passwordOf()}-wrong`;
    const { host, port, username } = source.connection;
    const { operation, record } = await liveImport(
      target.addonId,
      `postgresql://${username}:${encodeURIComponent(wrong)}@${host}:${port}/shop`,
    );
    expect(operation.status).toBe('failed');
    expect(operation.error.message).toContain(`${host}:${port}`);
    expect(operation.error.message).toMatch(/password authentication failed/);
    for (const text of [JSON.stringify(operation), JSON.stringify(record)]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(passwordOf());
    }
    expect(await pgFingerprint(target.credentials.uri)).toEqual(before);
  }, 240_000);

  it('streams a live server into the addon: per-table checksums match, the password is nowhere', async () => {
    const db = await source.client('shop');
    try {
      await db.query('CREATE TABLE customers (id int PRIMARY KEY, name text, joined date)');
      await db.query(
        "INSERT INTO customers SELECT g, 'customer ' || g, date '2020-01-01' + g FROM generate_series(1, 5000) g",
      );
      await db.query(
        'CREATE TABLE orders (id bigserial PRIMARY KEY, customer int REFERENCES customers, total numeric)',
      );
      await db.query(
        'INSERT INTO orders (customer, total) SELECT 1 + g % 5000, g * 0.25 FROM generate_series(1, 20000) g',
      );
      await db.query('CREATE INDEX orders_customer ON orders (customer)');
    } finally {
      await db.end();
    }
    const { host, port, username } = source.connection;
    const sourceUri = `postgresql://${username}:${encodeURIComponent(passwordOf())}@${host}:${port}/shop`;
    const atSource = await pgFingerprint(sourceUri);
    expect(Object.keys(atSource)).toEqual(['customers', 'orders']);

    const { operation, record, started } = await liveImport(target.addonId, sourceUri);
    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(record).toMatchObject({ status: 'completed', kind: 'live', error: null });
    // The source's data replaced the addon's: its tables, and the addon's own table is gone.
    expect(await pgFingerprint(target.credentials.uri)).toEqual(atSource);
    // The sequence came along: the next order gets the next id.
    const [next] = await pgQuery(
      target.credentials.uri,
      'INSERT INTO orders (customer, total) VALUES (1, 1) RETURNING id',
    );
    expect(Number(next?.id)).toBe(20001);

    const password = passwordOf();
    for (const text of [JSON.stringify(operation), JSON.stringify(record), JSON.stringify(started)]) {
      expect(text).not.toContain(password);
    }
    const listed = await api('GET', `${addonPath(target.addonId)}/imports`);
    expect(JSON.stringify(listed.body)).not.toContain(password);
    expect(platform.output()).not.toContain(password);
    expect(await liveSecretFiles(dataDir)).toEqual([]);
    expect(await filesContaining(dataDir, password)).toEqual([]);
  }, 300_000);
});

describe('live imports into MySQL addons', () => {
  it('streams another MariaDB server (reached by TCP) into the addon; rows match', async () => {
    const source = await createAddon('live-mysql-source', 'mysql');
    const target = await createAddon('live-mysql-target', 'mysql');
    mariadbRows(
      source.credentials,
      `CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(64), price DECIMAL(10,2));
       INSERT INTO items SELECT seq, CONCAT('item ', seq), seq / 4 FROM seq_1_to_3000;
       CREATE TABLE tags (item INT, tag VARCHAR(16), PRIMARY KEY (item, tag));
       INSERT INTO tags SELECT seq, 'sale' FROM seq_1_to_500;`,
    );
    mariadbRows(target.credentials, 'CREATE TABLE mine (id INT); INSERT INTO mine VALUES (7);');
    const checksum = (credentials: typeof source.credentials) =>
      mariadbRows(credentials, 'CHECKSUM TABLE items, tags EXTENDED').map(([table, sum]) => [
        table?.split('.').pop(),
        sum,
      ]);
    const atSource = checksum(source.credentials);

    const { host, port, username, password, database } = source.credentials;
    const badPassword = `${password}-nope`;
    const refused = await liveImport(
      target.addonId,
      `mysql://${username}:${encodeURIComponent(badPassword)}@${host}:${port}/${database}`,
    );
    expect(refused.operation.status).toBe('failed');
    expect(refused.operation.error.message).toContain(`${host}:${port}`);
    expect(JSON.stringify(refused)).not.toContain(badPassword);
    expect(mariadbRows(target.credentials, 'SELECT id FROM mine')).toEqual([['7']]);

    const { operation, record } = await liveImport(
      target.addonId,
      `mysql://${username}:${encodeURIComponent(password)}@${host}:${port}/${database}`,
    );
    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(record).toMatchObject({ status: 'completed', kind: 'live' });
    expect(checksum(target.credentials)).toEqual(atSource);
    expect(mariadbRows(target.credentials, "SHOW TABLES LIKE 'mine'")).toEqual([]);
    expect(JSON.stringify({ operation, record })).not.toContain(password);
    expect(platform.output()).not.toContain(badPassword);
    expect(await liveSecretFiles(dataDir)).toEqual([]);
  }, 400_000);
});
