/**
 * Issue 13 benchmark: reads stay fast while work runs.
 *
 * On one local platform (in this process, as `npm start` runs it) with 8 PostgreSQL addons:
 * - unloaded: a warm `GET` of one addon and the addon list, p50/p99, against a bare Node HTTP
 *   server answering a fixed body of the same size in the same run (goal p99 <= 10 ms);
 * - under load: the same reads while the 8 addons are backed up (dump) and restored over and
 *   over at once, each worker polling its operation every 100 ms as a console would (goal: list
 *   p99 <= 100 ms);
 * - the platform process's event-loop delay in both phases (perf_hooks), which says whether the
 *   time is lost on the gateway's own event loop or elsewhere (CPU taken by jobs and engines), and
 *   the platform's calls to its emulators under load (the slowest commands).
 * BENCH_READS_SECONDS sets the loaded phase (default 40 s), BENCH_READS_ROWS each addon's rows
 * (default 400,000, about 40 MB). BENCH_STRICT=1 makes a missed goal fail the run.
 */
import '#shared/util/polyfills.ts';
// First: it times every spawn() of the platform's modules, which load after it.
import './support/spawn-time.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pg from 'pg';
import { check, reportMissedGoals } from './support/measure.ts';
import { type BenchPlatform, ms, provisionAddon, startBenchPlatform } from './support/platform.ts';
import { schedulingContext } from './support/scheduling.ts';
import { resetSdkCalls, sdkCallSummary } from './support/sdk-calls.ts';
import { resetSpawnTimes, spawnTimeSummary } from './support/spawn-time.ts';

const ADDONS = 8;
const LOADED_MS = Number(process.env.BENCH_READS_SECONDS ?? 40) * 1000;
const ROWS = Number(process.env.BENCH_READS_ROWS ?? 400_000);
const UNLOADED_GETS = 1000;
const GET_P99_GOAL_MS = 10;
const LOADED_LIST_P99_GOAL_MS = 100;

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const summary = (samples: number[]) =>
  `p50 ${ms(percentile(samples, 50))}, p99 ${ms(percentile(samples, 99))}, max ${ms(Math.max(...samples))} (${samples.length} requests)`;

/** Reads answered with anything but 200, by status: each is a failed read, not a timing. */
const failedReads = new Map<number, number>();

/** One timed GET, its body read to its end. */
const timedGet = async (url: string, headers: Record<string, string>) => {
  const started = performance.now();
  const response = await fetch(url, { headers });
  await response.arrayBuffer();
  const elapsed = performance.now() - started;
  if (response.status !== 200) failedReads.set(response.status, (failedReads.get(response.status) ?? 0) + 1);
  return elapsed;
};

/** Sequential GETs, `count` of them or until `until` (performance.now()), `gapMs` apart. */
const sample = async (
  url: string,
  headers: Record<string, string>,
  options: { count?: number; until?: number; gapMs?: number },
) => {
  const samples: number[] = [];
  while (
    options.count !== undefined ? samples.length < options.count : performance.now() < (options.until ?? 0)
  ) {
    samples.push(await timedGet(url, headers));
    if (options.gapMs) await new Promise((resolve) => setTimeout(resolve, options.gapMs));
  }
  return samples;
};

/** A bare Node HTTP server answering `body`: what a read costs with nothing of the platform. */
const bareServer = async (body: string) => {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => server.close() };
};

const fill = async (uri: string) => {
  const client = new pg.Client({ connectionString: uri });
  await client.connect();
  try {
    await client.query(`CREATE TABLE data AS
      SELECT i AS id, (random() * 1e15)::bigint AS amount, md5(random()::text) || md5(i::text) AS token
      FROM generate_series(1, ${ROWS}) i`);
  } finally {
    await client.end();
  }
};

