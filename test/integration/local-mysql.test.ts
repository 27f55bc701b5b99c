import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalEngineSupervisor } from '#infra/local/engines/supervisor.ts';
import { UnsupportedError } from '#shared/errors.ts';
import type {
  InstanceSpec,
  InstanceState,
  RestoreState,
  SnapshotState,
} from '#shared/ports/engine-provider.ts';
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
 * The local MySQL engine: real MariaDB (`mariadbd` from Debian) processes under the supervisor, in a
 * temporary data directory. The tests of this file run in order and share one instance: create,
 * connect, restart, crashes, snapshot and restore, delete.
 */

const ID = 'addon-01jtestlocalmysql';
const SNAP = 'snp-01jtest-mysql-a';
const SNAP_DAMAGED = 'snp-01jtest-mysql-damaged';

const spec = (overrides: Partial<InstanceSpec> = {}): InstanceSpec =>
  localSpec({
    resourceId: ID,
    addonId: 'adn-01jtestlocalmysql',
    engine: 'mysql',
    version: '10.11',
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
  restore?: { snapshotId: string; state: string; reason?: string };
}
const { instanceDir, readRecord, serverPid, waitAvailable } = oneInstance<StoredRecord>(
  () => dataDir,
  ID,
  'mariadbd.pid',
);
const available = (state: InstanceState) => state.status === 'available';

const connect = (overrides: Partial<mysql.ConnectionOptions> = {}): Promise<mysql.Connection> => {
  const { username, password, database } = spec();
  return mysql.createConnection({
    host: '127.0.0.1',
    port,
    user: username,
    password,
    database,
    connectTimeout: 5_000,
    ...overrides,
  });
};

/** One statement on a fresh customer connection. */
const sql = async <T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> => {
  const connection = await connect();
  try {
    const [rows] = await connection.query(text, values);
    return rows as T[];
  } finally {
    await connection.end();
  }
};

const grants = async (): Promise<string[]> =>
  (await sql<Record<string, string>>('SHOW GRANTS')).map((row) => Object.values(row)[0] as string);

/** Every table of the customer's database (but `heartbeat`, written during the snapshot) with its CHECKSUM TABLE value. */
const checksums = async (): Promise<Record<string, number>> => {
  const tables = await sql<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name <> 'heartbeat' ORDER BY 1",
  );
  const sums: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = await sql<{ Checksum: number }>(`CHECKSUM TABLE \`${name}\``);
    sums[name] = row?.Checksum ?? -1;
  }
  return sums;
};

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-mysql-'));
});

