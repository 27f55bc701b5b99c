import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withReplicaCleanup, withReplicaReseed } from '#infra/local/engines/replica-hooks.ts';
import { LocalReplicas } from '#infra/local/engines/replicas.ts';
import { processesUnder } from '#infra/local/engines/system.ts';
import { LocalMetricsSampler } from '#infra/local/metrics/sampler.ts';
import { MysqlDumpTool } from '#shared/jobs/mysql/dump-tool.ts';
import type { EngineProvider, InstanceSpec, SnapshotProvider } from '#shared/ports/engine-provider.ts';
import type { ReplicaAddress } from '#shared/ports/replica-provider.ts';
import {
  isAlive,
  killLeftoverServers,
  localSpec,
  poll,
  spawnPlatform,
  supervisorPool,
} from './support/local-engines.ts';

/**
 * Read replicas of local MySQL (MariaDB) and Redis instances, real processes, both primaries
 * requiring TLS (so the replication link and the replicas' ports use it): a replica follows its
 * primary; a replica a crash left `creating` (its server still running, as after a SIGKILLed
 * platform) is stopped and removed at the next start; a credential rotation reaches the replicas
 * (old and new password during the window, then only the new); 0 and a delete leave no process.
 */

const run = promisify(execFile);
const MYSQL = 'addon-01jtestreplicamysql';
const REDIS = 'addon-01jtestreplicaredis';
const POSTGRES = 'addon-01jtestreplicapostgres';
const NEW_PASSWORD = 'Rotated7abcdefghijkmnopqrstuvwxy';

let dataDir: string;
const { supervisor, supervisors, logs } = supervisorPool(() => dataDir);
let replicas: LocalReplicas;
let provider: EngineProvider;
let snapshots: SnapshotProvider;
const pools: LocalReplicas[] = [];
let ca: string;

const newReplicas = () => {
  const made = new LocalReplicas({ dataDir, log: (msg, extra) => logs.push({ msg, extra }) });
  pools.push(made);
  return made;
};

