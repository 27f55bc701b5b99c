import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removePlatformData } from '../support/data-dir.ts';
import { client } from '../support/http.ts';
import { backUpAndWait, operationEnded } from '../support/operations.ts';
import {
  type PlatformProcess,
  restartUntilRunning,
  startPlatformProcess,
} from '../support/platform-process.ts';

/**
 * Redis addons on the local target, as a user meets them: the API over HTTP, a real redis-server
 * per addon, and the real `redis-cli` connecting with the URI from the connection details.
 */
const TOKEN = 'e2e-redis-token-0123456789';
const PROJECT = 'redis-e2e';
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;
let addonId: string;
let credentials: {
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
  uri: string;
};
const base = () => `/v1/projects/${PROJECT}/addons/${addonId}`;

/** `redis-cli` with the given connection arguments; its reply as text (errors included, as redis-cli prints them). */
const cli = (args: string[], command: string[]) => {
  const run = spawnSync('redis-cli', [...args, '--no-auth-warning', ...command], { encoding: 'utf8' });
  if (run.status !== 0 && !run.stdout) throw new Error(`redis-cli exited ${run.status}: ${run.stderr}`);
  return run.stdout.trim();
};
/** As the addon's user, through the URI of its connection details. */
const redis = (...command: string[]) => cli(['-u', credentials.uri], command);

/** Every key with its type and value, as redis-cli shows them. */
const snapshotOfKeys = () => {
  const keys = redis('--scan').split('\n').filter(Boolean).sort();
  return Object.fromEntries(
    keys.map((key) => {
      const type = redis('TYPE', key);
      const readers: Record<string, () => string> = {
        string: () => redis('GET', key),
        list: () => redis('LRANGE', key, '0', '-1'),
        hash: () => redis('HGETALL', key),
        set: () => redis('SMEMBERS', key).split('\n').sort().join('\n'),
        zset: () => redis('ZRANGE', key, '0', '-1', 'WITHSCORES'),
        stream: () => redis('XRANGE', key, '-', '+'),
      };
      const value = readers[type]?.();
      return [key, { type, value }];
    }),
  );
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-redis-'));
  platform = await startPlatformProcess({ ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN });
  api = client(platform.url, TOKEN);
}, 120_000);

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await removePlatformData(dataDir);
});

describe('Redis addons on the local target', () => {
  it('says in the catalog what runs locally: redis-server, snapshots, no dumps', async () => {
    const types = (await api('GET', '/v1/addon-types')).body.items;
    const type = types.find((entry: { engine: string }) => entry.engine === 'redis');
    expect(type).toMatchObject({ defaultVersion: '7.0', defaultTls: false });
    expect(type.capabilities).toMatchObject({
      provision: true,
      dumpBackup: false,
      snapshotBackup: true,
      snapshotDownload: true,
    });
    expect(type.notes.join(' ')).toMatch(/no logical dump/);
  });

  it('creates an addon reachable with the URI of its connection details, database 0', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'sessions', engine: 'redis' },
    });
    expect(created.status).toBe(202);
    addonId = created.body.addon.id;
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    expect((await api('GET', base())).body).toMatchObject({
      status: 'running',
      engine: 'redis',
      version: '7.0',
    });
    credentials = (await api('GET', `${base()}/credentials`)).body;
    expect(credentials).toMatchObject({ host: '127.0.0.1', database: '0' });
    expect(credentials.uri).toBe(
      `redis://${encodeURIComponent(credentials.username)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${credentials.port}/0`,
    );
    expect(redis('PING')).toBe('PONG');
    expect(redis('ACL', 'WHOAMI')).toBe(credentials.username);
  });

  it('keeps keys of every type', async () => {
    redis('SET', 'greeting', 'hello world');
    redis('RPUSH', 'queue', 'a', 'b', 'c');
    redis('HSET', 'user:1', 'name', 'Ada', 'lang', 'en');
    redis('SADD', 'tags', 'x', 'y', 'z');
    redis('ZADD', 'scores', '1', 'one', '2.5', 'two');
    redis('XADD', 'events', '1-1', 'kind', 'created');
    const keys = snapshotOfKeys();
    expect(Object.keys(keys)).toEqual(['events', 'greeting', 'queue', 'scores', 'tags', 'user:1']);
    expect(keys.greeting).toEqual({ type: 'string', value: 'hello world' });
    expect(keys.scores?.value).toBe('one\n1\ntwo\n2.5');
  });

  it('refuses the default user and server administration to the addon user', async () => {
    const anonymous = cli(['-h', '127.0.0.1', '-p', String(credentials.port)], ['GET', 'greeting']);
    expect(anonymous).toMatch(/NOAUTH|WRONGPASS|NOPERM/);
    expect(redis('CONFIG', 'GET', 'dir')).toMatch(/NOPERM/);
    expect(redis('ACL', 'LIST')).toMatch(/NOPERM/);
    expect(redis('SHUTDOWN')).toMatch(/NOPERM/);
    expect(redis('PING')).toBe('PONG');
  });

  it('refuses a dump backup, which Redis has no tool for: a 422 naming the type', async () => {
    const response = await api('POST', `${base()}/backups`, { body: { type: 'dump' } });
    expect(response.status).toBe(422);
    expect(response.body.errors.map((issue: { path: string }) => issue.path)).toContain('body.type');
  });

  it('takes a snapshot backup while serving, and restoring it brings back every key of that moment', async () => {
    const atBackup = snapshotOfKeys();
    const { backupId, operation } = await backUpAndWait(api, PROJECT, base(), { type: 'snapshot' });
    expect(operation.error).toBeNull();
    expect((await api('GET', `${base()}/backups/${backupId}`)).body).toMatchObject({
      status: 'completed',
      type: 'snapshot',
      engine: 'redis',
    });

    redis('SET', 'greeting', 'changed after the backup');
    redis('DEL', 'queue');
    redis('HSET', 'user:1', 'lang', 'fr');
    redis('SET', 'after_backup', 'gone after the restore');
    expect(snapshotOfKeys()).not.toEqual(atBackup);

    const response = await api('POST', `${base()}/backups/${backupId}/restore`);
    expect(response.status).toBe(202);
    expect(await operationEnded(api, PROJECT, response.body.operation.id, 60_000)).toMatchObject({
      status: 'completed',
      error: null,
    });
    expect((await api('GET', base())).body).toMatchObject({ status: 'running' });
    expect(snapshotOfKeys()).toEqual(atBackup);
  });

  it('keeps every key across a platform restart, and its connection details', async () => {
    const before = snapshotOfKeys();
    ({ platform, api } = await restartUntilRunning(
      platform,
      { ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN },
      TOKEN,
      base(),
    ));
    expect((await api('GET', `${base()}/credentials`)).body.port).toBe(credentials.port);
    expect(snapshotOfKeys()).toEqual(before);
  });

  it('deletes the addon: its server stops and nothing answers on its port', async () => {
    const deleted = await api('DELETE', base());
    expect(deleted.status).toBe(202);
    expect((await operationEnded(api, PROJECT, deleted.body.operation.id)).status).toBe('completed');
    expect(() => cli(['-u', credentials.uri], ['PING'])).toThrow(/Connection refused/);
  });
});
