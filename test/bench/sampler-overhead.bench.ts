/**
 * The local metrics sampler's overhead on a platform with 20 running addons (issue 14), in one run:
 * - the platform process started as `npm start` starts it (infra/local/start.mjs, its own process),
 *   20 addons created over HTTP (8 PostgreSQL, 8 Redis, 4 MySQL by default), the platform then
 *   restarted twice so that both measured runs are a platform that brought the same addons back:
 *   once with the sampler off (ADDONS_METRICS_INTERVAL_SECONDS=0, the baseline), once at the
 *   default 10 s interval (in every run the point-in-time maintenance, whose first base backups
 *   would land in one window and not the other, is put off: ADDONS_PITR_MAINTENANCE_SECONDS=3600);
 * - over the same window (60 s) of each run: the platform process's CPU (utime + stime of
 *   /proc/<pid>/stat, percent of one core) and memory (RSS and PSS of /proc/<pid>/smaps_rollup,
 *   the mean of a reading every 5 s), and the CPU of the engines' process trees (what the samples
 *   cost the engines: a connection and a statement each), printed with their ratio on vs off;
 * - the latency of `GET .../addons/{id}/metrics` for a 24 h window with every series of the
 *   engine, over HTTP, p50 and p99 of QUERIES requests round-robin over the addons, as a ratio to
 *   the same route asked for one series over the last minute (what HTTP, auth and the addon's
 *   lookup cost without the 24 h scan). A ring cannot fill in the bench's time, so every
 *   ring file is seeded with 24 h of samples at 10 s while the platform is stopped (the platform
 *   loads it as it loads the window a restart keeps).
 * Every addon is deleted over HTTP at the end; the data directory and the engines' OS users go.
 */
import '#shared/util/polyfills.ts';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, open, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLOCK_TICKS_PER_SECOND, processTree } from '#infra/local/metrics/process-stats.ts';
import { LocalMetricsSampler, localFields } from '#infra/local/metrics/sampler.ts';
import type { Engine } from '#shared/schemas/catalog.ts';
import { removePlatformData } from '../support/data-dir.ts';
import { loadAverage } from './support/measure.ts';
import { type BenchPlatform, median, ms, provisionAddon } from './support/platform.ts';

const MIX: Array<[Engine, number]> = [
  ['postgresql', Number(process.env.BENCH_POSTGRESQL ?? 8)],
  ['redis', Number(process.env.BENCH_REDIS ?? 8)],
  ['mysql', Number(process.env.BENCH_MYSQL ?? 4)],
];
const WINDOW_SECONDS = Number(process.env.BENCH_WINDOW_SECONDS ?? 60);
/** After a start, before the window: the first sampling round (at 10 s) has opened the rings. */
const SETTLE_SECONDS = Number(process.env.BENCH_SETTLE_SECONDS ?? 12);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 200);
const INTERVAL_SECONDS = 10;
const PROJECT = 'bench';
const TOKEN = 'bench-token-0123456789';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));
const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
const pct = (value: number) => `${value.toFixed(2)} %`;
/** A difference with its sign. */
const plus = (format: (value: number) => string, value: number) => `${value >= 0 ? '+' : ''}${format(value)}`;
const ratio = (on: number, off: number) => `${(on / off).toFixed(2)}x`;
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))] ??
  Number.NaN;

interface RunningPlatform extends BenchPlatform {
  pid: number;
}

/** `npm start` (node infra/local/start.mjs) as one process: the platform's bundle, the same code. */
const startPlatform = async (dataDir: string, interval: string): Promise<RunningPlatform> => {
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'infra/local/start.mjs')], {
    cwd: ROOT,
    env: {
      ...process.env,
      ADDONS_DATA_DIR: dataDir,
      ADDONS_PORT: '0',
      ADDONS_TOKEN: TOKEN,
      ADDONS_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'ERROR',
      ADDONS_METRICS_INTERVAL_SECONDS: interval,
      // The point-in-time maintenance takes each new addon's first base backup, one by one, at its
      // next pass: pushed past the bench in every run, so that it lands in neither window.
      ADDONS_PITR_MAINTENANCE_SECONDS: '3600',
      ADDONS_RATE_LIMIT_PER_SECOND: '100000',
      ADDONS_RATE_LIMIT_BURST: '1000000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = /listening on (\S+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) =>
      reject(new Error(`the platform exited (${code}) before listening: ${output}`)),
    );
  });
  return {
    pid: child.pid as number,
    url,
    dataDir,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    stop: async () => {
      child.kill('SIGTERM');
      const stopped = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 120_000);
        void exited.then(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!stopped) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
};

