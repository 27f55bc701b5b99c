/**
 * Issue 13 benchmark: backups end to end, as the user waits for them, on the local target.
 *
 * One PostgreSQL addon on a local platform (HTTP gateway, workflow runner, job processes). For an
 * empty database, the dump benchmarks' fixture (BENCH_BACKUP_GB, default 1 GB of hard-to-compress
 * rows) and a pgbench database (`pgbench -i -s 70 × BENCH_BACKUP_GB`, about as large):
 * - backup: `POST .../backups` (dump) until the operation reads `completed` (polled every 25 ms, then less often: see POLL_SHARE),
 *   interleaved with `pg_dump -Fc > file` (the file the restore baseline reads) and `pg_dump -Fc -Z0 > /dev/null` against the same
 *   server with the job's own pg_dump; ratio = baseline / end to end, goals >= 1.0 and >= 0.85;
 * - restore: `POST .../backups/{id}/restore` until `completed`, interleaved with `pg_restore
 *   --single-transaction` of a local `-Fc` file; both into the emptied database, each once the WAL
 *   archiver has caught up (the local addon archives WAL for PITR); goal >= 0.85;
 * - where the time goes, from what the platform records: the operation's createdAt/completedAt,
 *   and the job's log (infra/local/job-runner.ts keeps it): process start, started, completed;
 * - peak RSS of the job processes (sampled from /proc), goal < 200 MB.
 * Best of BENCH_BACKUP_ROUNDS (default 2) rounds each; BENCH_BACKUP_GB=0 measures the empty database only. BENCH_STRICT=1 fails on a missed goal.
 */
import '#shared/util/polyfills.ts';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { inspectServer, libpqEnv, resolvePgTool } from '#shared/jobs/postgresql/postgres.ts';
import type { Credentials } from '#shared/schemas/addon.ts';
import { JobRssSampler } from './support/job-rss.ts';
import {
  check,
  loadAverage,
  mb,
  RSS_GOAL_BYTES,
  type Run,
  rate,
  reportMissedGoals,
  run,
  secs,
} from './support/measure.ts';
import {
  analyzedSize,
  archiverCaughtUp,
  connectTo,
  loadDumpFixture,
  serverCpu,
  tableContents,
} from './support/pg-fixture.ts';
import { type BenchPlatform, median, provisionAddon, startBenchPlatform } from './support/platform.ts';

const GB = Number(process.env.BENCH_BACKUP_GB ?? 1);
const SCALE = Math.max(1, Math.round(70 * GB));
const ROUNDS = Math.max(1, Number(process.env.BENCH_BACKUP_ROUNDS ?? 2));
const EMPTY_RUNS = 3;
/** Idle time between the empty database's runs (BENCH_BACKUP_GAP_MS). */
const GAP_MS = Number(process.env.BENCH_BACKUP_GAP_MS ?? 3000);
const POLL_MS = 25;
/**
 * Each poll costs the local platform about 9 ms of CPU (the gateway, the API handler, DynamoDB in
 * the emulator thread): every 25 ms for the whole run that is a third of a core taken from the
 * server on a 2-core machine, which the baselines do not pay (the CLI polls every second). The
 * interval grows with the time elapsed instead, to at most 2% of it (BENCH_BACKUP_POLL_SHARE,
 * 0 for a fixed 25 ms), and at most POLL_MAX_MS: the completion is seen at most 2% late.
 */
const POLL_SHARE = Number(process.env.BENCH_BACKUP_POLL_SHARE ?? 0.02);
const POLL_MAX_MS = 250;
const pollInterval = (elapsedMs: number) => Math.max(POLL_MS, Math.min(POLL_MAX_MS, elapsedMs * POLL_SHARE));
const GOALS = { dumpFc: 1.0, dumpZ0: 0.85, restore: 0.85 };
const PROJECT = 'bench';