const replicaDir = (id: string, n: number) => path.join(dataDir, 'engines', id, 'replicas', String(n));
const pidIn = async (id: string, n: number, pidFile: string): Promise<number | undefined> => {
  const text = await fs.readFile(path.join(replicaDir(id, n), 'data', pidFile), 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return pid > 0 ? pid : undefined;
};

const available = async (id: string, count: number): Promise<ReplicaAddress[]> => {
  const state = await replicas.describeReplicas(id, count);
  if (state.status !== 'available') throw new Error(`replicas ${JSON.stringify(state)}`);
  return state.endpoints;
};

const create = async (spec: InstanceSpec): Promise<number> => {
  await provider.createInstance(spec);
  const state = await poll(
    () => provider.describeInstance(spec.resourceId),
    (each) => each.status === 'available' || each.status === 'failed',
  );
  if (state.status !== 'available') throw new Error(JSON.stringify(state));
  return state.endpoint.port;
};

const mysqlSpec = localSpec({
  resourceId: MYSQL,
  addonId: 'adn-01jtestreplicamysql',
  engine: 'mysql',
  version: '10.11',
  tls: true,
});
/** The customer's MariaDB login: the published one, which the rotation changes. */
let mysqlLogin = { user: mysqlSpec.username, password: mysqlSpec.password };
const redisSpec = localSpec({
  resourceId: REDIS,
  addonId: 'adn-01jtestreplicaredis',
  engine: 'redis',
  version: '7.0',
  tls: true,
});

const postgresSpec = localSpec({
  resourceId: POSTGRES,
  addonId: 'adn-01jtestreplicapostgres',
  engine: 'postgresql',
  version: '15',
});

const pgQuery = async (port: number, sql: string): Promise<Array<Record<string, unknown>>> => {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: postgresSpec.username,
    password: postgresSpec.password,
    database: postgresSpec.database,
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
};

/** Take snapshot `snapshotId` of the instance and wait until it is available. */
const snapshot = async (id: string, snapshotId: string): Promise<void> => {
  await snapshots.createSnapshot(id, snapshotId);
  const state = await poll(
    () => snapshots.describeSnapshot(snapshotId),
    (each) => each.status !== 'creating',
    60_000,
  );
  expect(state.status).toBe('available');
};

/** Restore the snapshot in place and wait until `describeRestore` (which seeds the replicas again) says it is done. */
const restore = async (id: string, snapshotId: string): Promise<void> => {
  await snapshots.restoreSnapshot(id, snapshotId, `op-${snapshotId}`);
  const state = await poll(
    () => snapshots.describeRestore(id, snapshotId, `op-${snapshotId}`),
    (each) => each.status !== 'restoring',
    90_000,
  );
  expect(state).toEqual({ status: 'available' });
};

/** Run `tool` with `input` on stdin; its stdout. */
const pipeThrough = (tool: { path: string }, args: string[], env: NodeJS.ProcessEnv, input: string) =>
  new Promise<string>((resolve, reject) => {
    const child = execFile(tool.path, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${tool.path}: ${stderr || error.message}`)) : resolve(stdout),
    );
    child.stdin?.end(input);
  });

const replicaRecord = async (id: string, n: number) =>
  JSON.parse(await fs.readFile(path.join(replicaDir(id, n), 'replica.json'), 'utf8'));

const mysqlQuery = async (port: number, sql: string, login = mysqlLogin) => {
  const connection = await mysql.createConnection({
    host: '127.0.0.1',
    port,
    ...login,
    database: mysqlSpec.database,
    ssl: { ca },
    connectTimeout: 5_000,
  });
  try {
    return (await connection.query(sql))[0] as Array<Record<string, unknown>>;
  } finally {
    await connection.end();
  }
};

/** A statement without TLS, once the primary no longer requires it. */
const plainQuery = async (port: number, login: { user: string; password: string }, sql: string) => {
  const connection = await mysql.createConnection({
    host: '127.0.0.1',
    port,
    user: login.user,
    password: login.password,
    database: mysqlSpec.database,
    connectTimeout: 5_000,
  });
  try {
    return (await connection.query(sql))[0] as Array<Record<string, unknown>>;
  } finally {
    await connection.end();
  }
};

/** redis-cli over TLS, verifying the server with the platform's CA; the reply as it prints it. */
const redisCli = async (port: number, password: string, ...command: string[]): Promise<string> => {
  const { stdout } = await run('redis-cli', [
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '--tls',
    '--cacert',
    path.join(dataDir, 'tls', 'ca.pem'),
    '--user',
    redisSpec.username,
    '--pass',
    password,
    '--no-auth-warning',
    ...command,
  ]);
  return stdout.trim();
};

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-replicas-'));
  replicas = newReplicas();
  const first = supervisor();
  provider = withReplicaCleanup(first, replicas);
  snapshots = withReplicaReseed(first, replicas);
});

afterAll(async () => {
  if (process.env.DEBUG_ENGINE_LOGS) console.info(JSON.stringify(logs, null, 1));
  for (const each of pools) await each.stopAll();
  for (const each of supervisors) await each.stopAll();
  for (const [id, pidFile] of [
    [MYSQL, 'mariadbd.pid'],
    [REDIS, 'redis.pid'],
    [POSTGRES, 'postmaster.pid'],
  ] as const) {
    for (const n of [1, 2]) await killLeftoverServers(replicaDir(id, n), pidFile, 'SIGKILL');
    await killLeftoverServers(path.join(dataDir, 'engines', id), pidFile, 'SIGKILL');
  }
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('local read replicas (MariaDB, Redis; real processes, TLS)', { timeout: 120_000 }, () => {
  let mysqlPort = 0;
  let redisPort = 0;
  let mysqlReplica = 0;
  let redisReplica = 0;

  it('a MariaDB replica seeded from the running primary follows it over TLS and refuses writes', async () => {
    mysqlPort = await create(mysqlSpec);
    ca = await fs.readFile(path.join(dataDir, 'tls', 'ca.pem'), 'utf8');
    await mysqlQuery(mysqlPort, 'CREATE TABLE notes (id int PRIMARY KEY, body text)');
    await mysqlQuery(mysqlPort, "INSERT INTO notes VALUES (1, 'before the replica')");
    await replicas.setReplicaCount(MYSQL, 1);
    [{ port: mysqlReplica }] = (await available(MYSQL, 1)) as [ReplicaAddress];
    expect(await mysqlQuery(mysqlReplica, 'SELECT body FROM notes')).toEqual([
      { body: 'before the replica' },
    ]);
    await mysqlQuery(mysqlPort, "INSERT INTO notes VALUES (2, 'after it')");
    await poll(
      () => mysqlQuery(mysqlReplica, 'SELECT count(*) AS n FROM notes'),
      (rows) => Number(rows[0]?.n) === 2,
    );
    await expect(mysqlQuery(mysqlReplica, "INSERT INTO notes VALUES (3, 'on the replica')")).rejects.toThrow(
      /read-only/,
    );
    // Plain TCP is refused on the replica as on its primary.
    await expect(
      mysql.createConnection({
        host: '127.0.0.1',
        port: mysqlReplica,
        user: mysqlSpec.username,
        password: mysqlSpec.password,
      }),
    ).rejects.toThrow();
  });

  it('the MariaDB replication lag is sampled on the replica (the primary keeps none): a value while it follows', async () => {
    const metricsDir = path.join(dataDir, 'metrics-lag');
    const sampler = new LocalMetricsSampler({
      dir: metricsDir,
      intervalSeconds: 10,
      targets: () => [],
      instanceExists: async () => true,
      replicasOf: (primary) => replicas.runningReplicas(primary),
    });
    // The supervisor that started the primary (a new one would know of no running server).
    const primary = supervisors
      .flatMap((each) => each.servingInstances())
      .find((target) => target.ctx.resourceId === MYSQL);
    expect(primary).toBeDefined();
    await sampler.sampleTarget(primary as NonNullable<typeof primary>);
    const now = Math.floor(Date.now() / 1000);
    const series = await sampler.query(
      { addonId: 'adn-lag', resourceId: MYSQL, engine: 'mysql' },
      ['mysql.replication-lag'],
      { from: now - 60, step: 60, points: 2 },
    );
    // Caught up (the previous test waited for it): 0 s behind, a value rather than none.
    expect(series.get('mysql.replication-lag')?.filter((value) => value !== null)).toEqual([0]);
    await sampler.stop();
  });

  it('a Redis replica follows its primary over TLS with the same users and refuses writes', async () => {
    redisPort = await create(redisSpec);
    expect(await redisCli(redisPort, redisSpec.password, 'SET', 'greeting', 'hello')).toBe('OK');
    await replicas.setReplicaCount(REDIS, 1);
    [{ port: redisReplica }] = (await available(REDIS, 1)) as [ReplicaAddress];
    expect(await redisCli(redisReplica, redisSpec.password, 'GET', 'greeting')).toBe('hello');
    await redisCli(redisPort, redisSpec.password, 'SET', 'later', 'too');
    await poll(
      () => redisCli(redisReplica, redisSpec.password, 'GET', 'later'),
      (value) => value === 'too',
    );
    expect(await redisCli(redisReplica, redisSpec.password, 'SET', 'x', 'y')).toMatch(/READONLY/);
  });

  it('a credential rotation reaches the replicas: both passwords during the window, then only the new', async () => {
    const added = await provider.addLogin?.(MYSQL, mysqlSpec, NEW_PASSWORD);
    expect(added).toBe(`${mysqlSpec.username}_2`);
    const rotated = { user: added as string, password: NEW_PASSWORD };
    await poll(
      () => mysqlQuery(mysqlReplica, 'SELECT 1 AS one', rotated).catch(() => []),
      (rows) => rows.length === 1,
    );
    expect(await mysqlQuery(mysqlReplica, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await provider.retainOnlyLogin?.(MYSQL, { username: rotated.user, password: NEW_PASSWORD });
    await poll(
      () =>
        mysqlQuery(mysqlReplica, 'SELECT 1').then(
          () => 'in',
          (error: Error) => error.message,
        ),
      (outcome) => outcome !== 'in',
    ).then((outcome) => expect(outcome).toMatch(/locked/i));
    expect(await mysqlQuery(mysqlReplica, 'SELECT 1 AS one', rotated)).toEqual([{ one: 1 }]);
    mysqlLogin = rotated;

    await provider.addLogin?.(REDIS, redisSpec, NEW_PASSWORD);
    expect(await redisCli(redisReplica, NEW_PASSWORD, 'GET', 'greeting')).toBe('hello');
    expect(await redisCli(redisReplica, redisSpec.password, 'GET', 'greeting')).toBe('hello');
    await provider.retainOnlyLogin?.(REDIS, { username: redisSpec.username, password: NEW_PASSWORD });
    expect(await redisCli(redisReplica, NEW_PASSWORD, 'GET', 'greeting')).toBe('hello');
    await expect(redisCli(redisReplica, redisSpec.password, 'GET', 'greeting')).resolves.toMatch(
      /NOAUTH|WRONGPASS/,
    );
    // A restart of the replica reads the users the primary has now.
    await replicas.restartAll(REDIS);
    expect(await redisCli(redisReplica, NEW_PASSWORD, 'GET', 'greeting')).toBe('hello');
  });

  it('a replica a crash left creating (its server still running) is stopped and removed at the next start; adding it again works', async () => {
    await replicas.setReplicaCount(MYSQL, 2);
    const orphan = (await pidIn(MYSQL, 2, 'mariadbd.pid')) as number;
    expect(await isAlive(orphan)).toBe(true);
    // What a platform SIGKILLed before it marked the replica ready leaves: the record says
    // `creating`, the detached server runs on, no platform process owns it.
    const record = path.join(replicaDir(MYSQL, 2), 'replica.json');
    await fs.writeFile(
      record,
      JSON.stringify({ ...JSON.parse(await fs.readFile(record, 'utf8')), state: 'creating' }),
    );
    replicas = newReplicas();
    provider = withReplicaCleanup(supervisors[0] as EngineProvider, replicas);
    snapshots = withReplicaReseed(supervisors[0] as SnapshotProvider, replicas);
    await replicas.resume([MYSQL, REDIS]);
    expect(await isAlive(orphan)).toBe(false);
    await expect(fs.stat(replicaDir(MYSQL, 2))).rejects.toThrow(/ENOENT/);
    // The ready ones came back (the abandoned process's servers were stopped and started again).
    await available(MYSQL, 1);
    await available(REDIS, 1);
    expect(await mysqlQuery(mysqlReplica, 'SELECT count(*) AS n FROM notes')).toEqual([{ n: 2 }]);
    // The workflow in flight runs again and adds it anew.
    await replicas.setReplicaCount(MYSQL, 2);
    const [, second] = (await available(MYSQL, 2)) as [ReplicaAddress, ReplicaAddress];
    expect(await mysqlQuery(second.port, 'SELECT count(*) AS n FROM notes')).toEqual([{ n: 2 }]);
  });

  it('a platform SIGKILLed while it seeds a replica leaves nothing once the next one starts', async () => {
    // A separate Node process plays the platform: it adds a third replica and is SIGKILLed while
    // it seeds it, which leaves what it ran there (mariadb-backup) running without its platform.
    const platform = spawnPlatform(
      dataDir,
      `const { LocalReplicas } = await import('#infra/local/engines/replicas.ts');
       await new LocalReplicas({ dataDir: process.env.DATA_DIR }).setReplicaCount(process.env.RESOURCE_ID, 3);
       console.log('ADDED');`,
      { RESOURCE_ID: MYSQL },
    );
    // Killed as soon as a process works in the replica's directory (the copy, or the server after it).
    let orphans: number[] = [];
    try {
      await poll(
        async () => {
          orphans = await processesUnder(replicaDir(MYSQL, 3));
          return orphans.length > 0 || platform.gone();
        },
        Boolean,
        // A cold tsx start of the platform process takes long on a loaded machine.
        75_000,
      );
    } finally {
      platform.child.kill('SIGKILL');
      await platform.exited;
    }
    expect(platform.output()).not.toContain('ADDED');
    expect(orphans.length, platform.output()).toBeGreaterThan(0);
    const record = JSON.parse(await fs.readFile(path.join(replicaDir(MYSQL, 3), 'replica.json'), 'utf8'));
    expect(record.state).toBe('creating');
    // What its platform ran is still at work in the directory.
    expect((await Promise.all(orphans.map(isAlive))).some(Boolean)).toBe(true);
    await replicas.resume([MYSQL]);
    await expect(fs.stat(replicaDir(MYSQL, 3))).rejects.toThrow(/ENOENT/);
    for (const pid of orphans) expect(await isAlive(pid)).toBe(false);
    expect(await available(MYSQL, 2)).toHaveLength(2);
  }, 150_000);

  it('a networking change of the primary restarts its replicas with it: TLS off, the link and the port follow', async () => {
    await provider.configureNetworking?.(MYSQL, { tls: false, public: false, allow: [] });
    const plain = mysqlLogin;
    const [first] = (await available(MYSQL, 2)) as [ReplicaAddress];
    await plainQuery(mysqlPort, plain, "INSERT INTO notes VALUES (4, 'without TLS')");
    await poll(
      () => plainQuery(first.port, plain, 'SELECT count(*) AS n FROM notes').catch(() => []),
      (rows) => Number(rows[0]?.n) === 3,
    );
  });

  it('a snapshot restore seeds the MariaDB and Redis replicas again: same ports, exactly the restored data, then following', async () => {
    const plain = mysqlLogin;
    const before = (await available(MYSQL, 2)).map((each) => each.port);
    await plainQuery(mysqlPort, plain, "INSERT INTO notes VALUES (10, 'in the snapshot')");
    await snapshot(MYSQL, 'snp-reseed-mysql');
    await plainQuery(mysqlPort, plain, "INSERT INTO notes VALUES (11, 'after the snapshot')");
    for (const port of before) {
      await poll(
        () => plainQuery(port, plain, 'SELECT count(*) AS n FROM notes'),
        (rows) => Number(rows[0]?.n) === 5,
      );
    }
    await restore(MYSQL, 'snp-reseed-mysql');
    expect((await available(MYSQL, 2)).map((each) => each.port)).toEqual(before);
    const restored = await plainQuery(mysqlPort, plain, 'SELECT id FROM notes ORDER BY id');
    expect(restored.map((row) => row.id)).toEqual([1, 2, 4, 10]);
    for (const port of before) {
      expect(await plainQuery(port, plain, 'SELECT id FROM notes ORDER BY id')).toEqual(restored);
    }
    await plainQuery(mysqlPort, plain, "INSERT INTO notes VALUES (12, 'after the restore')");
    for (const port of before) {
      await poll(
        () => plainQuery(port, plain, 'SELECT count(*) AS n FROM notes WHERE id = 12'),
        (rows) => Number(rows[0]?.n) === 1,
      );
    }
    await expect(plainQuery(before[0] as number, plain, 'DELETE FROM notes')).rejects.toThrow(/read-only/);

    const [{ port: redisBefore }] = (await available(REDIS, 1)) as [ReplicaAddress];
    await redisCli(redisPort, NEW_PASSWORD, 'SET', 'state', 'in the snapshot');
    await snapshot(REDIS, 'snp-reseed-redis');
    await redisCli(redisPort, NEW_PASSWORD, 'SET', 'state', 'after the snapshot');
    await redisCli(redisPort, NEW_PASSWORD, 'SET', 'extra', 'after the snapshot');
    await poll(
      () => redisCli(redisReplica, NEW_PASSWORD, 'GET', 'extra'),
      (value) => value === 'after the snapshot',
    );
    await restore(REDIS, 'snp-reseed-redis');
    expect(await available(REDIS, 1)).toEqual([{ host: '127.0.0.1', port: redisBefore }]);
    expect(await redisCli(redisBefore, NEW_PASSWORD, 'GET', 'state')).toBe('in the snapshot');
    expect(await redisCli(redisBefore, NEW_PASSWORD, 'EXISTS', 'extra')).toBe('0');
    expect(await redisCli(redisBefore, NEW_PASSWORD, 'DBSIZE')).toBe(
      await redisCli(redisPort, NEW_PASSWORD, 'DBSIZE'),
    );
    await redisCli(redisPort, NEW_PASSWORD, 'SET', 'state', 'after the restore');
    await poll(
      () => redisCli(redisBefore, NEW_PASSWORD, 'GET', 'state'),
      (value) => value === 'after the restore',
    );
  });

  it('a MariaDB dump restore (the restore job tool, through the running primary) reaches the replicas by the binary log, unseeded', async () => {
    const plain = mysqlLogin;
    const tool = new MysqlDumpTool();
    const connection = {
      engine: 'mysql' as const,
      host: '127.0.0.1',
      port: mysqlPort,
      database: mysqlSpec.database,
      username: plain.user,
      password: plain.password,
      uri: '',
      tls: false,
    };
    const records = [await replicaRecord(MYSQL, 1), await replicaRecord(MYSQL, 2)];
    const pids = [await pidIn(MYSQL, 1, 'mariadbd.pid'), await pidIn(MYSQL, 2, 'mariadbd.pid')];
    await plainQuery(mysqlPort, plain, "INSERT INTO notes VALUES (20, 'in the dump')");
    const server = await tool.inspect(connection, 'reseed-test');
    const dump = await tool.dumpCommand(connection, server, 'reseed-test');
    const script = await pipeThrough(dump.tool, dump.args, dump.env, '');
    await plainQuery(mysqlPort, plain, "INSERT INTO notes VALUES (21, 'after the dump')");
    const plan = await tool.prepareRestore(connection, server, {
      applicationName: 'reseed-test',
      restoreId: 'op-dump-restore',
      lockTimeoutMs: 10_000,
    });
    let loaded = script;
    for (const filter of plan.filters)
      loaded = await pipeThrough(filter.tool, filter.args, filter.env, loaded);
    await pipeThrough(plan.loader.tool, plan.loader.args, plan.loader.env, `${plan.prelude ?? ''}${loaded}`);
    await plan.commit?.();
    const restored = await plainQuery(mysqlPort, plain, 'SELECT id FROM notes ORDER BY id');
    expect(restored.map((row) => row.id)).toEqual([1, 2, 4, 10, 12, 20]);
    for (const [port] of (await available(MYSQL, 2)).map((each) => [each.port])) {
      await poll(
        () => plainQuery(port as number, plain, 'SELECT id FROM notes ORDER BY id'),
        (rows) => JSON.stringify(rows) === JSON.stringify(restored),
      );
    }
    // The customer's login (the job's) cannot keep its statements out of the binary log.
    await expect(plainQuery(mysqlPort, plain, 'SET SESSION sql_log_bin = 0')).rejects.toThrow(/denied/i);
    // Nothing was seeded again: the same records, the same servers.
    expect([await replicaRecord(MYSQL, 1), await replicaRecord(MYSQL, 2)]).toEqual(records);
    expect([await pidIn(MYSQL, 1, 'mariadbd.pid'), await pidIn(MYSQL, 2, 'mariadbd.pid')]).toEqual(pids);
  });

  it('a platform killed mid-reseed, or after a rollback that had served the restored copy, seeds the replicas again at its next start', async () => {
    const plain = mysqlLogin;
    const ports = (await available(MYSQL, 2)).map((each) => each.port);
    // Replica 2 as a kill mid-reseed leaves it: marked, its new server already running, detached.
    const orphan = (await pidIn(MYSQL, 2, 'mariadbd.pid')) as number;
    const second = await replicaRecord(MYSQL, 2);
    await fs.writeFile(
      path.join(replicaDir(MYSQL, 2), 'replica.json'),
      JSON.stringify({ ...second, state: 'creating', reseed: true }),
    );
    // The primary as a restore rolled back after it had switched leaves it: the previous data
    // directory, and the restore saying the restored copy was served meanwhile.
    const instanceFile = path.join(dataDir, 'engines', MYSQL, 'instance.json');
    const instance = JSON.parse(await fs.readFile(instanceFile, 'utf8'));
    instance.restore = {
      ...instance.restore,
      restoreId: 'op-rolled-back',
      state: 'failed',
      reason: 'rolled back',
      servedRestored: true,
    };
    await fs.writeFile(instanceFile, JSON.stringify(instance));
    const first = (await pidIn(MYSQL, 1, 'mariadbd.pid')) as number;

    replicas = newReplicas();
    provider = withReplicaCleanup(supervisors[0] as EngineProvider, replicas);
    snapshots = withReplicaReseed(supervisors[0] as SnapshotProvider, replicas);
    await replicas.resume([MYSQL]);
    expect(await isAlive(orphan)).toBe(false);
    expect(await isAlive(first)).toBe(false);
    expect((await available(MYSQL, 2)).map((each) => each.port)).toEqual(ports);
    for (const n of [1, 2]) {
      expect(await replicaRecord(MYSQL, n)).toMatchObject({
        state: 'ready',
        primaryData: `${instance.dataDir}@op-rolled-back`,
      });
      expect(await replicaRecord(MYSQL, n)).not.toHaveProperty('reseed');
    }
    const rows = await plainQuery(mysqlPort, plain, 'SELECT id FROM notes ORDER BY id');
    for (const port of ports)
      expect(await plainQuery(port, plain, 'SELECT id FROM notes ORDER BY id')).toEqual(rows);
    await plainQuery(mysqlPort, plain, "INSERT INTO notes VALUES (30, 'after the restart')");
    for (const port of ports) {
      await poll(
        () => plainQuery(port, plain, 'SELECT count(*) AS n FROM notes WHERE id = 30'),
        (found) => Number(found[0]?.n) === 1,
      );
    }
    // Once they follow, another check seeds nothing.
    const seeded = [await replicaRecord(MYSQL, 1), await pidIn(MYSQL, 1, 'mariadbd.pid')];
    await replicas.reseedStale(MYSQL);
    expect([await replicaRecord(MYSQL, 1), await pidIn(MYSQL, 1, 'mariadbd.pid')]).toEqual(seeded);
  });

  it('a PostgreSQL snapshot restore seeds its standby again: exactly the restored rows, then following', async () => {
    const port = await create(postgresSpec);
    await pgQuery(port, 'CREATE TABLE notes (id int PRIMARY KEY); INSERT INTO notes VALUES (1)');
    await replicas.setReplicaCount(POSTGRES, 1);
    const [{ port: standby }] = (await available(POSTGRES, 1)) as [ReplicaAddress];
    await snapshot(POSTGRES, 'snp-reseed-postgres');
    await pgQuery(port, 'INSERT INTO notes VALUES (2)');
    await poll(
      () => pgQuery(standby, 'SELECT count(*)::int AS n FROM notes'),
      (rows) => rows[0]?.n === 2,
    );
    await restore(POSTGRES, 'snp-reseed-postgres');
    expect(await available(POSTGRES, 1)).toEqual([{ host: '127.0.0.1', port: standby }]);
    expect(await pgQuery(standby, 'SELECT id FROM notes ORDER BY id')).toEqual([{ id: 1 }]);
    await pgQuery(port, 'INSERT INTO notes VALUES (3)');
    await poll(
      () => pgQuery(standby, 'SELECT count(*)::int AS n FROM notes WHERE id = 3'),
      (rows) => rows[0]?.n === 1,
    );
    await provider.deleteInstance(POSTGRES);
  });

  it('0 replicas and a delete leave no replica process or directory', async () => {
    const pids = [
      await pidIn(MYSQL, 1, 'mariadbd.pid'),
      await pidIn(MYSQL, 2, 'mariadbd.pid'),
      await pidIn(REDIS, 1, 'redis.pid'),
    ];
    await replicas.setReplicaCount(MYSQL, 0);
    await available(MYSQL, 0);
    await expect(fs.stat(replicaDir(MYSQL, 1))).rejects.toThrow(/ENOENT/);
    await provider.deleteInstance(REDIS);
    await expect(fs.stat(replicaDir(REDIS, 1))).rejects.toThrow(/ENOENT/);
    for (const pid of pids) expect(await isAlive(pid as number)).toBe(false);
  });
});