/** Fields 14-17 of /proc/<pid>/stat: utime, stime, and the reaped children's cutime, cstime. */
const ticksOf = async (pid: number) => {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const fields = text
    .slice(text.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return { own: (fields[11] ?? 0) + (fields[12] ?? 0), children: (fields[13] ?? 0) + (fields[14] ?? 0) };
};

/** The platform's own CPU ticks, and those of every process below it (the engines and what they reaped). */
const cpuSnapshot = async (pid: number) => {
  const platform = await ticksOf(pid);
  const below = new Map<number, number>();
  for (const each of (await processTree(pid)).slice(1)) {
    const ticks = await ticksOf(each);
    if (ticks) below.set(each, ticks.own + ticks.children);
  }
  return { platform: platform?.own ?? Number.NaN, below };
};

const memoryOf = async (pid: number) => {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1]) * 1024;
  return { rss: kib('Rss'), pss: kib('Pss') };
};

interface Usage {
  platformCpu: number;
  enginesCpu: number;
  rss: number;
  pss: number;
  /** The smallest and largest PSS read. */
  pssRange: [number, number];
  engineProcesses: number;
}

/** CPU (percent of one core) over WINDOW_SECONDS, memory the mean of a reading every 5 s. */
const measureWindow = async (pid: number): Promise<Usage> => {
  const before = await cpuSnapshot(pid);
  const started = performance.now();
  const readings: Array<{ rss: number; pss: number }> = [];
  for (let at = 0; at <= WINDOW_SECONDS; at += 5) {
    await sleep(Math.max(0, started + at * 1000 - performance.now()));
    readings.push(await memoryOf(pid));
  }
  const after = await cpuSnapshot(pid);
  const seconds = (performance.now() - started) / 1000;
  let belowTicks = 0;
  for (const [each, ticks] of after.below) belowTicks += ticks - (before.below.get(each) ?? 0);
  const percent = (ticks: number) => (ticks / CLOCK_TICKS_PER_SECOND / seconds) * 100;
  const mean = (key: 'rss' | 'pss') => readings.reduce((sum, each) => sum + each[key], 0) / readings.length;
  return {
    platformCpu: percent(after.platform - before.platform),
    enginesCpu: percent(belowTicks),
    rss: mean('rss'),
    pss: mean('pss'),
    pssRange: [Math.min(...readings.map((r) => r.pss)), Math.max(...readings.map((r) => r.pss))],
    engineProcesses: after.below.size,
  };
};

/** Runs `work` over `items`, `limit` at a time. */
const inBatches = async <T>(items: T[], limit: number, work: (item: T) => Promise<void>) => {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
};

const waitForOperation = async (platform: BenchPlatform, operationId: string) => {
  for (;;) {
    const polled = await fetch(`${platform.url}/v1/projects/${PROJECT}/operations/${operationId}`, {
      headers: platform.headers,
    });
    const { status, error } = (await polled.json()) as { status: string; error: unknown };
    if (status === 'completed') return;
    if (status === 'failed') throw new Error(`operation ${operationId} failed: ${JSON.stringify(error)}`);
    await sleep(200);
  }
};

/**
 * Fills every instance's ring file with 24 h of samples at 10 s (every field set), written as the
 * sampler writes them; the platform must be stopped. Returns how many rings were seeded.
 */