afterAll(async () => {
  if (process.env.DEBUG_ENGINE_LOGS) console.info(JSON.stringify(logs, null, 1));
  console.info('local-mysql timings (ms):', timings);
  for (const each of supervisors) await each.stopAll();
  await killLeftoverServers(instanceDir(), 'mariadbd.pid', 'SIGKILL');
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('LocalEngineSupervisor (MySQL on MariaDB, real processes)', { timeout: 90_000 }, () => {
  let first: LocalEngineSupervisor;
  let current: LocalEngineSupervisor;

  it('creates an instance the customer reaches with its own credentials only', async () => {
    first = supervisor();
    current = first;
    const started = Date.now();
    const creating = first.createInstance(spec());
    creating.catch(() => undefined); // awaited below; polled meanwhile
    const seen = new Set<string>();
    const state = await poll(
      () => first.describeInstance(ID),
      (polled) => {
        seen.add(polled.status);
        return available(polled) || polled.status === 'failed';
      },
    );
    await creating;
    expect(state).toMatchObject({ status: 'available', endpoint: { host: '127.0.0.1' } });
    if (state.status !== 'available') throw new Error('unreachable');
    expect([...seen].filter((status) => !['absent', 'creating', 'available'].includes(status))).toEqual([]);
    port = state.endpoint.port;
    const connection = await connect();
    timings.createToConnectable = Date.now() - started;
    await connection.end();
    console.info(
      `local-mysql: create-to-connectable ${timings.createToConnectable} ms`,
      logs.find((l) => l.msg.includes('created'))?.extra,
    );

    await sql('CREATE TABLE orders (id int PRIMARY KEY, item varchar(100) NOT NULL) ENGINE=InnoDB');
    await sql("INSERT INTO orders VALUES (1, 'crème brûlée'), (2, 'tea')");
    expect(
      await sql('SELECT CURRENT_USER() AS who, DATABASE() AS db, @@character_set_database AS cs'),
    ).toEqual([{ who: 'addonadmin@127.0.0.1', db: 'orders_db', cs: 'utf8mb4' }]);
    expect(await sql('SELECT item FROM orders ORDER BY id')).toEqual([
      { item: 'crème brûlée' },
      { item: 'tea' },
    ]);
    await expect(connect({ password: 'wrong-password' })).rejects.toMatchObject({ errno: 1045 });

    // instance.json holds no customer secret; the engine runs unprivileged, on 127.0.0.1, with its
    // socket in run/.
    const record = await readRecord();
    expect(record).toMatchObject({
      engine: 'mysql',
      version: '10.11',
      port,
      dataDir: 'data',
      state: 'ready',
    });
    expect(JSON.stringify(record)).not.toContain(spec().password);
    const pid = await serverPid();
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    expect(Number(/^Uid:\s+(\d+)/m.exec(status)?.[1])).not.toBe(0);
    const [where] = await sql<{ bind: string; socket: string; skip: number }>(
      'SELECT @@bind_address AS bind, @@socket AS socket, @@skip_name_resolve AS skip',
    );
    expect(where).toEqual({
      bind: '127.0.0.1',
      socket: path.join(instanceDir(), 'run', 'mysqld.sock'),
      skip: 1,
    });
    expect(first.isRunning(ID)).toBe(true);
    expect(process.getActiveResourcesInfo()).not.toContain('ProcessWrap');
  });

  it("grants the customer its database and the restore's staging databases, nothing global", async () => {
    const shown = await grants();
    expect(shown).toHaveLength(4);
    expect(shown[0]).toMatch(/^GRANT USAGE ON \*\.\* TO `addonadmin`@`127\.0\.0\.1`/);
    expect(shown.slice(1).sort()).toEqual([
      'GRANT ALL PRIVILEGES ON `addons\\_restore`.* TO `addonadmin`@`127.0.0.1`',
      'GRANT ALL PRIVILEGES ON `addons\\_retired`.* TO `addonadmin`@`127.0.0.1`',
      'GRANT ALL PRIVILEGES ON `orders\\_db`.* TO `addonadmin`@`127.0.0.1`',
    ]);
    // The staging database of a restore: created, used across databases, dropped by the customer.
    await sql('CREATE DATABASE addons_restore');
    await sql('CREATE TABLE addons_restore.staged (id int PRIMARY KEY)');
    await sql('RENAME TABLE addons_restore.staged TO orders_db.staged');
    await sql('DROP TABLE orders_db.staged');
    await sql('DROP DATABASE addons_restore');
    // `_` is not a wildcard in these grants; no other database, no server files, no accounts.
    await expect(sql('CREATE DATABASE addonsXrestore')).rejects.toMatchObject({ errno: 1044 });
    await expect(sql('CREATE DATABASE other_db')).rejects.toMatchObject({ errno: 1044 });
    expect(await sql("SELECT LOAD_FILE('/etc/passwd') AS f")).toEqual([{ f: null }]);
    await expect(sql("CREATE USER 'x'@'%'")).rejects.toMatchObject({ errno: 1227 });
    await expect(sql('SELECT user FROM mysql.global_priv')).rejects.toMatchObject({ errno: 1142 });
    // The platform's account answers on the Unix socket only.
    const { admin } = await readRecord();
    expect(admin.username).toBe('addons_platform');
    const overTcp = await connect({
      user: admin.username,
      password: admin.password,
      database: undefined,
    }).then(
      async (connection) => {
        await connection.end();
        return 0;
      },
      (error: { errno?: number }) => error.errno,
    );
    expect(overTcp).toBe(1045); // access denied: no account of that name for 127.0.0.1
  });

  it('stopAll stops the server; a new supervisor resumes it on the same port with its data', async () => {
    const pid = await serverPid();
    await first.stopAll();
    expect(await isAlive(pid)).toBe(false);
    expect(await acceptsConnections(port)).toBe(false);
    await expect(first.describeInstance(ID)).resolves.toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('not running'),
    });

    const second = supervisor();
    current = second;
    const started = Date.now();
    await second.resume([ID]);
    timings.resume = Date.now() - started;
    expect(await waitAvailable(second)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await sql('SELECT count(*) AS n FROM orders')).toEqual([{ n: 2 }]);
  });

  it('a SIGKILLed server is reported failed and comes back with every committed row on resume', async () => {
    await sql("INSERT INTO orders VALUES (3, 'committed just before the crash')");
    const crashed = await serverPid();
    process.kill(crashed, 'SIGKILL');
    await expect(
      poll(
        () => current.describeInstance(ID),
        (state) => state.status === 'failed',
      ),
    ).resolves.toMatchObject({ reason: expect.stringContaining('stopped unexpectedly') });

    // Make the stale pid file name a live process that is not this server (a reused pid).
    const record = await readRecord();
    await fs.writeFile(path.join(instanceDir(), record.dataDir, 'mariadbd.pid'), `${process.pid}\n`);
    const third = supervisor();
    current = third;
    const started = Date.now();
    await third.resume([ID]);
    timings.crashRecovery = Date.now() - started;
    expect(await waitAvailable(third)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await sql('SELECT count(*) AS n FROM orders')).toEqual([{ n: 3 }]);
    expect(await isAlive(process.pid)).toBe(true);
  });

  it('resume copes with a server left running by a SIGKILLed platform process', async () => {
    await current.stopAll();
    // A separate Node process plays the platform: it resumes the instance and is then SIGKILLed,
    // which leaves its (detached) mariadbd running.
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
    // Still serving without its platform, and describeInstance sees it.
    expect(await sql('SELECT count(*) AS n FROM orders')).toEqual([{ n: 3 }]);
    const fourth = supervisor();
    current = fourth;
    await expect(fourth.describeInstance(ID)).resolves.toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });

    await fourth.resume([ID]);
    expect(await waitAvailable(fourth)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await isAlive(orphan)).toBe(false);
    expect(await serverPid()).not.toBe(orphan);
    expect(fourth.isRunning(ID)).toBe(true);
    expect(await sql('SELECT count(*) AS n FROM orders')).toEqual([{ n: 3 }]);
  });

  it('takes a snapshot while serving, and restoring it in place brings the data of that moment back', async () => {
    await sql('CREATE TABLE notes (id int PRIMARY KEY, body text) ENGINE=InnoDB');
    await sql("INSERT INTO notes SELECT seq, CONCAT('note ', seq, ' ✓') FROM seq_1_to_3000");
    await sql('CREATE TABLE legacy (id int, label varchar(20)) ENGINE=MyISAM');
    await sql("INSERT INTO legacy VALUES (1, 'aria/myisam')");
    await sql('CREATE TABLE heartbeat (id int PRIMARY KEY) ENGINE=InnoDB');
    const before = await checksums();
    expect(Object.keys(before)).toEqual(['legacy', 'notes', 'orders']);
    const pid = await serverPid();

    const started = Date.now();
    await current.createSnapshot(ID, SNAP);
    // Serving meanwhile: writes succeed while the copy runs (the snapshot holds some prefix of them).
    let writes = 0;
    while ((await current.describeSnapshot(SNAP)).status === 'creating') {
      writes += 1;
      await sql('INSERT INTO heartbeat VALUES (?)', [writes]);
    }
    timings.snapshot = Date.now() - started;
    expect(writes).toBeGreaterThan(0);
    const snapshot: SnapshotState = await current.describeSnapshot(SNAP);
    expect(snapshot).toMatchObject({ status: 'available', sizeBytes: expect.any(Number) });
    expect(await serverPid()).toBe(pid); // online: no restart
    const meta = JSON.parse(
      await fs.readFile(path.join(dataDir, 'snapshots', SNAP, 'snapshot.json'), 'utf8'),
    );
    expect(meta).toMatchObject({
      engine: 'mysql',
      version: '10.11',
      engineMajor: '10.11',
      format: 'mariadb-backup',
      database: 'orders_db',
      username: 'addonadmin',
      state: 'available',
    });
    expect(JSON.stringify(meta)).not.toContain(spec().password);
    const backup = await fs.readdir(path.join(dataDir, 'snapshots', SNAP, 'backup'));
    expect(backup).toEqual(
      expect.arrayContaining(['xtrabackup_checkpoints', 'mysql_upgrade_info', 'orders_db']),
    );

    // Change the data after the snapshot: rows, a table dropped, a table added.
    await sql('DELETE FROM notes WHERE id > 10');
    await sql("UPDATE orders SET item = 'changed'");
    await sql('DROP TABLE legacy');
    await sql('CREATE TABLE after_snapshot (id int)');
    expect(await checksums()).not.toEqual(before);

    const restoreStarted = Date.now();
    await current.restoreSnapshot(ID, SNAP, 'op-restore-1');
    const restored: RestoreState = await poll(
      () => current.describeRestore(ID, SNAP, 'op-restore-1'),
      (state) => state.status !== 'restoring',
      60_000,
    );
    timings.restore = Date.now() - restoreStarted;
    expect(restored).toEqual({ status: 'available' });
    expect(await current.describeInstance(ID)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await checksums()).toEqual(before);
    const [beats] = await sql<{ n: number; top: number | null }>(
      'SELECT count(*) AS n, max(id) AS top FROM heartbeat',
    );
    expect(beats?.n).toBeLessThanOrEqual(writes);
    expect(beats?.top ?? 0).toBe(beats?.n); // a prefix: no write is missing before the last one kept
    expect(await sql('SELECT item FROM orders ORDER BY id')).toEqual([
      { item: 'crème brûlée' },
      { item: 'tea' },
      { item: 'committed just before the crash' },
    ]);
    // The same credentials and grants on the restored data; the previous data directory is gone.
    expect((await grants()).length).toBe(4);
    const record = await readRecord();
    expect(record.dataDir).not.toBe('data');
    expect(record.restore).toMatchObject({ snapshotId: SNAP, state: 'available' });
    const dirs = (await fs.readdir(instanceDir())).filter((name) => name.startsWith('data'));
    expect(dirs).toEqual([record.dataDir]);
    expect(await fs.readdir(path.join(instanceDir(), record.dataDir))).not.toContain(
      'xtrabackup_checkpoints',
    );

    // The restored instance restarts as any other.
    await current.stopAll();
    const fifth = supervisor();
    current = fifth;
    await fifth.resume([ID]);
    expect(await waitAvailable(fifth)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await checksums()).toEqual(before);
  });

  it('a damaged snapshot fails to restore before the server stops: same process, same data', async () => {
    await current.createSnapshot(ID, SNAP_DAMAGED);
    expect(
      await poll(
        () => current.describeSnapshot(SNAP_DAMAGED),
        (state) => state.status !== 'creating',
      ),
    ).toMatchObject({ status: 'available' });
    // The redo log copied with the files, overwritten: --prepare cannot apply it.
    const redo = path.join(dataDir, 'snapshots', SNAP_DAMAGED, 'backup', 'ib_logfile0');
    const { size } = await fs.stat(redo);
    await fs.writeFile(redo, Buffer.alloc(size, 0x5a));
    const before = await checksums();
    const pid = await serverPid();

    await current.restoreSnapshot(ID, SNAP_DAMAGED, 'op-restore-damaged');
    const failed = await poll(
      () => current.describeRestore(ID, SNAP_DAMAGED, 'op-restore-damaged'),
      (state) => state.status !== 'restoring',
      60_000,
    );
    expect(failed).toMatchObject({ status: 'failed', reason: expect.stringContaining('--prepare') });
    expect(await serverPid()).toBe(pid);
    expect(await current.describeInstance(ID)).toEqual({
      status: 'available',
      endpoint: { host: '127.0.0.1', port },
    });
    expect(await checksums()).toEqual(before);
    const record = await readRecord();
    expect((await fs.readdir(instanceDir())).filter((name) => name.startsWith('data'))).toEqual([
      record.dataDir,
    ]);
    await current.deleteSnapshot(SNAP_DAMAGED);
  });

  it('deletes: process gone, port closed, directory removed, describe absent', async () => {
    const pid = await serverPid();
    await current.deleteInstance(ID);
    expect(await isAlive(pid)).toBe(false);
    expect(await acceptsConnections(port)).toBe(false);
    await expect(fs.stat(instanceDir())).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(current.describeInstance(ID)).resolves.toEqual({ status: 'absent' });
    await expect(current.deleteInstance(ID)).resolves.toBeUndefined();
    await current.deleteSnapshot(SNAP);
  });

  it('refuses what the local MariaDB cannot do, naming the field', async () => {
    const provider = supervisor();
    const refused = async (overrides: Partial<InstanceSpec>) => {
      const error = await provider.createInstance(spec(overrides)).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(UnsupportedError);
      return (error as UnsupportedError).issues.map((issue) => issue.path);
    };
    expect(await refused({ version: '8.4' })).toEqual(['version']);
    // TLS and replicas are served locally (the replicas are made once the instance runs); public access at create is not.
    expect(await refused({ tls: true, replicas: 1, publicAccess: true })).toEqual(['publicAccess']);
    expect(await refused({ username: 'root' })).toEqual(['username']);
    expect(await refused({ username: 'addons_platform' })).toEqual(['username']);
    expect(await refused({ username: 'addons_replication' })).toEqual(['username']);
    expect(await refused({ username: 'a'.repeat(33) })).toEqual(['username']);
    expect(await refused({ database: 'mysql' })).toEqual(['database']);
    expect(await refused({ database: 'addons_restore' })).toEqual(['database']);
    await expect(provider.describeInstance(ID)).resolves.toEqual({ status: 'absent' });
  });
});
