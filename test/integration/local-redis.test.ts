import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceContext, InstanceRecord } from '#infra/local/engines/driver.ts';
import { RedisDriver } from '#infra/local/engines/redis/driver.ts';
import { RedisReplyError, type Reply, sendCommands } from '#infra/local/engines/redis/resp.ts';
import type { LocalEngineSupervisor } from '#infra/local/engines/supervisor.ts';
import { UnsupportedError } from '#shared/errors.ts';
import type { InstanceSpec, RestoreState } from '#shared/ports/engine-provider.ts';
import {
  acceptsConnections,
  isAlive,
  killLeftoverServers,
  localSpec,
  oneInstance,
  poll,
  RESUME_BODY,
  spawnPlatform,
  supervisorPool,
} from './support/local-engines.ts';

/**
 * The local Redis engine: real `redis-server` processes under the supervisor, in a temporary data
 * directory. The tests of this file run in order and share one instance: create, connect, the
 * users' rights, restart, crash, delete.
 */

const ID = 'addon-01jtestlocalredis';
const PID_FILE = 'redis.pid';
const SNAP = 'snp-01jtest-redis-a';

const spec = (overrides: Partial<InstanceSpec> = {}): InstanceSpec =>
  localSpec({
    resourceId: ID,
    addonId: 'adn-01jtestlocalredis',
    engine: 'redis',
    version: '7.0',
    ...overrides,
  });

let dataDir: string;
let port = 0;
const timings: Record<string, number> = {};
const { supervisor, supervisors, logs } = supervisorPool(() => dataDir);

interface StoredRecord {
  port: number;
  dataDir: string;
  admin: { username: string; password: string };
}
const { instanceDir, readRecord, serverPid, waitAvailable } = oneInstance<StoredRecord>(
  () => dataDir,
  ID,
  PID_FILE,
);

/** Commands on a fresh TCP connection, unauthenticated: the replies, errors as RedisReplyError. */
const raw = (...commands: string[][]): Promise<Reply[]> =>
  sendCommands({ host: '127.0.0.1', port }, commands);

/** One command as the customer (AUTH first, which must succeed): its reply. */
const asCustomer = async (...command: string[]): Promise<Reply> => {
  const { username, password } = spec();
  const [auth, reply] = await raw(['AUTH', username, password], command);
  expect(auth).toBe('OK');
  return reply as Reply;
};

const errorOf = (reply: Reply | undefined): string =>
  reply instanceof RedisReplyError ? reply.message : `not an error: ${JSON.stringify(reply)}`;

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-redis-'));
});

