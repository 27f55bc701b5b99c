import { spawnSync } from 'node:child_process';
import mysql from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { isListening } from '../support/http.ts';
import { localPlatformForFile } from '../support/local-platform.ts';
import { backUpAndWait, operationEnded } from '../support/operations.ts';
import { eventually, processAlive, processWhoseCommandLine } from '../support/processes.ts';

/**
 * Read replicas of a local MySQL (MariaDB) and a local Redis addon through the API, one addon of
 * each on one platform: `replicas: 1` (PATCH for MySQL, at create for Redis) makes a replica whose
 * endpoint the connection details publish; data written on the primary is read there with the
 * addon's own user, a write there is refused; `replicas: 0` stops its process and closes its port.
 */
const TOKEN = 'e2e-replicas-mysql-redis-token-0123';
const PROJECT = 'replicas-mr';
const api = localPlatformForFile('replicas-mr', TOKEN);
const addonPath = (addonId: string) => `/v1/projects/${PROJECT}/addons/${addonId}`;

interface Endpoint {
  host: string;
  port: number;
  uri: string;
}
interface Credentials {
  uri: string;
  replicas?: Endpoint[];
}

/** The server process on `port`: mariadbd's command line says `--port=<port>`, redis-server's title `127.0.0.1:<port>`. */
const serverPidOn = (port: number): number | undefined =>
  processWhoseCommandLine(
    (line) =>
      line.includes(`--port=${port} `) || new RegExp(`redis-server 127\\.0\\.0\\.1:${port}\\b`).test(line),
  );

const create = async (name: string, engine: string, replicas = 0): Promise<string> => {
  const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
    body: { name, engine, ...(replicas ? { replicas } : {}) },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  const ended = await operationEnded(api, PROJECT, created.body.operation.id);
  expect(ended.status, JSON.stringify(ended.error)).toBe('completed');
  return created.body.addon.id;
};

const setReplicas = async (addonId: string, replicas: number): Promise<Credentials> => {
  const response = await api('PATCH', addonPath(addonId), { body: { replicas } });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  expect(response.body.operation).toMatchObject({ type: 'update-replicas', replicas });
  const ended = await operationEnded(api, PROJECT, response.body.operation.id, 60_000);
  expect(ended.status, JSON.stringify(ended.error)).toBe('completed');
  const credentials = await api('GET', `${addonPath(addonId)}/credentials`);
  expect(credentials.status).toBe(200);
  return credentials.body as Credentials;
};

const sql = async (uri: string, text: string) => {
  const connection = await mysql.createConnection({ uri, connectTimeout: 5_000 });
  try {
    return (await connection.query(text))[0] as Array<Record<string, unknown>>;
  } finally {
    await connection.end();
  }
};

/** `redis-cli -u <uri>`: its output (error replies included, as redis-cli prints them). */
const redisCli = (uri: string, ...command: string[]): string => {
  const run = spawnSync('redis-cli', ['-u', uri, '--no-auth-warning', ...command], { encoding: 'utf8' });
  return `${run.stdout}${run.stderr}`.trim();
};