const untilDone = async (platform: BenchPlatform, operationId: string) => {
  for (;;) {
    const response = await fetch(`${platform.url}/v1/projects/bench/operations/${operationId}`, {
      headers: platform.headers,
    });
    const { status, error } = (await response.json()) as { status: string; error?: unknown };
    if (status === 'completed') return;
    if (status === 'failed') throw new Error(`operation ${operationId} failed: ${JSON.stringify(error)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

const post = async (platform: BenchPlatform, path: string, body?: unknown) => {
  const response = await fetch(`${platform.url}/v1/projects/bench${path}`, {
    method: 'POST',
    headers: platform.headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await response.json()) as { operation?: { id: string }; backup?: { id: string } };
  if (response.status >= 300)
    throw new Error(`POST ${path} answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
};

/** Backs the addon up (dump) and restores that backup, over and over, until `stop()` says so. */
const churn = async (platform: BenchPlatform, addonId: string, stop: () => boolean) => {
  let cycles = 0;
  while (!stop()) {
    const backup = await post(platform, `/addons/${addonId}/backups`, { type: 'dump' });
    await untilDone(platform, backup.operation?.id ?? '');
    if (stop()) break;
    const restore = await post(platform, `/addons/${addonId}/backups/${backup.backup?.id}/restore`);
    await untilDone(platform, restore.operation?.id ?? '');
    cycles++;
  }
  return cycles;
};

const loopDelay = () => {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  return () => {
    histogram.disable();
    return `event-loop delay p50 ${ms(histogram.percentile(50) / 1e6)}, p99 ${ms(histogram.percentile(99) / 1e6)}, max ${ms(histogram.max / 1e6)}`;
  };
};

const main = async () => {
  const platform = await startBenchPlatform('bench-reads-');
  let stopping = false;
  let workers: Array<Promise<number>> = [];
  try {
    const addons: string[] = [];
    for (let i = 0; i < ADDONS; i += 2) {
      const pair = await Promise.all(
        [i, i + 1].map((n) => provisionAddon<{ uri: string }>(platform, `reads-${n}`, 'postgresql')),
      );
      await Promise.all(pair.map((addon) => fill(addon.credentials.uri)));
      addons.push(...pair.map((addon) => addon.id));
    }
    const one = `${platform.url}/v1/projects/bench/addons/${addons[0]}`;
    const list = `${platform.url}/v1/projects/bench/addons`;
    const listBody = await (await fetch(list, { headers: platform.headers })).text();
    const bare = await bareServer(listBody);

    await sample(one, platform.headers, { count: 100 });
    let stopDelay = loopDelay();
    const unloadedOne = await sample(one, platform.headers, { count: UNLOADED_GETS });
    const unloadedList = await sample(list, platform.headers, { count: UNLOADED_GETS / 2 });
    const unloadedDelay = stopDelay();
    await sample(bare.url, platform.headers, { count: 100 });
    const bareGets = await sample(bare.url, platform.headers, { count: UNLOADED_GETS });

    const started = performance.now();
    workers = addons.map((id) => churn(platform, id, () => stopping));
    // The first backups start their jobs; reads are timed once all 8 are under way.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    stopDelay = loopDelay();
    resetSdkCalls();
    resetSpawnTimes();
    const until = performance.now() + LOADED_MS;
    const [loadedList, loadedOne] = await Promise.all([
      sample(list, platform.headers, { until, gapMs: 50 }),
      sample(one, platform.headers, { until, gapMs: 50 }),
    ]);
    const loadedDelay = stopDelay();
    const loadedSpawns = spawnTimeSummary();
    const load = loadavg()[0]?.toFixed(1);
    stopping = true;
    const cycles = (await Promise.all(workers)).reduce((sum, n) => sum + n, 0);
    bare.close();

    console.info(`${ADDONS} PostgreSQL addons, ${ROWS.toLocaleString('en')} rows each`);
    console.info(schedulingContext());
    console.info('unloaded:');
    console.info(`  GET one addon:      ${summary(unloadedOne)}`);
    console.info(`  GET addon list:     ${summary(unloadedList)}`);
    console.info(`  bare Node server:   ${summary(bareGets)}`);
    console.info(`  platform process:   ${unloadedDelay}`);
    console.info(
      `  ratio GET one addon / bare: p50 ${(percentile(unloadedOne, 50) / percentile(bareGets, 50)).toFixed(2)}x, p99 ${(percentile(unloadedOne, 99) / percentile(bareGets, 99)).toFixed(2)}x`,
    );
    console.info(
      `under load (${ADDONS} addons backed up and restored at once, ${cycles} backup+restore cycles in ${((performance.now() - started) / 1000).toFixed(0)} s, load average ${load}):`,
    );
    console.info(`  GET addon list:     ${summary(loadedList)}`);
    console.info(`  GET one addon:      ${summary(loadedOne)}`);
    console.info(`  platform process:   ${loadedDelay}`);
    console.info(`  platform spawns:    ${loadedSpawns}`);
    console.info("  the platform's calls to dynalite and s3rver meanwhile, slowest first:");
    for (const line of sdkCallSummary()) console.info(`    ${line}`);
    if (failedReads.size)
      console.info(`  reads not answered 200: ${JSON.stringify(Object.fromEntries(failedReads))}`);
    check(failedReads.size === 0, 'every read answered 200');
    check(
      percentile(unloadedOne, 99) <= GET_P99_GOAL_MS,
      `unloaded GET one addon p99 <= ${GET_P99_GOAL_MS} ms`,
    );
    check(
      percentile(loadedList, 99) <= LOADED_LIST_P99_GOAL_MS,
      `GET addon list under load p99 <= ${LOADED_LIST_P99_GOAL_MS} ms`,
    );
    reportMissedGoals();
  } finally {
    stopping = true;
    await Promise.allSettled(workers);
    await platform.stop();
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
