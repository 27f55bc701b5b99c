import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { pollUntil } from '../support/http.ts';
import { localPlatformForFile } from '../support/local-platform.ts';
import { mariadbRows } from '../support/mariadb-cli.ts';
import { operationEnded } from '../support/operations.ts';
import { pgQuery } from '../support/pg-fingerprint.ts';

/**
 * Credential rotation on the local target, as a user meets it: the API over HTTP and the real
 * clients of each engine (node-postgres, the `mariadb` client, `redis-cli`) connecting with the
 * connection details. For every engine: after rotate both the previous and the new credentials
 * connect and GET .../credentials answers the new ones; after finish (by the user, or by the
 * deadline and the scheduler's tick) the previous ones are refused and the new ones still work.
 */
const TOKEN = 'e2e-rotation-token-0123456789';
const PROJECT = 'rotation';
// A short tick, so a deadline of one second is swept promptly.
const api = localPlatformForFile('rotation', TOKEN, { ADDONS_SCHEDULER_TICK_MS: '200' });
const addonPath = (addonId: string) => `/v1/projects/${PROJECT}/addons/${addonId}`;

interface Credentials {
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
  uri: string;
}

/** Each engine's way to tell whether credentials connect: resolves when they do, rejects with the server's refusal. */
const connects: Record<string, (credentials: Credentials) => Promise<unknown>> = {
  postgresql: async (credentials) => {
    const [row] = await pgQuery(credentials.uri, 'SELECT current_user AS acting, session_user AS login');
    return row;
  },
  mysql: async (credentials) => mariadbRows(credentials, 'SELECT CURRENT_USER()'),
  redis: async (credentials) => {
    const run = spawnSync('redis-cli', ['-u', credentials.uri, '--no-auth-warning', 'PING'], {
      encoding: 'utf8',
    });
    const output = `${run.stdout}${run.stderr}`.trim();
    if (output !== 'PONG') throw new Error(`redis-cli: ${output}`);
    return output;
  },
};

const createRunning = async (engine: string, name: string) => {
  const created = await api('POST', `/v1/projects/${PROJECT}/addons`, { body: { name, engine } });
  expect(created.status).toBe(202);
  expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
  return created.body.addon.id as string;
};
const credentialsOf = async (addonId: string): Promise<Credentials> => {
  const response = await api('GET', `${addonPath(addonId)}/credentials`);
  expect(response.status).toBe(200);
  return response.body;
};
const rotate = async (addonId: string, body: Record<string, unknown> = {}) => {
  const response = await api('POST', `${addonPath(addonId)}/credentials/rotate`, { body });
  expect(response.status).toBe(200);
  expect(response.body.operation).toMatchObject({ type: 'rotate-credentials', status: 'completed' });
  return response.body as { credentials: Credentials; addon: { credentialRotation: unknown } };
};
const REFUSED = /password authentication failed|Access denied|locked|WRONGPASS/i;

describe.each([
  { engine: 'postgresql', name: 'rotate-pg' },
  { engine: 'mysql', name: 'rotate-maria' },
  { engine: 'redis', name: 'rotate-redis' },
])('credential rotation of a $engine addon', ({ engine, name }) => {
  const connect = connects[engine] as (credentials: Credentials) => Promise<unknown>;
  let addonId: string;

  it('rotates: the previous and the new credentials both connect, and GET answers the new ones', async () => {
    addonId = await createRunning(engine, name);
    const before = await credentialsOf(addonId);
    await connect(before);
    const { credentials, addon } = await rotate(addonId);
    expect(credentials.password).not.toBe(before.password);
    expect(addon.credentialRotation).toMatchObject({ previousUsername: before.username });
    expect(await credentialsOf(addonId)).toEqual(credentials);
    await connect(before);
    await connect(credentials);
    if (engine === 'postgresql') {
      // The second login acts as the addon's role: what it creates belongs to the addon's role.
      expect(await connect(credentials)).toEqual({ acting: before.username, login: credentials.username });
      await pgQuery(credentials.uri, 'CREATE TABLE rotated (id int)');
      const [owner] = await pgQuery(
        before.uri,
        "SELECT tableowner FROM pg_tables WHERE tablename = 'rotated'",
      );
      expect(owner?.tableowner).toBe(before.username);
    }
    if (engine === 'redis') expect(credentials.username).toBe(before.username);

    const finished = await api('POST', `${addonPath(addonId)}/credentials/rotate/finish`);
    expect(finished.status).toBe(200);
    expect(finished.body.addon.credentialRotation).toBeNull();
    await expect(connect(before)).rejects.toThrow(REFUSED);
    await connect(credentials);
    expect(await credentialsOf(addonId)).toEqual(credentials);
  });

  it('retires the previous credentials by the deadline, on the scheduler tick', async () => {
    const before = await credentialsOf(addonId);
    const { credentials } = await rotate(addonId, { retireAfterSeconds: 1 });
    await connect(before);
    await connect(credentials);
    await pollUntil(
      async () => (await api('GET', addonPath(addonId))).body.credentialRotation,
      (rotation) => rotation === null,
      { timeoutMs: 30_000, what: 'the rotation to be finished by its deadline' },
    );
    await expect(connect(before)).rejects.toThrow(REFUSED);
    await connect(credentials);
  });
});