describe('read replicas of local MySQL (MariaDB) and Redis addons', () => {
  const addons = { mysql: '', redis: '' };
  const replicas: Record<'mysql' | 'redis', Endpoint | undefined> = { mysql: undefined, redis: undefined };

  it('adds one replica to each (Redis at create): the catalog offers them, the connection details publish them', async () => {
    const types = await api('GET', '/v1/addon-types');
    for (const engine of ['mysql', 'redis']) {
      const type = types.body.items.find((item: { engine: string }) => item.engine === engine);
      expect(type.capabilities.replicas).toBe(true);
      expect(type.maxReplicas).toBe(5);
    }
    // MySQL gets its replica by PATCH, Redis at create (the provision workflow makes it).
    [addons.mysql, addons.redis] = await Promise.all([
      create('replica-my', 'mysql'),
      create('replica-rd', 'redis', 1),
    ]);
    expect((await api('GET', addonPath(addons.redis))).body).toMatchObject({
      replicas: 1,
      status: 'running',
    });
    const [mysqlDetails, redisDetails] = await Promise.all([
      setReplicas(addons.mysql, 1),
      api('GET', `${addonPath(addons.redis)}/credentials`).then((response) => response.body as Credentials),
    ]);
    for (const details of [mysqlDetails, redisDetails]) {
      expect(details.replicas).toHaveLength(1);
      const replica = details.replicas?.[0] as Endpoint;
      expect(replica.host).toBe('127.0.0.1');
      expect(String(replica.port)).not.toBe(new URL(details.uri).port);
      expect(new URL(replica.uri).username).toBe(new URL(details.uri).username);
    }
    replicas.mysql = mysqlDetails.replicas?.[0];
    replicas.redis = redisDetails.replicas?.[0];

    const primary = mysqlDetails.uri;
    await sql(primary, 'CREATE TABLE notes (id int PRIMARY KEY, body text)');
    await sql(primary, "INSERT INTO notes VALUES (1, 'from the primary')");
    expect(redisCli(redisDetails.uri, 'SET', 'greeting', 'from the primary')).toBe('OK');
  }, 120_000);

  it('a MariaDB replica serves the rows written on the primary and refuses writes', async () => {
    const uri = replicas.mysql?.uri as string;
    const rows = await eventually('the row on the replica', async () => {
      const found = await sql(uri, 'SELECT body FROM notes WHERE id = 1');
      return found.length > 0 ? found : undefined;
    });
    expect(rows).toEqual([{ body: 'from the primary' }]);
    await expect(sql(uri, "INSERT INTO notes VALUES (2, 'on the replica')")).rejects.toThrow(/read-only/);
  });

  it('a Redis replica serves the keys written on the primary and refuses writes', async () => {
    const uri = replicas.redis?.uri as string;
    const value = await eventually('the key on the replica', async () => {
      const found = redisCli(uri, 'GET', 'greeting');
      return found === 'from the primary' ? found : undefined;
    });
    expect(value).toBe('from the primary');
    expect(redisCli(uri, 'SET', 'greeting', 'on the replica')).toMatch(/READONLY/);
  });

  it('a snapshot restore of the MySQL addon seeds its replica again: the published URI serves exactly the restored rows, then follows', async () => {
    const primary = ((await api('GET', `${addonPath(addons.mysql)}/credentials`)).body as Credentials).uri;
    const uri = replicas.mysql?.uri as string;
    const { backupId, operation } = await backUpAndWait(api, PROJECT, addonPath(addons.mysql), {
      type: 'snapshot',
    });
    expect(operation.error).toBeNull();
    await sql(primary, "INSERT INTO notes VALUES (3, 'after the snapshot')");
    await eventually('the later row on the replica', async () =>
      (await sql(uri, 'SELECT id FROM notes WHERE id = 3')).length > 0 ? true : undefined,
    );
    const response = await api('POST', `${addonPath(addons.mysql)}/backups/${backupId}/restore`);
    expect(response.status).toBe(202);
    const ended = await operationEnded(api, PROJECT, response.body.operation.id, 60_000);
    expect(ended.status, JSON.stringify(ended.error)).toBe('completed');
    // At once: the operation completed only once the replica followed the restored primary.
    expect(await sql(uri, 'SELECT id, body FROM notes ORDER BY id')).toEqual([
      { id: 1, body: 'from the primary' },
    ]);
    await sql(primary, "INSERT INTO notes VALUES (4, 'after the restore')");
    await eventually('the new row on the replica', async () =>
      (await sql(uri, 'SELECT id FROM notes WHERE id = 4')).length > 0 ? true : undefined,
    );
  }, 120_000);

  it('removes them at replicas 0: their processes end and their ports close', async () => {
    const ports = [replicas.mysql?.port as number, replicas.redis?.port as number];
    const pids = ports.map(serverPidOn);
    for (const pid of pids) expect(pid !== undefined && processAlive(pid)).toBe(true);
    const after = await Promise.all([setReplicas(addons.mysql, 0), setReplicas(addons.redis, 0)]);
    for (const details of after) expect(details.replicas).toBeUndefined();
    for (const pid of pids) expect(processAlive(pid as number)).toBe(false);
    for (const port of ports) expect(await isListening('127.0.0.1', port)).toBe(false);
    for (const addonId of Object.values(addons)) {
      expect((await api('GET', addonPath(addonId))).body).toMatchObject({ replicas: 0, status: 'running' });
    }
  });
});
