import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../jobs/free-port.ts';
import { removePlatformData } from '../support/data-dir.ts';
import { client, pollUntil } from '../support/http.ts';
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

/** `redis-cli` with the given connection arguments; its output as bytes (errors included, as redis-cli prints them). */
const cliBytes = (args: string[], command: string[], input?: Buffer): Buffer => {
  const run = spawnSync('redis-cli', [...args, '--no-auth-warning', ...command], { input });
  if (run.status !== 0 && run.stdout.length === 0) {
    throw new Error(`redis-cli exited ${run.status}: ${run.stderr.toString()}`);
  }
  return run.stdout;
};
/** The same, as text. */
const cli = (args: string[], command: string[]) => cliBytes(args, command).toString('utf8').trim();
/** The addon's user, through the URI of its connection details (naming database `db`). */
const asUser = (db = 0) => ['-u', credentials.uri.replace(/\/0$/, `/${db}`)];
const redis = (...command: string[]) => cli(asUser(), command);

/** The databases the keys of these tests live in: the URI's 0, and another the user SELECTs. */
const DATABASES = [0, 3];
/** Not text: every byte value, NUL, CR and LF included. */
const BINARY = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));

/**
 * Every key of one database with its type, its value as redis-cli shows it (strings as hex, so
 * binary values compare byte for byte) and whether it expires.
 */
const keysOf = (connection: string[]) => {
  const run = (...command: string[]) => cli(connection, command);
  const keys = run('--scan').split('\n').filter(Boolean).sort();
  return Object.fromEntries(
    keys.map((key) => {
      const type = run('TYPE', key);
      const readers: Record<string, () => string> = {
        // redis-cli writes a bulk reply as it is, then a newline.
        string: () => cliBytes(connection, ['GET', key]).subarray(0, -1).toString('hex'),
        list: () => run('LRANGE', key, '0', '-1'),
        hash: () => run('HGETALL', key),
        set: () => run('SMEMBERS', key).split('\n').sort().join('\n'),
        zset: () => run('ZRANGE', key, '0', '-1', 'WITHSCORES'),
        stream: () => `${run('XRANGE', key, '-', '+')}\ngroups: ${run('XINFO', 'GROUPS', key)}`,
      };
      const value = readers[type]?.();
      return [key, { type, value, expires: Number(run('PTTL', key)) > 0 }];
    }),
  );
};
/** `keysOf` every database in DATABASES, `connect` giving the arguments for one. */
const everyKey = (connect: (db: number) => string[]) =>
  Object.fromEntries(DATABASES.map((db) => [db, keysOf(connect(db))]));