const seedRings = async (dataDir: string): Promise<{ rings: number; bytes: number }> => {
  const sampler = new LocalMetricsSampler({
    dir: join(dataDir, 'metrics'),
    intervalSeconds: INTERVAL_SECONDS,
    targets: () => [],
    instanceExists: async () => true,
  });
  const now = Math.floor(Date.now() / 1000);
  const files: Array<{ file: string; body: Buffer }> = [];
  for (const resourceId of await readdir(join(dataDir, 'engines'))) {
    const record = await readFile(join(dataDir, 'engines', resourceId, 'instance.json'), 'utf8').catch(
      () => undefined,
    );
    if (!record) continue;
    const engine = (JSON.parse(record) as { engine: Engine }).engine;
    const fields = localFields(engine);
    const { ring } = await sampler.ringOf(resourceId, engine);
    for (let slot = 0; slot < ring.capacity; slot++) {
      const time = now - (ring.capacity - 1 - slot) * INTERVAL_SECONDS;
      ring.append(time, Object.fromEntries(fields.map((field, index) => [field, index + (time % 97)])));
    }
    const body = Buffer.concat(Array.from({ length: ring.capacity }, (_, slot) => ring.slotBytes(slot)));
    files.push({ file: join(dataDir, 'metrics', `${resourceId}.ring`), body });
  }
  await sampler.stop();
  for (const { file, body } of files) {
    // The header is what the file holds beyond its slots.
    const header = (await stat(file)).size - body.length;
    const handle = await open(file, 'r+');
    await handle.write(body, 0, body.length, header);
    await handle.close();
  }
  return { rings: files.length, bytes: files.reduce((sum, { body }) => sum + body.length, 0) };
};

/** p50 and p99 (ms) of QUERIES GETs of `paths` round-robin, each read to its end; `check` each body. */
const latencies = async (platform: BenchPlatform, paths: string[], check: (body: string) => void) => {
  const timed: number[] = [];
  for (let run = 0; run < QUERIES; run++) {
    const started = performance.now();
    const response = await fetch(`${platform.url}${paths[run % paths.length]}`, {
      headers: platform.headers,
    });
    const body = await response.text();
    timed.push(performance.now() - started);
    if (response.status !== 200) throw new Error(`${response.status}: ${body}`);
    check(body);
  }
  return { p50: median(timed), p99: percentile(timed, 99) };
};