describe.each([
  { engine: 'postgresql', name: 'restore-pg' },
  { engine: 'mysql', name: 'restore-maria' },
])('a $engine snapshot taken before a rotation', ({ engine, name }) => {
  const connect = connects[engine] as (credentials: Credentials) => Promise<unknown>;

  it('restores with the published credentials working, though the snapshot holds the logins of before', async () => {
    const addonId = await createRunning(engine, name);
    const before = await credentialsOf(addonId);
    const snapshot = await api('POST', `${addonPath(addonId)}/backups`, { body: { type: 'snapshot' } });
    expect(snapshot.status).toBe(202);
    expect((await operationEnded(api, PROJECT, snapshot.body.operation.id)).status).toBe('completed');
    // Two rotations: the published login is the addon's user again, with a password the snapshot never saw.
    for (let i = 0; i < 2; i++) {
      await rotate(addonId);
      expect((await api('POST', `${addonPath(addonId)}/credentials/rotate/finish`)).status).toBe(200);
    }
    const published = await credentialsOf(addonId);
    expect(published.username).toBe(before.username);
    await expect(connect(before)).rejects.toThrow(REFUSED);

    const restore = await api('POST', `${addonPath(addonId)}/backups/${snapshot.body.backup.id}/restore`);
    expect(restore.status).toBe(202);
    expect((await operationEnded(api, PROJECT, restore.body.operation.id)).status).toBe('completed');
    await connect(published);
    await expect(connect(before)).rejects.toThrow(REFUSED);
  });
});

// One engine: every engine's fork seed settles its logins by the same step (restore-endpoint.ts).
describe('a fork from a snapshot of a PostgreSQL addon in mid-rotation', () => {
  const engine = 'postgresql';
  const name = 'fork-pg';
  const connect = connects[engine] as (credentials: Credentials) => Promise<unknown>;

  it("opens with the fork's credentials only: neither of the source's logins in the copy works on it", async () => {
    const sourceId = await createRunning(engine, name);
    const previous = await credentialsOf(sourceId);
    // Both of the source's logins work while its rotation is open: the snapshot holds both.
    const { credentials: current } = await rotate(sourceId);
    const snapshot = await api('POST', `${addonPath(sourceId)}/backups`, { body: { type: 'snapshot' } });
    expect(snapshot.status).toBe(202);
    expect((await operationEnded(api, PROJECT, snapshot.body.operation.id)).status).toBe('completed');

    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: {
        name: `${name}-copy`,
        engine,
        source: { addonId: sourceId, backupId: snapshot.body.backup.id },
      },
    });
    expect(created.status).toBe(202);
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    const fork = await credentialsOf(created.body.addon.id);
    await connect(fork);
    // The source's logins, pointed at the fork.
    const atFork = (login: Credentials): Credentials => ({
      ...login,
      host: fork.host,
      port: fork.port,
      uri: login.uri.replace(`@${login.host}:${login.port}/`, `@${fork.host}:${fork.port}/`),
    });
    for (const login of [previous, current]) {
      expect(atFork(login).uri).toContain(`:${fork.port}/`);
      await expect(connect(atFork(login))).rejects.toThrow(REFUSED);
    }
    await connect(current);
  }, 90_000);
});

describe.each([
  { engine: 'postgresql', name: 'dump-pg', table: 'CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)' },
  { engine: 'mysql', name: 'dump-maria', table: 'CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)' },
])('dump jobs of a $engine addon on its second user', ({ engine, name, table }) => {
  it('back up and restore with the rotated credentials (the jobs use the published ones)', async () => {
    const addonId = await createRunning(engine, name);
    const { credentials } = await rotate(addonId);
    expect(credentials.username).toMatch(/_2$/);
    if (engine === 'postgresql') await pgQuery(credentials.uri, table);
    else mariadbRows(credentials, `${table};`);
    const dump = await api('POST', `${addonPath(addonId)}/backups`, { body: { type: 'dump' } });
    expect(dump.status).toBe(202);
    expect((await operationEnded(api, PROJECT, dump.body.operation.id)).status).toBe('completed');
    const restore = await api('POST', `${addonPath(addonId)}/backups/${dump.body.backup.id}/restore`);
    expect(restore.status).toBe(202);
    const restored = await operationEnded(api, PROJECT, restore.body.operation.id);
    expect(restored.error).toBeNull();
    const rows =
      engine === 'postgresql'
        ? (await pgQuery(credentials.uri, 'SELECT id FROM kept')).map((row) => String(row.id))
        : mariadbRows(credentials, 'SELECT id FROM kept;').map((row) => row[0]);
    expect(rows).toEqual(['7']);
  });
});

describe('credential rotation refusals', () => {
  it('answers 409 while another operation holds the addon, and the credentials stay as they were', async () => {
    const addonId = await createRunning('postgresql', 'rotate-busy');
    const before = await credentialsOf(addonId);
    const backup = await api('POST', `${addonPath(addonId)}/backups`, { body: { type: 'dump' } });
    expect(backup.status).toBe(202);
    const refused = await api('POST', `${addonPath(addonId)}/credentials/rotate`, { body: {} });
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain(backup.body.operation.id);
    expect((await operationEnded(api, PROJECT, backup.body.operation.id)).status).toBe('completed');
    expect(await credentialsOf(addonId)).toEqual(before);
    await pgQuery(before.uri, 'SELECT 1');
  });
});
