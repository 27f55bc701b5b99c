import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalEngineSupervisor } from '#infra/local/engines/supervisor.ts';
import { ProviderError } from '#shared/errors.ts';
import type { InstanceSpec, RestoreState, SnapshotState } from '#shared/ports/engine-provider.ts';
import {
  isAlive,
  killLeftoverServers,
  localSpec,
  poll,
  spawnPlatform,
  supervisorPool,
} from './support/local-engines.ts';

/**
 * Snapshots and in-place restores of the local target, on real PostgreSQL processes in a temporary
 * data directory. The tests of this file run in order and share one instance.
 */

const ID = 'addon-01jtestlocalsnapshots';
const SNAP_A = 'snp-01jtest-a';
const SNAP_B = 'snp-01jtest-b';

const spec: InstanceSpec = localSpec({
  resourceId: ID,
  addonId: 'adn-01jtestlocalsnapshots',
  engine: 'postgresql',
  version: '15',
  database: 'shop_db',
  username: 'shopadmin',
  password: 'Pw7snapshotsabcdefghijkmnopqrstu',
});

let dataDir: string;
let port = 0;
const timings: Record<string, number> = {};
const { supervisor, supervisors, logs } = supervisorPool(() => dataDir);

const instanceDir = () => path.join(dataDir, 'engines', ID);
const snapshotDir = (id: string) => path.join(dataDir, 'snapshots', id);

interface StoredRecord {
  port: number;
  dataDir: string;
  restore?: { snapshotId: string; state: string; phase?: string; dataDir?: string; reason?: string };
}
const readRecord = async (): Promise<StoredRecord> =>
  JSON.parse(await fs.readFile(path.join(instanceDir(), 'instance.json'), 'utf8')) as StoredRecord;

const postmasterPid = async (): Promise<number> => {
  const record = await readRecord();
  const pidfile = await fs.readFile(path.join(instanceDir(), record.dataDir, 'postmaster.pid'), 'utf8');
  return Number.parseInt(pidfile.split('\n')[0] ?? '', 10);
};

const snapshotSettled = (state: SnapshotState) => state.status !== 'creating';
const restoreSettled = (state: RestoreState) => state.status !== 'restoring';

const connect = async (password = spec.password): Promise<pg.Client> => {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: spec.username,
    password,
    database: spec.database,
    connectionTimeoutMillis: 5_000,
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

const sql = async (text: string): Promise<Array<{ [column: string]: unknown }>> => {
  const client = await connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
};

/** The table list and a checksum of every table's rows. */
const fingerprint = async (): Promise<{ tables: string[]; sums: { [table: string]: string } }> => {
  const client = await connect();
  try {
    const tables = (
      await client.query<{ name: string }>(
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
      )
    ).rows.map((row) => row.name);
    const sums: { [table: string]: string } = {};
    for (const table of tables) {
      const { rows } = await client.query<{ sum: string }>(
        `SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) AS sum FROM ${client.escapeIdentifier(table)} t`,
      );
      sums[table] = rows[0]?.sum ?? '';
    }
    return { tables, sums };
  } finally {
    await client.end();
  }
};

const run = (command: string, args: string[], cwd: string): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(command, args, { cwd, encoding: 'utf8' }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command} ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
    );
  });

const waitForSnapshot = async (provider: LocalEngineSupervisor, id: string): Promise<SnapshotState> =>
  poll(() => provider.describeSnapshot(id), snapshotSettled);

const RESTORE_WAIT_MS = 100_000;

const waitForRestore = async (
  provider: LocalEngineSupervisor,
  id: string,
  restoreId = id,
): Promise<RestoreState> =>
  // As long as a restore may legitimately take: the old server's stop (its grace period), the
  // unpacking, and a start that may fail and be rolled back, on a machine busy with other suites.
  poll(() => provider.describeRestore(ID, id, restoreId), restoreSettled, RESTORE_WAIT_MS);

const expectServing = async (provider: LocalEngineSupervisor) => {
  expect(await provider.describeInstance(ID)).toEqual({
    status: 'available',
    endpoint: { host: '127.0.0.1', port },
  });
};

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-snapshots-'));
});

