import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isListening } from '../support/http.ts';
import { localPlatformForFile } from '../support/local-platform.ts';
import { operationEnded } from '../support/operations.ts';
import { eventually, processAlive, processWhoseCommandLine } from '../support/processes.ts';

/**
 * Read replicas of a local PostgreSQL addon through the API: `replicas: 1` makes a streaming hot
 * standby whose endpoint the connection details publish; a row written on the primary shows up
 * there, a write there is refused; `replicas: 0` stops its process and closes its port.
 */
const TOKEN = 'e2e-replicas-token-0123456789';
const PROJECT = 'replicas';
const api = localPlatformForFile('replicas', TOKEN);
const addonPath = (addonId: string) => `/v1/projects/${PROJECT}/addons/${addonId}`;

interface Endpoint {
  host: string;
  port: number;
  uri: string;
}

const withClient = async <T>(uri: string, fn: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: uri, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
};

/** The server process listening on `port`: the one whose command line says `-p <port>`. */
const serverPidOn = (port: number): number | undefined =>
  processWhoseCommandLine((line) => line.includes(` -p ${port} `));

const setReplicas = async (addonId: string, replicas: number) => {
  const response = await api('PATCH', addonPath(addonId), { body: { replicas } });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  expect(response.body.operation).toMatchObject({ type: 'update-replicas', replicas });
  const ended = await operationEnded(api, PROJECT, response.body.operation.id, 60_000);
  expect(ended.status, JSON.stringify(ended.error)).toBe('completed');
  const credentials = await api('GET', `${addonPath(addonId)}/credentials`);
  expect(credentials.status).toBe(200);
  return credentials.body as { uri: string; replicas?: Endpoint[] };
};

describe('read replicas of a local PostgreSQL addon', () => {
  let addonId: string;

  it('refuses more replicas than the catalog allows, naming the field', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'replica-pg', engine: 'postgresql' },
    });
    expect(created.status).toBe(202);
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    addonId = created.body.addon.id;
    const types = await api('GET', '/v1/addon-types');
    const postgres = types.body.items.find((item: { engine: string }) => item.engine === 'postgresql');
    expect(postgres.capabilities.replicas).toBe(true);
    const tooMany = await api('PATCH', addonPath(addonId), { body: { replicas: postgres.maxReplicas + 1 } });
    expect(tooMany.status).toBe(422);
    expect(JSON.stringify(tooMany.body.errors ?? tooMany.body)).toContain('body.replicas');
    const negative = await api('PATCH', addonPath(addonId), { body: { replicas: -1 } });
    expect(negative.status).toBe(400);
    expect(JSON.stringify(negative.body)).toContain('replicas');
  });

  it('adds a streaming replica: rows written on the primary are read there, writes there are refused', async () => {
    const credentials = await setReplicas(addonId, 1);
    expect(credentials.replicas).toHaveLength(1);
    const replica = credentials.replicas?.[0] as Endpoint;
    expect(replica.port).not.toBe(new URL(credentials.uri).port);
    await withClient(credentials.uri, async (primary) => {
      await primary.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
      await primary.query("INSERT INTO notes VALUES (1, 'from the primary')");
    });
    const row = await eventually('the row on the replica', () =>
      withClient(
        replica.uri,
        async (client) => (await client.query('SELECT body FROM notes WHERE id = 1')).rows[0],
      ),
    );
    expect(row).toEqual({ body: 'from the primary' });
    await withClient(replica.uri, async (client) => {
      await expect(client.query("INSERT INTO notes VALUES (2, 'on the replica')")).rejects.toThrow(
        /read-only transaction/,
      );
    });
  });

  it('sizes the replica like its primary after a plan change: it restarts with the new max_connections and keeps following', async () => {
    const response = await api('PATCH', addonPath(addonId), { body: { plan: 'small' } });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    const ended = await operationEnded(api, PROJECT, response.body.operation.id, 60_000);
    expect(ended.status, JSON.stringify(ended.error)).toBe('completed');
    const credentials = (await api('GET', `${addonPath(addonId)}/credentials`)).body as {
      uri: string;
      replicas: Endpoint[];
    };
    const setting = (uri: string) =>
      withClient(uri, async (client) => (await client.query('SHOW max_connections')).rows[0].max_connections);
    const primaryLimit = await setting(credentials.uri);
    expect(Number(primaryLimit)).toBeGreaterThan(112);
    expect(
      await eventually('the replica with the new limit', () =>
        setting(credentials.replicas[0]?.uri as string),
      ),
    ).toBe(primaryLimit);
    await withClient(credentials.uri, (client) =>
      client.query("INSERT INTO notes VALUES (3, 'after the plan change')"),
    );
    const row = await eventually('the new row on the replica', () =>
      withClient(
        credentials.replicas[0]?.uri as string,
        async (client) => (await client.query('SELECT body FROM notes WHERE id = 3')).rows[0],
      ),
    );
    expect(row).toEqual({ body: 'after the plan change' });
  }, 120_000);

  it('removes it at replicas 0: its process ends and its port closes', async () => {
    const before = await api('GET', `${addonPath(addonId)}/credentials`);
    const replica = before.body.replicas[0] as Endpoint;
    const pid = serverPidOn(replica.port);
    expect(pid).toBeDefined();
    expect(processAlive(pid as number)).toBe(true);
    const credentials = await setReplicas(addonId, 0);
    expect(credentials.replicas).toBeUndefined();
    expect(processAlive(pid as number)).toBe(false);
    expect(await isListening('127.0.0.1', replica.port)).toBe(false);
    const addon = await api('GET', addonPath(addonId));
    expect(addon.body).toMatchObject({ replicas: 0, status: 'running' });
  });
});