afterAll(async () => {
  if (process.env.DEBUG_ENGINE_LOGS) console.info(JSON.stringify(logs, null, 1));
  console.info('local-redis timings (ms):', timings);
  for (const each of supervisors) await each.stopAll();
  await killLeftoverServers(instanceDir(), PID_FILE, 'SIGKILL');
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('LocalEngineSupervisor (Redis, real processes)', { timeout: 90_000 }, () => {
  let current: LocalEngineSupervisor;

  it('creates an instance the customer reaches with its own credentials only', async () => {
    current = supervisor();
    const started = Date.now();
    const creating = current.createInstance(spec());
    creating.catch(() => undefined); // awaited below; polled meanwhile
    const state = await waitAvailable(current);
    await creating;
    expect(state).toMatchObject({ status: 'available', endpoint: { host: '127.0.0.1' } });
    if (state.status !== 'available') throw new Error('unreachable');
    port = state.endpoint.port;
    timings.createToConnectable = Date.now() - started;

    expect(await asCustomer('SET', 'greeting', 'crème brûlée')).toBe('OK');
    expect(await asCustomer('GET', 'greeting')).toBe('crème brûlée');
    expect(await asCustomer('ACL', 'WHOAMI')).toBe('addonadmin');

    // The default user is off: nothing without AUTH, and it cannot be authenticated as.
    const [unauthenticated, asDefault] = await raw(['GET', 'greeting'], ['AUTH', 'anything']);
    expect(errorOf(unauthenticated)).toMatch(/^NOAUTH/);
    expect(errorOf(asDefault)).toMatch(/^WRONGPASS/);
    const [wrong] = await raw(['AUTH', spec().username, 'wrong-password']);
    expect(errorOf(wrong)).toMatch(/^WRONGPASS/);

    // instance.json and the configuration hold no customer password in clear; the engine runs
    // unprivileged, its configuration files are its own and 0600.
    const record = await readRecord();
    expect(record).toMatchObject({ port, dataDir: 'data' });
    expect(JSON.stringify(record)).not.toContain(spec().password);
    for (const name of ['redis.conf', 'customer.acl']) {
      const file = path.join(instanceDir(), 'run', name);
      expect(await fs.readFile(file, 'utf8')).not.toContain(spec().password);
      expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    }
    expect(await fs.readFile(path.join(instanceDir(), 'run', 'redis.conf'), 'utf8')).not.toContain(
      record.admin.password,
    );
    const pid = await serverPid();
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    expect(Number(/^Uid:\s+(\d+)/m.exec(status)?.[1])).not.toBe(0);
    expect(current.isRunning(ID)).toBe(true);
  });

  it('lets the customer use its data but not administer the server', async () => {
    for (const command of [
      ['CONFIG', 'GET', '*'],
      ['CONFIG', 'SET', 'maxmemory', '0'],
      ['ACL', 'LIST'],
      ['ACL', 'SETUSER', 'intruder', 'on', '>x', '+@all'],
      ['SHUTDOWN', 'NOSAVE'],
      ['MODULE', 'LIST'],
      ['MONITOR'],
      ['BGREWRITEAOF'],
      ['REPLICAOF', '127.0.0.1', '1'],
      ['CLIENT', 'KILL', 'TYPE', 'normal'],
      ['MIGRATE', '127.0.0.1', '1', 'greeting', '0', '1000'],
    ]) {
      expect(errorOf(await asCustomer(...command)), command.join(' ')).toMatch(/^NOPERM/);
    }
    // DEBUG is off in the server itself, for every user.
    expect(errorOf(await asCustomer('DEBUG', 'SLEEP', '0'))).toMatch(/^ERR DEBUG command not allowed/);
    // What @dangerous holds that a database's owner needs is given back.
    expect(await asCustomer('SET', 'scratch', '1')).toBe('OK');
    expect(await asCustomer('KEYS', 'scr*')).toEqual(['scratch']);
    expect(await asCustomer('INFO', 'server')).toContain('redis_version:7.0');
    expect(await asCustomer('DEL', 'scratch')).toBe(1);
    const { username, password } = spec();
    expect(
      await raw(
        ['AUTH', username, password],
        ['SELECT', '3'],
        ['SET', 'other', 'db'],
        ['FLUSHDB'],
        ['DBSIZE'],
      ),
    ).toEqual(['OK', 'OK', 'OK', 'OK', 0]);
    expect(await asCustomer('GET', 'greeting')).toBe('crème brûlée'); // database 0 untouched
    // The platform's user administers; the server runs the settings of its configuration.
    const { admin } = await readRecord();
    expect(admin.username).toBe('addons_platform');
    const [auth, memory, policy, aof] = await raw(
      ['AUTH', admin.username, admin.password],
      ['CONFIG', 'GET', 'maxmemory'],
      ['CONFIG', 'GET', 'maxmemory-policy'],
      ['CONFIG', 'GET', 'appendonly'],
    );
    expect([auth, memory, policy, aof]).toEqual([
      'OK',
      // The plan's memory, as on AWS.
      ['maxmemory', String(spec().plan.memoryMiB * 1024 * 1024)],
      ['maxmemory-policy', 'noeviction'],
      ['appendonly', 'yes'],
    ]);
  });

  it('stopAll stops the server; a new supervisor resumes it on the same port with its data', async () => {
    const pid = await serverPid();
    await current.stopAll();
    expect(await isAlive(pid)).toBe(false);
    expect(await acceptsConnections(port)).toBe(false);

    current = supervisor();
    const started = Date.now();
    await current.resume([ID]);
    timings.resume = Date.now() - started;
    expect(await waitAvailable(current)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await asCustomer('GET', 'greeting')).toBe('crème brûlée');
  });

  it('a SIGKILLed server is reported failed and comes back with its acknowledged writes on resume', async () => {
    expect(await asCustomer('RPUSH', 'orders', 'one', 'two', 'written just before the crash')).toBe(3);
    const crashed = await serverPid();
    process.kill(crashed, 'SIGKILL');
    await expect(
      poll(
        () => current.describeInstance(ID),
        (state) => state.status === 'failed',
      ),
    ).resolves.toMatchObject({ reason: expect.stringContaining('stopped unexpectedly') });

    current = supervisor();
    const started = Date.now();
    await current.resume([ID]);
    timings.crashRecovery = Date.now() - started;
    expect(await waitAvailable(current)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await asCustomer('LRANGE', 'orders', '0', '-1')).toEqual([
      'one',
      'two',
      'written just before the crash',
    ]);
    expect(await asCustomer('GET', 'greeting')).toBe('crème brûlée');
  });

  it('resume copes with a server left running by a SIGKILLed platform process', async () => {
    await current.stopAll();
    // A separate Node process plays the platform: it resumes the instance and is then SIGKILLed,
    // which leaves its (detached) server running.
    const platform = spawnPlatform(dataDir, RESUME_BODY, { RESOURCE_ID: ID });
    try {
      await poll(async () => platform.output().includes('STATE=') || platform.gone(), Boolean, 45_000);
    } finally {
      if (!platform.output().includes('STATE=')) platform.child.kill('SIGKILL');
    }
    expect(platform.output()).toContain('STATE=running');
    const orphan = await serverPid();
    platform.child.kill('SIGKILL');
    await platform.exited;
    expect(await isAlive(orphan)).toBe(true);
    expect(await asCustomer('GET', 'greeting')).toBe('crème brûlée');

    current = supervisor();
    await expect(current.describeInstance(ID)).resolves.toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    await current.resume([ID]);
    expect(await waitAvailable(current)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await isAlive(orphan)).toBe(false);
    expect(current.isRunning(ID)).toBe(true);
    expect(await asCustomer('LLEN', 'orders')).toBe(3);
  });

  /** Every key of database 0 with its type and value, sorted by key. */
  const keysAndValues = async (): Promise<Record<string, Reply>> => {
    const keys = (await asCustomer('KEYS', '*')) as string[];
    const entries: [string, Reply][] = [];
    for (const key of [...keys].sort()) {
      const type = await asCustomer('TYPE', key);
      const value =
        type === 'string'
          ? await asCustomer('GET', key)
          : type === 'list'
            ? await asCustomer('LRANGE', key, '0', '-1')
            : type === 'hash'
              ? await asCustomer('HGETALL', key)
              : ((await asCustomer('SMEMBERS', key)) as string[]).sort();
      entries.push([key, [type as string, value]]);
    }
    return Object.fromEntries(entries);
  };

  const restoreAndWait = async (operationId: string): Promise<RestoreState> => {
    await current.restoreSnapshot(ID, SNAP, operationId);
    return poll(
      () => current.describeRestore(ID, SNAP, operationId),
      (state) => state.status !== 'restoring',
      60_000,
    );
  };

  it('takes a snapshot while serving, and restoring it (twice) brings every key of that moment back', async () => {
    expect(await asCustomer('HSET', 'profile', 'name', 'Zoë', 'city', 'Brno')).toBe(2);
    expect(await asCustomer('SADD', 'tags', 'a', 'b', 'c')).toBe(3);
    expect(await asCustomer('SET', 'counter', '41')).toBe('OK');
    const before = await keysAndValues();
    expect(Object.keys(before)).toEqual(['counter', 'greeting', 'orders', 'profile', 'tags']);
    const pid = await serverPid();

    const started = Date.now();
    await current.createSnapshot(ID, SNAP);
    const snapshot = await poll(
      () => current.describeSnapshot(SNAP),
      (state) => state.status !== 'creating',
      60_000,
    );
    timings.snapshot = Date.now() - started;
    expect(snapshot).toMatchObject({ status: 'available', sizeBytes: expect.any(Number) });
    expect(await serverPid()).toBe(pid); // online: no restart
    const meta = JSON.parse(
      await fs.readFile(path.join(dataDir, 'snapshots', SNAP, 'snapshot.json'), 'utf8'),
    );
    expect(meta).toMatchObject({
      engine: 'redis',
      engineMajor: '7.0',
      format: 'redis-rdb',
      state: 'available',
    });
    const backupDir = path.join(dataDir, 'snapshots', SNAP, 'backup');
    expect((await fs.readdir(backupDir)).sort()).toEqual(['dump.rdb', 'redis-version']);
    expect((await fs.stat(path.join(backupDir, 'dump.rdb'))).mode & 0o777).toBe(0o600);

    // Change the data after the snapshot: a value changed, a key deleted, a key added.
    expect(await asCustomer('INCR', 'counter')).toBe(42);
    expect(await asCustomer('DEL', 'tags')).toBe(1);
    expect(await asCustomer('SET', 'after_snapshot', 'gone after the restore')).toBe('OK');
    expect(await keysAndValues()).not.toEqual(before);

    const restoreStarted = Date.now();
    expect(await restoreAndWait('op-restore-1')).toEqual({ status: 'available' });
    timings.restore = Date.now() - restoreStarted;
    expect(await current.describeInstance(ID)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await keysAndValues()).toEqual(before);
    const first = await readRecord();
    expect(first.dataDir).not.toBe('data');
    expect(await fs.readdir(path.join(instanceDir(), first.dataDir, 'appendonlydir'))).toContain(
      'appendonly.aof.manifest',
    );

    // Again, over data changed since: the same snapshot restores into yet another data directory.
    expect(await asCustomer('SET', 'greeting', 'overwritten')).toBe('OK');
    expect(await restoreAndWait('op-restore-2')).toEqual({ status: 'available' });
    expect(await keysAndValues()).toEqual(before);
    const second = await readRecord();
    expect(second.dataDir).not.toBe(first.dataDir);
    expect((await fs.readdir(instanceDir())).filter((name) => name.startsWith('data'))).toEqual([
      second.dataDir,
    ]);

    // The restored instance restarts from its own append-only file, writes since included.
    expect(await asCustomer('SET', 'after_restore', 'kept')).toBe('OK');
    await current.stopAll();
    current = supervisor();
    await current.resume([ID]);
    expect(await waitAvailable(current)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await keysAndValues()).toEqual({ ...before, after_restore: ['string', 'kept'] });
    expect(await asCustomer('DEL', 'after_restore')).toBe(1);
  });

  it("settleAccess finds the users the configuration sets, as the platform's user over the socket", async () => {
    const record = JSON.parse(
      await fs.readFile(path.join(instanceDir(), 'instance.json'), 'utf8'),
    ) as InstanceRecord;
    const ctx: InstanceContext = {
      resourceId: ID,
      dir: instanceDir(),
      dataDir: path.join(instanceDir(), record.dataDir),
      socketDir: path.join(instanceDir(), 'run'),
      logFile: path.join(instanceDir(), 'server.log'),
      record,
      runAs: undefined,
    };
    const driver = new RedisDriver();
    await expect(driver.settleAccess(ctx)).resolves.toBeUndefined();
    await expect(
      driver.settleAccess({ ...ctx, record: { ...record, username: 'nobody' } }),
    ).rejects.toMatchObject({
      code: 'RolesNotSettled',
      message: expect.stringContaining("'nobody' is missing"),
    });
    const wrongAdmin = { ...record, admin: { username: 'addons_platform', password: 'wrong' } };
    await expect(driver.settleAccess({ ...ctx, record: wrongAdmin })).rejects.toMatchObject({
      code: 'RolesNotSettled',
    });
  });

  it('deletes: process gone, port closed, directory removed, describe absent', async () => {
    const pid = await serverPid();
    await current.deleteInstance(ID);
    expect(await isAlive(pid)).toBe(false);
    expect(await acceptsConnections(port)).toBe(false);
    await expect(fs.stat(instanceDir())).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(current.describeInstance(ID)).resolves.toEqual({ status: 'absent' });
  });

  it('refuses what the local Redis cannot do, naming the field', async () => {
    const provider = supervisor();
    const refused = async (overrides: Partial<InstanceSpec>) => {
      const error = await provider.createInstance(spec(overrides)).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(UnsupportedError);
      return (error as UnsupportedError).issues.map((issue) => issue.path);
    };
    expect(await refused({ version: '7.2' })).toEqual(['version']);
    // TLS and replicas are served locally (the replicas are made once the instance runs); public access at create is not.
    expect(await refused({ tls: true, replicas: 1, publicAccess: true })).toEqual(['publicAccess']);
    expect(await refused({ username: 'default' })).toEqual(['username']);
    expect(await refused({ username: 'addons_platform' })).toEqual(['username']);
    expect(await refused({ username: 'addons_replication' })).toEqual(['username']);
    expect(await refused({ username: 'has space' })).toEqual(['username']);
    expect(await refused({ password: 'two\nlines' })).toEqual(['password']);
    await expect(provider.describeInstance(ID)).resolves.toEqual({ status: 'absent' });
  });
});