interface Timed {
  /** Client-side: the POST sent until the operation was read `completed`. */
  ms: number;
  operation: { id: string; createdAt: string; completedAt: string };
  /** From the job's log: process start, its `started` and `completed` lines. */
  job: {
    launchedAt: number;
    startedAt: number;
    completedAt: number;
    maxRssBytes: number;
    /** The restore's stages (RestoreJobResult.stages), ms from the job's start. */
    stages?: Record<string, number>;
    /** CPU seconds of the job's Node.js process and of the tools it ran. */
    cpuSeconds?: { self: number; children?: number };
  };
  rss: { nodeBytes: number; treeBytes: number };
  /** CPU seconds, POST to completed, of this process (the platform, its S3 emulator, the polling) and of the server. */
  cpu: { platform: number; server: number };
  backupId?: string;
}

const at = (iso: string) => new Date(iso).getTime();

/** The job's log lines of one operation, once its last line has been written. */
const jobLog = async (dataDir: string, operationId: string): Promise<Timed['job']> => {
  const file = join(dataDir, 'logs', 'jobs', `${operationId}.log`);
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    const lines = (await readFile(file, 'utf8').catch(() => ''))
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map(
        (line) =>
          JSON.parse(line) as {
            time: string;
            message: string;
            launchedAt?: string;
            maxRssBytes?: number;
            result?: { stages?: Record<string, number> };
            cpuSeconds?: { self: number; children?: number };
          },
      );
    const started = lines.find((line) => line.message.endsWith(' started'));
    const completed = lines.find((line) => line.message.endsWith(' completed'));
    if (started?.launchedAt && completed) {
      return {
        launchedAt: at(started.launchedAt),
        startedAt: at(started.time),
        completedAt: at(completed.time),
        maxRssBytes: completed.maxRssBytes ?? Number.NaN,
        ...(completed.result?.stages ? { stages: completed.result.stages } : {}),
        ...(completed.cpuSeconds ? { cpuSeconds: completed.cpuSeconds } : {}),
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no complete job log in ${file}`);
};

/** POSTs `path` and polls the operation it answers until completed, sampling the job's memory meanwhile. */
const endToEnd = async (
  platform: BenchPlatform,
  path: string,
  body: unknown,
  sampler: JobRssSampler,
  serverCpu: () => Promise<number>,
): Promise<Timed> => {
  const { url, headers } = platform;
  sampler.take();
  const serverBefore = await serverCpu();
  const platformBefore = process.cpuUsage();
  const started = performance.now();
  const response = await fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const accepted = (await response.json()) as { operation?: { id: string }; backup?: { id: string } };
  if (response.status !== 202 || !accepted.operation)
    throw new Error(`${path}: ${response.status} ${JSON.stringify(accepted)}`);
  const operationId = accepted.operation.id;
  let lastSample = 0;
  for (;;) {
    const polled = await fetch(`${url}/v1/projects/${PROJECT}/operations/${operationId}`, { headers });
    const operation = (await polled.json()) as Timed['operation'] & { status: string; error: unknown };
    if (operation.status === 'completed') {
      const ms = performance.now() - started;
      const { user, system } = process.cpuUsage(platformBefore);
      const cpu = { platform: (user + system) / 1e6, server: (await serverCpu()) - serverBefore };
      return {
        cpu,
        ms,
        operation,
        job: await jobLog(platform.dataDir, operationId),
        rss: sampler.take(),
        ...(accepted.backup ? { backupId: accepted.backup.id } : {}),
      };
    }
    if (operation.status === 'failed' || operation.status === 'aborted')
      throw new Error(`${path}: ${operation.status} ${JSON.stringify(operation.error)}`);
    if (performance.now() - lastSample > 100) {
      lastSample = performance.now();
      await sampler.sample();
    }
    await new Promise((resolve) => setTimeout(resolve, pollInterval(performance.now() - started)));
  }
};

const fastest = <T extends { ms: number }>(runs: T[]): T => runs.reduce((a, b) => (b.ms < a.ms ? b : a));

/** Where the time went, from the platform's records: queue, job start-up, job, after the job, and the client's polling. */
const breakdown = (timed: Timed) => {
  const created = at(timed.operation.createdAt);
  const completed = at(timed.operation.completedAt);
  const { job } = timed;
  return (
    `queue ${secs(job.launchedAt - created)}, job start-up ${secs(job.startedAt - job.launchedAt)},` +
    ` job ${secs(job.completedAt - job.startedAt)}, job end -> completed ${secs(completed - job.completedAt)},` +
    ` completed -> seen ${secs(timed.ms - (completed - created))}`
  );
};
const msBreakdown = (timed: Timed) => {
  const created = at(timed.operation.createdAt);
  const completed = at(timed.operation.completedAt);
  const { job } = timed;
  const part = (value: number) => `${value.toFixed(0)} ms`;
  return (
    `queue ${part(job.launchedAt - created)}, job start-up ${part(job.startedAt - job.launchedAt)},` +
    ` job ${part(job.completedAt - job.startedAt)}, job end -> completed ${part(completed - job.completedAt)},` +
    ` completed -> seen ${part(timed.ms - (completed - created))}`
  );
};

/** A job's stages (ms from the job's start; the restore records them) and where the CPU went. */
const stagesOf = (timed: Timed) => {
  const { stages, cpuSeconds } = timed.job;
  const marks = Object.entries(stages ?? {})
    .map(([stage, ms]) => `${stage} ${secs(ms)}`)
    .join(', ');
  return (
    `${marks ? `job stages (from its start): ${marks}\n  ` : ''}CPU: server ${timed.cpu.server.toFixed(1)} s,` +
    ` job node ${cpuSeconds?.self.toFixed(1) ?? '?'} s, job tools ${cpuSeconds?.children?.toFixed(1) ?? '?'} s,` +
    ` platform process (API, S3 emulator, polling) ${timed.cpu.platform.toFixed(1)} s`
  );
};

const rssOf = (timed: Timed) =>
  `peak RSS job node ${mb(Math.max(timed.job.maxRssBytes, timed.rss.nodeBytes))}, job tree ${mb(timed.rss.treeBytes)}`;

const line = (what: string, ms: number, bytes: number, extra = '') =>
  console.info(`${what.padEnd(44)} ${secs(ms).padStart(7)}  ${rate(bytes, ms).padStart(8)}${extra}`);

const rssPeaks: Array<{ what: string; bytes: number }> = [];

const main = async () => {
  console.info(
    `backups end to end on the local target: ${GB > 0 ? `fixture ${GB} GB, pgbench -s ${SCALE}, best of ${ROUNDS} round(s)` : 'the empty database only'},` +
      ` operation polled every ${POLL_MS} ms${POLL_SHARE > 0 ? `, or ${POLL_SHARE * 100}% of the time elapsed up to ${POLL_MAX_MS} ms` : ''}; load average at start ${await loadAverage()}`,
  );
  const platform = await startBenchPlatform('bench-backup-e2e-');
  const sampler = new JobRssSampler();
  const dir = platform.dataDir;
  try {
    const { id: addonId, credentials } = await provisionAddon<Credentials>(platform, 'bench', 'postgresql');
    const base = `/v1/projects/${PROJECT}/addons/${addonId}`;
    const connect = () => connectTo(credentials);
    const env = libpqEnv(credentials, 'bench');
    const major = Number((await inspectServer(credentials, 'bench')).major);
    const pgDump = await resolvePgTool('pg_dump', major);
    const pgRestore = await resolvePgTool('pg_restore', major);
    const emptyDatabase = async () => {
      const client = await connect();
      try {
        await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
      } finally {
        await client.end();
      }
    };
    const dumpTo = async (args: string[], target = '/dev/null'): Promise<Run> => {
      const file = await open(target, 'w');
      try {
        const result = await run(pgDump.path, ['-Fc', ...args], env, { stdoutTo: file.fd });
        if (result.code !== 0) throw new Error(`pg_dump failed: ${result.stderr}`);
        return result;
      } finally {
        await file.close();
      }
    };
    const cpuOfServer = await serverCpu(connect);
    const backUp = () => endToEnd(platform, `${base}/backups`, { type: 'dump' }, sampler, cpuOfServer);
    const restore = (backupId: string) =>
      endToEnd(platform, `${base}/backups/${backupId}/restore`, undefined, sampler, cpuOfServer);

    // Fixed overhead: the empty database.
    console.info('\n--- empty database -------------------------------------------------------');
    const emptyDumps: number[] = [];
    for (let i = 0; i < EMPTY_RUNS; i++) emptyDumps.push((await dumpTo([])).ms);
    // Each run after a pause, as requests come from a user: the first job of the platform starts a
    // fresh process, the next ones the process the job runner started ahead (infra/local/job-runner.ts).
    const pause = () => new Promise((resolve) => setTimeout(resolve, GAP_MS));
    const emptyBackups: Timed[] = [];
    for (let i = 0; i < EMPTY_RUNS; i++) emptyBackups.push(await backUp().finally(pause));
    const emptyRestores: Timed[] = [];
    const emptyBackupId = emptyBackups.at(-1)?.backupId as string;
    for (let i = 0; i < EMPTY_RUNS; i++) emptyRestores.push(await restore(emptyBackupId).finally(pause));
    console.info(`pg_dump -Fc > /dev/null, median of ${EMPTY_RUNS}: ${secs(median(emptyDumps))}`);
    console.info(`pause between runs ${secs(GAP_MS)}; load average ${await loadAverage()}`);
    for (const [what, runs] of [
      ['backup', emptyBackups],
      ['restore', emptyRestores],
    ] as const) {
      runs.forEach((timed, i) => {
        const how = i === 0 ? 'fresh job process' : 'job process started ahead';
        console.info(`${what} end to end #${i + 1} (${how}): ${secs(timed.ms)}: ${msBreakdown(timed)}`);
      });
    }

    if (GB <= 0) return;
    const datasets: Array<{ name: string; load: () => Promise<number> }> = [
      { name: `dump fixture ${GB} GB`, load: () => loadDumpFixture(connect, GB) },
      {
        name: `pgbench -s ${SCALE}`,
        load: async () => {
          const init = await run('/usr/bin/pgbench', ['-i', '-q', '-s', String(SCALE)], env);
          if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
          return analyzedSize(await connect());
        },
      },
    ];
    for (const dataset of datasets) {
      console.info(`\n--- ${dataset.name} ${'-'.repeat(Math.max(0, 60 - dataset.name.length))}`);
      await emptyDatabase();
      const loadStarted = performance.now();
      const bytes = await dataset.load();
      console.info(
        `database ${mb(bytes)}, loaded in ${secs(performance.now() - loadStarted)}; load average ${await loadAverage()}`,
      );

      // Backups, interleaved with the baselines.
      const fc: Run[] = [];
      const z0: Run[] = [];
      const backups: Timed[] = [];
      // The -Fc baseline writes the local file the restore baseline reads (a file on local disk, about as fast as /dev/null).
      const localFile = join(dir, 'baseline.dump');
      for (let round = 0; round < ROUNDS; round++) {
        fc.push(await dumpTo([], localFile));
        backups.push(await backUp());
        z0.push(await dumpTo(['-Z0']));
      }
      const backup = fastest(backups);
      const [bestFc, bestZ0] = [fastest(fc), fastest(z0)];
      line('pg_dump -Fc > local file', bestFc.ms, bytes);
      line('pg_dump -Fc -Z0 > /dev/null', bestZ0.ms, bytes);
      const ratioFc = bestFc.ms / backup.ms;
      const ratioZ0 = bestZ0.ms / backup.ms;
      line(
        'backup end to end (POST -> completed)',
        backup.ms,
        bytes,
        `  vs -Fc ${ratioFc.toFixed(2)} (goal >= ${GOALS.dumpFc}: ${check(ratioFc >= GOALS.dumpFc, `backup vs pg_dump -Fc, ${dataset.name}`)})` +
          `, vs -Z0 ${ratioZ0.toFixed(2)} (goal >= ${GOALS.dumpZ0}: ${check(ratioZ0 >= GOALS.dumpZ0, `backup vs pg_dump -Z0, ${dataset.name}`)})`,
      );
      console.info(`  ${breakdown(backup)}; ${rssOf(backup)}`);
      console.info(`  ${stagesOf(backup)}`);
      rssPeaks.push({
        what: `backup, ${dataset.name}`,
        bytes: Math.max(backup.job.maxRssBytes, backup.rss.nodeBytes),
      });

      // Restores of the last backup, interleaved with pg_restore of a local -Fc file; both into the emptied database.
      const source = await tableContents(await connect());
      const baselines: Array<Run & { serverCpu: number; platformCpu: number }> = [];
      const restores: Timed[] = [];
      /** Each restore starts once the WAL of the one before is archived (archiverCaughtUp). */
      const archiveWaits: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        await emptyDatabase();
        archiveWaits.push(await archiverCaughtUp(connect));
        const serverBefore = await cpuOfServer();
        const platformBefore = process.cpuUsage();
        const baseline = await run(
          pgRestore.path,
          ['--single-transaction', '--no-owner', '--no-acl', '-d', credentials.database, localFile],
          env,
        );
        if (baseline.code !== 0) throw new Error(`pg_restore failed: ${baseline.stderr}`);
        const platformCpu = process.cpuUsage(platformBefore);
        baselines.push({
          ...baseline,
          serverCpu: (await cpuOfServer()) - serverBefore,
          platformCpu: (platformCpu.user + platformCpu.system) / 1e6,
        });
        await emptyDatabase();
        archiveWaits.push(await archiverCaughtUp(connect));
        restores.push(await restore(backup.backupId as string));
      }
      await rm(localFile, { force: true });
      const restored = fastest(restores);
      const bestRestore = fastest(baselines);
      line(
        'pg_restore --single-transaction (local -Fc)',
        bestRestore.ms,
        bytes,
        `  CPU: server ${bestRestore.serverCpu.toFixed(1)} s, pg_restore ${bestRestore.cpuSeconds?.toFixed(1) ?? '?'} s,` +
          ` platform process meanwhile (WAL archiving) ${bestRestore.platformCpu.toFixed(1)} s`,
      );
      const ratio = bestRestore.ms / restored.ms;
      line(
        'restore end to end (POST -> completed)',
        restored.ms,
        bytes,
        `  ratio ${ratio.toFixed(2)} (goal >= ${GOALS.restore}: ${check(ratio >= GOALS.restore, `restore, ${dataset.name}`)})`,
      );
      console.info(`  ${breakdown(restored)}; ${rssOf(restored)}`);
      console.info(`  ${stagesOf(restored)}`);
      console.info(`  waited for the WAL archiver before each restore: ${archiveWaits.map(secs).join(', ')}`);
      rssPeaks.push({
        what: `restore, ${dataset.name}`,
        bytes: Math.max(restored.job.maxRssBytes, restored.rss.nodeBytes),
      });
      const after = await tableContents(await connect());
      if (after !== source) throw new Error(`restored ${after}, backed up ${source}`);
      console.info(`  restored ${after}, as backed up; load average ${await loadAverage()}`);
    }

    console.info('\n--- peak RSS of the job process (Node.js) ---------------------------------');
    for (const { what, bytes } of rssPeaks) {
      console.info(
        `${what.padEnd(44)} ${mb(bytes)}  goal < ${mb(RSS_GOAL_BYTES)}: ${check(bytes < RSS_GOAL_BYTES, `RSS ${what}`)}`,
      );
    }
  } catch (error) {
    console.error('the benchmark failed:', error);
    process.exitCode = 1;
  } finally {
    await platform.stop();
  }
  console.info(`load average at end ${await loadAverage()}`);
  reportMissedGoals();
};

await main();