afterAll(async () => {
  if (process.env.DEBUG_ENGINE_LOGS) console.info(JSON.stringify(logs, null, 1));
  console.info('local-snapshots timings (ms):', timings);
  for (const each of supervisors) await each.stopAll();
  await killLeftoverServers(instanceDir(), 'postmaster.pid', 'SIGQUIT');
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('LocalEngineSupervisor snapshots (PostgreSQL, real processes)', {
  timeout: 2 * RESTORE_WAIT_MS,
}, () => {
  let first: LocalEngineSupervisor;
  let atSnapshotA: Awaited<ReturnType<typeof fingerprint>>;

  it('takes a consistent snapshot while the instance keeps serving, also of an instance created before snapshots', async () => {
    first = supervisor();
    await first.createInstance(spec);
    const state = await poll(
      () => first.describeInstance(ID),
      (each) => each.status !== 'creating',
    );
    if (state.status !== 'available') throw new Error(`instance not available: ${JSON.stringify(state)}`);
    port = state.endpoint.port;

    await sql(`
      CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, since date NOT NULL);
      INSERT INTO customers SELECT g, 'customer ' || g, date '2024-01-01' + g FROM generate_series(1, 500) g;
      CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10, 2), note text);
      INSERT INTO orders (customer_id, total, note)
        SELECT 1 + g % 500, g * 1.25, 'crème brûlée #' || g FROM generate_series(1, 5000) g;
      CREATE TABLE notes (id int, body jsonb);
      INSERT INTO notes SELECT g, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g)) FROM generate_series(1, 300) g;
    `);
    atSnapshotA = await fingerprint();
    expect(atSnapshotA.tables).toEqual(['customers', 'notes', 'orders']);

    // An instance created before snapshots existed has no access block: the snapshot patches it in
    // and reloads the server (no restart).
    const data = path.join(instanceDir(), (await readRecord()).dataDir);
    for (const name of ['pg_hba.conf', 'pg_ident.conf']) {
      const file = path.join(data, name);
      const text = await fs.readFile(file, 'utf8');
      expect(text).toContain('addons-platform snapshot access');
      await fs.writeFile(
        file,
        text.replace(/# BEGIN addons-platform[\s\S]*?# END addons-platform snapshot access\n?/, ''),
      );
    }
    const pid = await postmasterPid();
    process.kill(pid, 'SIGHUP');

    const started = Date.now();
    await Promise.all([first.createSnapshot(ID, SNAP_A), first.createSnapshot(ID, SNAP_A)]);
    // Serving meanwhile.
    expect(await sql('SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 5000 }]);
    const snapshot = await waitForSnapshot(first, SNAP_A);
    timings.snapshot = Date.now() - started;
    expect(snapshot).toMatchObject({ status: 'available' });
    if (snapshot.status !== 'available') throw new Error('unreachable');
    expect(snapshot.sizeBytes).toBeGreaterThan(0);
    expect(await postmasterPid()).toBe(pid); // taken online, no restart
    await expect(fs.readFile(path.join(data, 'pg_hba.conf'), 'utf8')).resolves.toMatch(
      /^# BEGIN addons-platform snapshot access/,
    );

    const meta = JSON.parse(await fs.readFile(path.join(snapshotDir(SNAP_A), 'snapshot.json'), 'utf8'));
    expect(meta).toMatchObject({
      snapshotId: SNAP_A,
      resourceId: ID,
      engine: 'postgresql',
      version: '15',
      engineMajor: '15',
      state: 'available',
      sizeBytes: snapshot.sizeBytes,
    });
    expect(JSON.stringify(meta)).not.toContain(spec.password);
    expect((await fs.readdir(path.join(snapshotDir(SNAP_A), 'backup'))).sort()).toEqual([
      'backup_manifest',
      'base.tar.zst',
      'pg_wal.tar.zst',
    ]);
    expect(
      (await fs.readdir(path.join(dataDir, 'snapshots'))).filter((name) => name.startsWith('.')),
    ).toEqual([]);

    // Idempotent: creating it again is a no-op.
    await first.createSnapshot(ID, SNAP_A);
    await expect(first.describeSnapshot(SNAP_A)).resolves.toEqual(snapshot);
    const again = JSON.parse(await fs.readFile(path.join(snapshotDir(SNAP_A), 'snapshot.json'), 'utf8'));
    expect(again.createdAt).toBe(meta.createdAt);
    await expect(first.createSnapshot('addon-does-not-exist', 'snp-other')).rejects.toMatchObject({
      code: 'InstanceNotFound',
    });
    await expect(first.describeSnapshot('snp-never-taken')).resolves.toEqual({ status: 'absent' });
  });

  it('restores in place: same port, same password, the data as it was at snapshot time', async () => {
    await sql(`
      UPDATE orders SET total = total + 1, note = note || ' (edited)' WHERE id % 7 = 0;
      DELETE FROM orders WHERE id > 4900;
      DROP TABLE notes;
      CREATE TABLE coupons (code text PRIMARY KEY, percent int);
      INSERT INTO coupons VALUES ('SPRING', 10), ('SUMMER', 15);
    `);
    const changed = await fingerprint();
    expect(changed.tables).toEqual(['coupons', 'customers', 'orders']);
    const pid = await postmasterPid();

    const started = Date.now();
    await first.restoreSnapshot(ID, SNAP_A);
    const seen = new Set<string>();
    const restored = await poll(
      () => first.describeRestore(ID, SNAP_A),
      (state) => {
        seen.add(state.status);
        return restoreSettled(state);
      },
    );
    timings.restore = Date.now() - started;
    expect(restored).toEqual({ status: 'available' });
    expect(seen).toContain('restoring');
    await expectServing(first);
    expect(await fingerprint()).toEqual(atSnapshotA);
    // The sequence came back too: the next order id follows the snapshot's last one.
    expect(
      await sql('INSERT INTO orders (customer_id, total) VALUES (1, 1) RETURNING id::int AS id'),
    ).toEqual([{ id: 5001 }]);
    await sql('DELETE FROM orders WHERE id = 5001');
    await expect(connect('wrong-password')).rejects.toMatchObject({ code: '28P01' });

    // On disk: a new data directory (0700, the engine user's), the previous one gone, same port.
    const record = await readRecord();
    expect(record.port).toBe(port);
    expect(record.dataDir).not.toBe('data');
    expect(record.restore).toMatchObject({ snapshotId: SNAP_A, state: 'available' });
    expect((await fs.readdir(instanceDir())).filter((name) => name.startsWith('data'))).toEqual([
      record.dataDir,
    ]);
    const stat = await fs.stat(path.join(instanceDir(), record.dataDir));
    expect(stat.mode & 0o777).toBe(0o700);
    if (process.getuid?.() === 0) expect(stat.uid).not.toBe(0);
    expect(await postmasterPid()).not.toBe(pid);

    // Idempotent: the same call again does not restore twice.
    const restartedPid = await postmasterPid();
    await first.restoreSnapshot(ID, SNAP_A);
    await expect(first.describeRestore(ID, SNAP_A)).resolves.toEqual({ status: 'available' });
    expect(await postmasterPid()).toBe(restartedPid);
    console.info(
      'local-snapshots: restore',
      logs.find((entry) => entry.msg === 'engine: snapshot restored')?.extra,
      'snapshot',
      logs.find((entry) => entry.msg === 'engine: snapshot taken')?.extra,
    );
  });

  it('a restore from a snapshot that does not exist, or of another major version, fails cleanly', async () => {
    const pid = await postmasterPid();
    const attempt = first.restoreSnapshot(ID, 'snp-does-not-exist');
    await expect(attempt).rejects.toBeInstanceOf(ProviderError);
    await expect(attempt).rejects.toMatchObject({ code: 'SnapshotNotFound' });
    await expect(first.describeRestore(ID, 'snp-does-not-exist')).resolves.toMatchObject({
      status: 'failed',
    });

    // A snapshot of PostgreSQL 14 data (its record says so) is refused before anything happens.
    await fs.mkdir(path.join(snapshotDir('snp-pg14'), 'backup'), { recursive: true });
    const meta = JSON.parse(await fs.readFile(path.join(snapshotDir(SNAP_A), 'snapshot.json'), 'utf8'));
    await fs.writeFile(
      path.join(snapshotDir('snp-pg14'), 'snapshot.json'),
      JSON.stringify({ ...meta, snapshotId: 'snp-pg14', engineMajor: '14' }),
    );
    await expect(first.restoreSnapshot(ID, 'snp-pg14')).rejects.toMatchObject({
      code: 'SnapshotIncompatible',
      message: expect.stringContaining('PostgreSQL 14'),
    });
    await first.deleteSnapshot('snp-pg14');

    // A damaged archive fails while unpacking, before the server is touched: no downtime at all.
    const garbage = snapshotDir('snp-garbage');
    await run('cp', ['-a', snapshotDir(SNAP_A), garbage], dataDir);
    await fs.writeFile(path.join(garbage, 'backup', 'base.tar.zst'), 'not a zstd archive');
    await fs.writeFile(
      path.join(garbage, 'snapshot.json'),
      JSON.stringify({ ...meta, snapshotId: 'snp-garbage' }),
    );
    await first.restoreSnapshot(ID, 'snp-garbage');
    expect(await waitForRestore(first, 'snp-garbage')).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/rolled back.*extracting base\.tar\.zst failed/s),
    });
    await first.deleteSnapshot('snp-garbage');

    expect(await postmasterPid()).toBe(pid);
    await expectServing(first);
    expect(await fingerprint()).toEqual(atSnapshotA);
    expect((await fs.readdir(instanceDir())).filter((name) => name.startsWith('data'))).toEqual([
      (await readRecord()).dataDir,
    ]);
  });

  it('deleting a snapshot being taken interrupts it and leaves nothing behind', async () => {
    const pid = await postmasterPid();
    await first.createSnapshot(ID, 'snp-deleted-early');
    await expect(first.describeSnapshot('snp-deleted-early')).resolves.toEqual({ status: 'creating' });
    await first.deleteSnapshot('snp-deleted-early');
    await expect(first.describeSnapshot('snp-deleted-early')).resolves.toEqual({ status: 'absent' });
    expect((await fs.readdir(path.join(dataDir, 'snapshots'))).sort()).toEqual([SNAP_A]);
    expect(await postmasterPid()).toBe(pid);
    await expectServing(first);
  });

  it('a restore that fails after the switch (the restored copy does not start) rolls back to the previous data', async () => {
    // A copy of snapshot A whose data directory lacks global/pg_control (and its manifest, which
    // would catch that before the switch): it unpacks, then PostgreSQL refuses to start on it.
    const broken = snapshotDir('snp-broken');
    await run('cp', ['-a', snapshotDir(SNAP_A), broken], dataDir);
    const backup = path.join(broken, 'backup');
    const owner = await fs.stat(backup);
    await run('zstd', ['-q', '-d', '--rm', 'base.tar.zst'], backup);
    await run('tar', ['--delete', '--file=base.tar', 'global/pg_control'], backup);
    await run('zstd', ['-q', '--rm', 'base.tar'], backup);
    await fs.rm(path.join(backup, 'backup_manifest'));
    await fs.chown(path.join(backup, 'base.tar.zst'), owner.uid, owner.gid);
    const meta = JSON.parse(await fs.readFile(path.join(broken, 'snapshot.json'), 'utf8'));
    await fs.writeFile(
      path.join(broken, 'snapshot.json'),
      JSON.stringify({ ...meta, snapshotId: 'snp-broken' }),
    );

    const before = await readRecord();
    await first.restoreSnapshot(ID, 'snp-broken');
    const failed = await waitForRestore(first, 'snp-broken');
    expect(failed).toMatchObject({ status: 'failed', reason: expect.stringContaining('rolled back') });
    expect(failed).toMatchObject({ reason: expect.stringContaining('pg_control') });
    await expectServing(first);
    expect(await fingerprint()).toEqual(atSnapshotA);
    const after = await readRecord();
    expect(after.dataDir).toBe(before.dataDir);
    expect((await fs.readdir(instanceDir())).filter((name) => name.startsWith('data'))).toEqual([
      after.dataDir,
    ]);
    await first.deleteSnapshot('snp-broken');
  });

  it('discarding a restore its workflow gave up on rolls back to the previous data, and keeps one that finished', async () => {
    await sql('CREATE TABLE discarded_restore (id int); INSERT INTO discarded_restore VALUES (1)');
    const before = await fingerprint();
    const record = await readRecord();

    await first.restoreSnapshot(ID, SNAP_A, 'op-discarded');
    const outcome = await first.discardRestore(ID, SNAP_A, 'op-discarded');

    expect(outcome).toBe('discarded');
    await expectServing(first);
    expect(await fingerprint()).toEqual(before);
    expect((await readRecord()).dataDir).toBe(record.dataDir);
    expect((await fs.readdir(instanceDir())).filter((name) => name.startsWith('data'))).toEqual([
      record.dataDir,
    ]);

    await first.restoreSnapshot(ID, SNAP_A, 'op-finished');
    await waitForRestore(first, SNAP_A, 'op-finished');
    await expect(first.discardRestore(ID, SNAP_A, 'op-finished')).resolves.toBe('completed');
    expect(await fingerprint()).toEqual(atSnapshotA);
  });

  it('a platform killed mid-restore is rolled back at resume; restoring again then completes', async () => {
    // State B, snapshotted; then state C, which the interrupted restore must not lose.
    await sql(
      "UPDATE customers SET name = upper(name) WHERE id <= 100; CREATE TABLE b_marker AS SELECT 'b' AS v",
    );
    const atSnapshotB = await fingerprint();
    await first.createSnapshot(ID, SNAP_B);
    expect(await waitForSnapshot(first, SNAP_B)).toMatchObject({ status: 'available' });
    await sql("DELETE FROM orders WHERE id % 2 = 0; CREATE TABLE c_marker AS SELECT 'c' AS v");
    const atC = await fingerprint();

    // Another platform process restores snapshot B, and is SIGKILLed once instance.json says it
    // switched to the restored copy, whose server (detached) is then still starting.
    const platform = spawnPlatform(
      dataDir,
      `await supervisor.restoreSnapshot(process.env.RESOURCE_ID, process.env.SNAPSHOT_ID);
       console.log('RESTORING');`,
      { RESOURCE_ID: ID, SNAPSHOT_ID: SNAP_B },
    );
    let switched: { record: StoredRecord; orphan: number };
    try {
      switched = await poll(
        async () => {
          if (platform.gone()) throw new Error(`the platform process exited: ${platform.output()}`);
          const record = await readRecord();
          const done = record.restore?.snapshotId === SNAP_B && record.restore.state !== 'restoring';
          if (done || record.restore?.phase !== 'switched') return { record, orphan: done ? -1 : 0 };
          // Switched, and the restored copy's server has started (it writes postmaster.pid first).
          const pidfile = await fs
            .readFile(path.join(instanceDir(), record.dataDir, 'postmaster.pid'), 'utf8')
            .catch(() => '');
          return { record, orphan: Number.parseInt(pidfile.split('\n')[0] ?? '', 10) || 0 };
        },
        (state) => state.orphan !== 0,
        45_000,
      );
    } finally {
      platform.child.kill('SIGKILL');
      await platform.exited;
    }
    expect(switched.record.restore).toMatchObject({ state: 'restoring', phase: 'switched' });
    expect(switched.record.dataDir).toBe(switched.record.restore?.dataDir);
    // The restored copy's server outlives the platform process (engines are detached).
    expect(await isAlive(switched.orphan)).toBe(true);

    // Before any resume: the restore is reported failed (nothing runs it any more).
    const second = supervisor();
    await expect(second.describeRestore(ID, SNAP_B)).resolves.toMatchObject({ status: 'failed' });

    await second.resume([ID]);
    await expectServing(second);
    expect(await fingerprint()).toEqual(atC);
    const record = await readRecord();
    // It had switched: the replicas that followed the restored copy are seeded again (replicas.ts).
    expect(record.restore).toMatchObject({ snapshotId: SNAP_B, state: 'failed', servedRestored: true });
    expect(record.dataDir).not.toBe(switched.record.dataDir);
    expect(await isAlive(switched.orphan)).toBe(false);
    expect(logs.map((entry) => entry.msg)).toContain(
      'engine: stopping a server left running on an interrupted restore',
    );
    expect((await fs.readdir(instanceDir())).filter((name) => name.startsWith('data'))).toEqual([
      record.dataDir,
    ]);
    await expect(second.describeRestore(ID, SNAP_B)).resolves.toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('interrupted'),
    });

    // The workflow, run again after the restart, retries: the restore completes.
    await second.restoreSnapshot(ID, SNAP_B);
    expect(await waitForRestore(second, SNAP_B)).toEqual({ status: 'available' });
    await expectServing(second);
    expect(await fingerprint()).toEqual(atSnapshotB);
  });

  it('resume rolls back a restore a crash interrupted while unpacking', async () => {
    const second = supervisors.at(-1) as LocalEngineSupervisor;
    const before = await fingerprint();
    await second.stopAll();
    // What a crash during unpacking leaves: the record says preparing, a half-filled copy beside.
    const record = await readRecord();
    const half = 'data-zzzzzz';
    await fs.mkdir(path.join(instanceDir(), half, 'base'), { recursive: true });
    await fs.writeFile(path.join(instanceDir(), half, 'PG_VERSION'), '15\n');
    await fs.writeFile(
      path.join(instanceDir(), 'instance.json'),
      JSON.stringify({
        ...record,
        restore: {
          snapshotId: SNAP_A,
          state: 'restoring',
          phase: 'preparing',
          dataDir: half,
          previousDataDir: record.dataDir,
          startedAt: new Date().toISOString(),
        },
      }),
    );
    const third = supervisor();
    await third.resume([ID]);
    await expectServing(third);
    expect(await fingerprint()).toEqual(before);
    expect((await fs.readdir(instanceDir())).filter((name) => name.startsWith('data'))).toEqual([
      record.dataDir,
    ]);
    await expect(third.describeRestore(ID, SNAP_A)).resolves.toMatchObject({ status: 'failed' });
  });

  it('snapshots survive the deletion of their instance, and can then be deleted', async () => {
    const third = supervisors.at(-1) as LocalEngineSupervisor;
    await third.deleteInstance(ID);
    await expect(third.describeInstance(ID)).resolves.toEqual({ status: 'absent' });
    const kept = await third.describeSnapshot(SNAP_A);
    expect(kept).toMatchObject({ status: 'available' });
    await expect(supervisor().describeSnapshot(SNAP_B)).resolves.toMatchObject({ status: 'available' });

    await third.deleteSnapshot(SNAP_A);
    await expect(third.describeSnapshot(SNAP_A)).resolves.toEqual({ status: 'absent' });
    await expect(fs.stat(snapshotDir(SNAP_A))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(third.deleteSnapshot(SNAP_A)).resolves.toBeUndefined();

    // A snapshot a crash interrupted (a partial directory only) is failed, and deletable.
    await fs.mkdir(path.join(dataDir, 'snapshots', '.partial.snp-crashed.0a1b2c3d', 'backup'), {
      recursive: true,
    });
    await expect(third.describeSnapshot('snp-crashed')).resolves.toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('interrupted'),
    });
    await third.deleteSnapshot('snp-crashed');
    await expect(third.describeSnapshot('snp-crashed')).resolves.toEqual({ status: 'absent' });

    await third.deleteSnapshot(SNAP_B);
    expect(await fs.readdir(path.join(dataDir, 'snapshots'))).toEqual([]);
  });
});
