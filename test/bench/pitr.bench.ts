/**
 * Issue 10 benchmark: a local PostgreSQL point-in-time restore against a snapshot restore of the
 * same data, in the same process and run.
 *
 * A supervisor (the local provider, as the platform runs it) with s3rver as the WAL archive creates
 * an instance; once its first base backup is archived, `pgbench -i -s ADDONS_BENCH_PITR_SCALE`
 * (default 20, about 300 MB) loads it, then a marker row is written and a time T noted after it.
 * The snapshot is taken after T (its restore is the baseline: unpack and verify the pg_basebackup
 * copy, stop, start). The PITR restore to T downloads the base backup and the WAL from s3rver,
 * unpacks, replays the WAL of the whole load up to T with a private server, then the same stop and
 * start. Both are timed from the call until `describeRestore` says available (polled every 100 ms).
 * ratio = snapshot time / PITR time (1 = as fast; below 1 = PITR slower, which it must be by the
 * replay of the WAL since the base backup). No goal is set by the issue: it is printed, not checked.
 */
import '#shared/util/polyfills.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { LocalEngineSupervisor } from '#infra/local/engines/supervisor.ts';
import { ensureBucket, startS3 } from '#infra/local/s3-emulator.ts';
import { type InstanceSpec, pointInTimeKey, type RestoreState } from '#shared/ports/engine-provider.ts';
import { loadAverage, run, secs } from './support/measure.ts';

const SCALE = Number(process.env.ADDONS_BENCH_PITR_SCALE ?? 20);
const ID = 'addon-benchpitr';
const BUCKET = 'addons-bench-pitr';
const POLL_MS = 100;

const spec: InstanceSpec = {
  resourceId: ID,
  projectId: 'prj-bench',
  addonId: 'adn-benchpitr',
  engine: 'postgresql',
  version: '15',
  plan: { id: 'small', vcpu: 2, memoryMiB: 2048, instanceClass: 'db.t4g.small' },
  storageGiB: 20,
  replicas: 0,
  tls: false,
  publicAccess: false,
  database: 'bench_db',
  username: 'benchadmin',
  password: 'Pw7benchpitrabcdefghijkmnopqrstu',
};

const until = async <T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
};

const main = async () => {
  process.env.ADDONS_PITR_ARCHIVE_TIMEOUT_SECONDS ??= '5';
  console.info(`PITR restore vs snapshot restore, pgbench scale ${SCALE}; load ${await loadAverage()}`);
  const dataDir = await mkdtemp(join(tmpdir(), 'addons-bench-pitr-'));
  const s3 = await startS3(dataDir);
  const supervisor = new LocalEngineSupervisor({
    dataDir,
    walArchive: { client: s3.client, endpoint: s3.endpoint, bucket: BUCKET, prefix: 'pitr/' },
  });
  try {
    await ensureBucket(s3.client, BUCKET);
    await supervisor.createInstance(spec);
    await supervisor.archiveMaintenance();
    const state = await supervisor.describeInstance(ID);
    if (state.status !== 'available') throw new Error(`instance ${JSON.stringify(state)}`);
    const { port } = state.endpoint;
    const connection = {
      host: '127.0.0.1',
      port,
      user: spec.username,
      password: spec.password,
      database: spec.database,
    };
    const query = async (text: string) => {
      const client = new pg.Client(connection);
      await client.connect();
      try {
        return (await client.query(text)).rows as Array<Record<string, unknown>>;
      } finally {
        await client.end();
      }
    };

    const loadStarted = performance.now();
    const load = await run(
      '/usr/lib/postgresql/15/bin/pgbench',
      [
        '-i',
        '-q',
        '-s',
        String(SCALE),
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        spec.username,
        spec.database,
      ],
      { PATH: process.env.PATH, PGPASSWORD: spec.password },
    );
    if (load.code !== 0) throw new Error(`pgbench -i failed: ${load.stderr}`);
    const [size] = await query('SELECT pg_database_size(current_database()) AS bytes');
    console.info(
      `loaded ${(Number(size?.bytes) / 1024 ** 2).toFixed(0)} MB in ${secs(performance.now() - loadStarted)}`,
    );
    await query("CREATE TABLE marker (name text); INSERT INTO marker VALUES ('before')");
    const afterMarker = Math.floor(Date.now() / 1000) * 1000 + 1000;
    const time = new Date(afterMarker).toISOString().replace('.000Z', 'Z');
    await until(
      async () => Date.now(),
      (now) => now > afterMarker + 50,
      5_000,
    );
    await query("INSERT INTO marker VALUES ('after')");

    const archiveStarted = performance.now();
    await until(
      () => supervisor.describeRestorableWindow(ID),
      (window) => window !== null && Date.parse(window.latestRestorableTime) >= afterMarker,
      900_000,
    );
    console.info(`archive caught up with T ${secs(performance.now() - archiveStarted)} after the last write`);

    await supervisor.createSnapshot(ID, 'snp-bench-pitr');
    await until(
      () => supervisor.describeSnapshot('snp-bench-pitr'),
      (each) => each.status !== 'creating',
      900_000,
    );

    const settled = (each: RestoreState) => each.status !== 'restoring';
    const snapshotStarted = performance.now();
    await supervisor.restoreSnapshot(ID, 'snp-bench-pitr', 'op-bench-snapshot');
    const snapshotState = await until(
      () => supervisor.describeRestore(ID, 'snp-bench-pitr', 'op-bench-snapshot'),
      settled,
      900_000,
    );
    const snapshotMs = performance.now() - snapshotStarted;
    if (snapshotState.status !== 'available')
      throw new Error(`snapshot restore ${JSON.stringify(snapshotState)}`);

    // The snapshot restore started a new archive history: the PITR reads the first one, as a fork would.
    const pitrStarted = performance.now();
    await supervisor.restoreToPointInTime(ID, ID, time, 'op-bench-pitr').catch(async (error: unknown) => {
      throw new Error(`PITR refused: ${error instanceof Error ? error.message : String(error)}`);
    });
    const pitrState = await until(
      () => supervisor.describeRestore(ID, pointInTimeKey(ID, time), 'op-bench-pitr'),
      settled,
      1_800_000,
    );
    const pitrMs = performance.now() - pitrStarted;
    if (pitrState.status !== 'available') throw new Error(`PITR ${JSON.stringify(pitrState)}`);
    const markers = (await query('SELECT name FROM marker ORDER BY name')).map((row) => row.name);
    console.info(`snapshot restore: ${secs(snapshotMs)}`);
    console.info(`PITR restore:     ${secs(pitrMs)}  (rows at T: ${markers.join(',')}, expected before)`);
    console.info(`ratio snapshot/PITR: ${(snapshotMs / pitrMs).toFixed(2)}`);
    if (markers.join(',') !== 'before') throw new Error('the PITR restore did not land at T');
  } finally {
    await supervisor.stopAll();
    await s3.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
};

await main();