const main = async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-sampler-'));
  let platform: RunningPlatform | undefined;
  const addons: Array<{ id: string; engine: Engine }> = [];
  const began = performance.now();
  const elapsed = () => `${((performance.now() - began) / 1000).toFixed(0)} s`;
  try {
    console.info(`load average at start ${await loadAverage()}`);
    platform = await startPlatform(dataDir, '0');
    const wanted = MIX.flatMap(([engine, count]) =>
      Array.from({ length: count }, (_, index) => ({ engine, name: `${engine.slice(0, 5)}-${index}` })),
    );
    const current = platform;
    await inBatches(wanted, 4, async ({ engine, name }) => {
      const { id } = await provisionAddon(current, name, engine);
      addons.push({ id, engine });
    });
    console.info(`${elapsed()}: ${addons.length} addons running (${MIX.map((m) => m.join(' ')).join(', ')})`);
    await platform.stop();
    platform = undefined;
    const seeded = await seedRings(dataDir);

    const measure = async (interval: string) => {
      const started = await startPlatform(dataDir, interval);
      platform = started;
      await sleep(SETTLE_SECONDS * 1000);
      return { platform: started, usage: await measureWindow(started.pid) };
    };
    const { platform: offPlatform, usage: off } = await measure('0');
    await offPlatform.stop();
    platform = undefined;
    console.info(`${elapsed()}: sampler off measured`);
    const on = await measure(String(INTERVAL_SECONDS));
    console.info(`${elapsed()}: sampler on measured`);

    const from = new Date(Date.now() - 86_400_000).toISOString();
    const base = `/v1/projects/${PROJECT}/addons`;
    const metricsPaths = addons.map(
      ({ id, engine }) => `${base}/${id}/metrics?names=${localFields(engine).join(',')}&from=${from}`,
    );
    let points = 0;
    const query = await latencies(on.platform, metricsPaths, (body) => {
      const { series, timestamps } = JSON.parse(body) as {
        timestamps: string[];
        series: Array<{ values: Array<number | null> }>;
      };
      const filled = series[0]?.values.filter((value) => value !== null).length ?? 0;
      points = timestamps.length;
      // The newest minutes (since the seeding) hold only the sampler's own few samples.
      if (filled < points * 0.95) throw new Error(`a ring not filled: ${filled} of ${points} values`);
    });
    const recent = new Date(Date.now() - 60_000).toISOString();
    const plain = await latencies(
      on.platform,
      addons.map(({ id }) => `${base}/${id}/metrics?names=cpu&from=${recent}`),
      () => undefined,
    );
    console.info(`${elapsed()}: queries measured`);

    await inBatches(addons.splice(0), 4, async ({ id }) => {
      const deleted = await fetch(`${on.platform.url}${base}/${id}`, {
        method: 'DELETE',
        headers: on.platform.headers,
      });
      const { operation } = (await deleted.json()) as { operation: { id: string } };
      await waitForOperation(on.platform, operation.id);
    });
    console.info(`${elapsed()}: addons deleted`);

    const { usage } = on;
    const rounds = WINDOW_SECONDS / INTERVAL_SECONDS;
    const count = MIX.reduce((sum, [, n]) => sum + n, 0);
    const perSample =
      (((usage.platformCpu - off.platformCpu) / 100) * WINDOW_SECONDS * 1000) / (rounds * count);
    console.info(
      `\n${count} running addons, ${WINDOW_SECONDS} s window after ${SETTLE_SECONDS} s, sampler at ${INTERVAL_SECONDS} s vs off (ADDONS_METRICS_INTERVAL_SECONDS=0):`,
    );
    console.info(
      `platform CPU:   on ${pct(usage.platformCpu)} of one core vs off ${pct(off.platformCpu)} = ${ratio(usage.platformCpu, off.platformCpu)} ` +
        `(${plus(pct, usage.platformCpu - off.platformCpu)}; ${ms(perSample)} per sample per addon)`,
    );
    console.info(
      `platform RSS:   on ${mib(usage.rss)} vs off ${mib(off.rss)} = ${ratio(usage.rss, off.rss)} (${plus(mib, usage.rss - off.rss)})`,
    );
    console.info(
      `platform PSS:   on ${mib(usage.pss)} vs off ${mib(off.pss)} = ${ratio(usage.pss, off.pss)} (${plus(mib, usage.pss - off.pss)})`,
    );
    console.info(
      `platform PSS range over the window: on ${mib(usage.pssRange[0])} to ${mib(usage.pssRange[1])}, ` +
        `off ${mib(off.pssRange[0])} to ${mib(off.pssRange[1])}`,
    );
    console.info(
      `rings:          ${seeded.rings} of ${mib(seeded.bytes)} in all, held in the platform's memory when on (typed arrays of the files' size)`,
    );
    console.info(
      `engines CPU:    on ${pct(usage.enginesCpu)} vs off ${pct(off.enginesCpu)} = ${ratio(usage.enginesCpu, off.enginesCpu)} ` +
        `(${plus(pct, usage.enginesCpu - off.enginesCpu)}; ${usage.engineProcesses} engine processes)`,
    );
    console.info(
      `24 h metrics query over HTTP (${seeded.rings} seeded rings, every series of the engine, ${points} points, ${QUERIES} requests): ` +
        `p50 ${ms(query.p50)}, p99 ${ms(query.p99)} vs a 1-minute query of one series p50 ${ms(plain.p50)}, p99 ${ms(plain.p99)} = ${ratio(query.p50, plain.p50)} at p50`,
    );
    console.info(`total ${elapsed()}`);
  } finally {
    const left = platform as RunningPlatform | undefined;
    if (left && addons.length)
      console.error(`${addons.length} addon(s) left: removed with the data directory`);
    await left?.stop();
    await removePlatformData(dataDir);
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