const hex = (text: string) => Buffer.from(text).toString('hex');

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
    // Sized by its plan (nano: 512 MiB, as a cache.t4g.micro), full means refused writes, not eviction.
    const memory = redis('INFO', 'memory');
    expect(memory).toContain(`maxmemory:${512 * 1024 * 1024}`);
    expect(memory).toContain('maxmemory_policy:noeviction');
  });

  it('keeps keys of every type, in more than one database, with expiries and binary values', async () => {
    redis('SET', 'greeting', 'hello world');
    redis('SET', 'counter', '41');
    redis('INCR', 'counter');
    redis('SET', 'session:1', 'token-of-ada', 'EX', '3600');
    expect(cliBytes(asUser(), ['-x', 'SET', 'blob'], BINARY).toString().trim()).toBe('OK');
    redis('RPUSH', 'queue', 'a', 'b', 'c');
    // Long enough for a quicklist of several nodes rather than one listpack.
    redis('RPUSH', 'log', ...Array.from({ length: 600 }, (_, i) => `entry number ${i}`));
    redis('HSET', 'user:1', 'name', 'Ada', 'lang', 'en');
    redis('SADD', 'tags', 'x', 'y', 'z');
    redis('SADD', 'ids', '1', '2', '3');
    redis('ZADD', 'scores', '1', 'one', '2.5', 'two');
    redis('XADD', 'events', '1-1', 'kind', 'created');
    redis('XADD', 'events', '2-1', 'kind', 'updated');
    redis('XGROUP', 'CREATE', 'events', 'workers', '0');
    cli(asUser(3), ['SET', 'elsewhere', 'in database 3']);
    cli(asUser(3), ['HSET', 'settings', 'theme', 'dark']);
    const keys = everyKey(asUser);
    expect(Object.keys(keys[0] ?? {})).toEqual([
      'blob',
      'counter',
      'events',
      'greeting',
      'ids',
      'log',
      'queue',
      'scores',
      'session:1',
      'tags',
      'user:1',
    ]);
    expect(Object.keys(keys[3] ?? {})).toEqual(['elsewhere', 'settings']);
    expect(keys[0]?.greeting).toEqual({ type: 'string', value: hex('hello world'), expires: false });
    expect(keys[0]?.blob?.value).toBe(BINARY.toString('hex'));
    expect(keys[0]?.['session:1']?.expires).toBe(true);
    expect(keys[0]?.scores?.value).toBe('one\n1\ntwo\n2.5');
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

  let backupId: string;
  let atBackup: ReturnType<typeof everyKey>;

  it('takes a snapshot backup while serving, and restoring it brings back every key of that moment', async () => {
    atBackup = everyKey(asUser);
    const ttlAtBackup = Number(redis('PTTL', 'session:1'));
    const taken = await backUpAndWait(api, PROJECT, base(), { type: 'snapshot' });
    backupId = taken.backupId;
    expect(taken.operation.error).toBeNull();
    expect((await api('GET', `${base()}/backups/${backupId}`)).body).toMatchObject({
      status: 'completed',
      type: 'snapshot',
      engine: 'redis',
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      sizeBytes: expect.any(Number),
    });

    redis('SET', 'greeting', 'changed after the backup');
    redis('DEL', 'queue');
    redis('HSET', 'user:1', 'lang', 'fr');
    redis('PERSIST', 'session:1');
    redis('SET', 'blob', 'text now');
    redis('LPOP', 'log');
    redis('ZINCRBY', 'scores', '10', 'one');
    redis('XADD', 'events', '3-1', 'kind', 'deleted');
    redis('SET', 'after_backup', 'gone after the restore');
    cli(asUser(3), ['DEL', 'elsewhere']);
    cli(asUser(5), ['SET', 'new-database', 'gone after the restore']);
    expect(everyKey(asUser)).not.toEqual(atBackup);

    const response = await api('POST', `${base()}/backups/${backupId}/restore`);
    expect(response.status).toBe(202);
    expect(await operationEnded(api, PROJECT, response.body.operation.id, 60_000)).toMatchObject({
      status: 'completed',
      error: null,
    });
    expect((await api('GET', base())).body).toMatchObject({ status: 'running' });
    expect(everyKey(asUser)).toEqual(atBackup);
    expect(cli(asUser(5), ['DBSIZE'])).toBe('0');
    // The expiry is a point in time: restored, it is still ahead, and no later than it was.
    const ttlRestored = Number(redis('PTTL', 'session:1'));
    expect(ttlRestored).toBeGreaterThan(0);
    expect(ttlRestored).toBeLessThanOrEqual(ttlAtBackup);
  });

  it("downloads the snapshot: the RDB file with its SHA-256, which Redis's own tools load", async () => {
    const response = await api('POST', `${base()}/backups/${backupId}/download`);
    expect(response.status).toBe(200);
    const { url, sha256, sizeBytes } = response.body;
    const file = await fetch(url);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-disposition')).toContain(`sessions-${backupId}.rdb`);
    const rdb = Buffer.from(await file.arrayBuffer());
    expect(rdb.length).toBe(sizeBytes);
    expect(createHash('sha256').update(rdb).digest('hex')).toBe(sha256);
    expect(rdb.subarray(0, 5).toString('latin1')).toBe('REDIS');

    const scratch = await mkdtemp(join(tmpdir(), 'addons-e2e-rdb-'));
    await writeFile(join(scratch, 'dump.rdb'), rdb);
    const check = spawnSync('redis-check-rdb', [join(scratch, 'dump.rdb')], { encoding: 'utf8' });
    expect(check.status).toBe(0);
    expect(check.stdout).toMatch(/RDB looks OK/);

    // A bare redis-server of the user's own, started on the file, has every key of the backup.
    const port = await freePort();
    const server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', scratch, '--dbfilename', 'dump.rdb'],
      { stdio: 'ignore' },
    );
    try {
      const local = (db: number) => ['-h', '127.0.0.1', '-p', String(port), '-n', String(db)];
      await pollUntil(
        async () => spawnSync('redis-cli', [...local(0), 'PING'], { encoding: 'utf8' }).stdout.trim(),
        (reply) => reply === 'PONG',
        { what: 'the scratch redis-server', timeoutMs: 20_000 },
      );
      expect(everyKey(local)).toEqual(atBackup);
    } finally {
      server.kill('SIGKILL');
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it('deletes the snapshot backup with its downloadable copy', async () => {
    const { url } = (await api('POST', `${base()}/backups/${backupId}/download`)).body;
    expect((await api('DELETE', `${base()}/backups/${backupId}`)).status).toBe(204);
    expect((await fetch(url)).status).toBe(404);
  });

  it('keeps every key across a platform restart, and its connection details', async () => {
    const before = everyKey(asUser);
    ({ platform, api } = await restartUntilRunning(
      platform,
      { ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN },
      TOKEN,
      base(),
    ));
    expect((await api('GET', `${base()}/credentials`)).body.port).toBe(credentials.port);
    expect(everyKey(asUser)).toEqual(before);
  }, 120_000);

  it('deletes the addon: its server stops and nothing answers on its port', async () => {
    const deleted = await api('DELETE', base());
    expect(deleted.status).toBe(202);
    expect((await operationEnded(api, PROJECT, deleted.body.operation.id)).status).toBe('completed');
    expect(() => cli(['-u', credentials.uri], ['PING'])).toThrow(/Connection refused/);
  });
});
