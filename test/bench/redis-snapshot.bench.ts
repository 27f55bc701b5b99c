/**
 * Issue 9 benchmark: a Redis snapshot backup against `redis-cli --rdb`, on the same server.
 *
 * A local platform (in this process) creates a Redis addon on a plan large enough, and
 * `redis-cli --pipe` (as the addon's user) loads ADDONS_BENCH_REDIS_GB of data (default 1, the
 * issue's size; e.g. 0.1 for a quick run): 1 MiB strings of random bytes (which the RDB cannot
 * compress) plus small hashes. Then, best of DUMP_BENCH_RUNS (default 1) each:
 * - baseline: `redis-cli --rdb <file>` as the platform's Redis user (the customer's may not SYNC),
 *   with `repl-diskless-sync-delay 0` so the server does not wait 5 s for other replicas;
 * - ours: POST /backups {type: snapshot} -> operation completed, timed from the request: BGSAVE,
 *   the RDB linked into the snapshot, streamed to S3 (s3rver) with its SHA-256, the backup
 *   recorded. The workflow polls every ADDONS_WAIT_MS (200 ms), the bench every 100 ms, included.
 * ratio = baseline time / our time, goal >= 0.85; the platform process's peak RSS is sampled during
 * ours. The download link is then fetched and its SHA-256 checked. BENCH_STRICT=1 makes a missed
 * goal fail the run. Everything is removed afterwards. BENCH_LOG_LEVEL=INFO prints the
 * platform's breakdown ("engine: snapshot taken": copyMs = BGSAVE and link, exportMs = upload).
 *
 * Measured (1 GB, 2 cores shared with other work): BGSAVE alone is as fast as the baseline; the
 * upload comes after it, so ours is about baseline + upload. Overlapping the two would need an
 * upload of unknown length, i.e. multipart, which costs s3rver 3 times the time and CPU of one
 * streamed PutObject (11.5 s vs 3.9 s for 1 GB): slower than the sequential path here.
 */
import '#shared/util/polyfills.ts';
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ENGINES, findPlan } from '#shared/catalog/engines.ts';
import { resourceIdFor } from '#shared/ports/engine-provider.ts';
import {
  best,
  check,
  cpu,
  loadAverage,
  mb,
  RUNS,
  type Run,
  rate,
  reportMissedGoals,
  run,
  secs,
} from './support/measure.ts';
import { type BenchPlatform, provisionAddon, startBenchPlatform } from './support/platform.ts';

const GB = Number(process.env.ADDONS_BENCH_REDIS_GB ?? 1);
const GOAL = 0.85;
const VALUE_BYTES = 1024 * 1024;
const SMALL_HASHES = 100_000;
const POLL_MS = 100;

interface Credentials {
  host: string;
  port: number;
  uri: string;
}

/** RESP for one command. */
const resp = (...args: Array<string | Buffer>): Buffer => {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
};

/** Streams `commands()` into `redis-cli --pipe`; rejects unless every reply was a success. */
const pipe = async (uri: string, commands: () => Generator<Buffer>): Promise<void> => {
  const child = spawn('redis-cli', ['-u', uri, '--no-auth-warning', '--pipe'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  for (const command of commands()) {
    if (!child.stdin.write(command)) await new Promise((resolve) => child.stdin.once('drain', resolve));
  }
  child.stdin.end();
  const code = await exited;
  if (code !== 0 || !/errors: 0,/.test(output)) throw new Error(`redis-cli --pipe failed: ${output}`);
};

/** GB of 1 MiB random strings, then SMALL_HASHES small hashes: the dataset. */
function* dataset(): Generator<Buffer> {
  const value = Buffer.alloc(VALUE_BYTES);
  for (let i = 0; i < Math.round(GB * 1024); i++) yield resp('SET', `blob:${i}`, randomFillSync(value));
  for (let i = 0; i < SMALL_HASHES; i++) {
    yield resp('HSET', `user:${i}`, 'name', `user number ${i}`, 'score', String(i * 7), 'active', '1');
  }
}

/** The platform's own Redis user, from the instance's record: only it may SYNC (redis-cli --rdb). */
const platformUser = async (platform: BenchPlatform, addonId: string) => {
  const record = JSON.parse(
    await readFile(join(platform.dataDir, 'engines', resourceIdFor(addonId), 'instance.json'), 'utf8'),
  ) as { admin: { username: string; password: string } };
  return record.admin;
};

const redisCli = (args: string[]) =>
  run('redis-cli', [...args, '--no-auth-warning'], { PATH: process.env.PATH });

/** A command's reply as text, as the platform's user. */
const query = async (admin: string[], ...command: string[]): Promise<string> => {
  const child = spawn('redis-cli', [...admin, '--no-auth-warning', ...command], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  await new Promise((resolve) => child.once('close', resolve));
  return text.trim();
};

/** INFO fields as the platform's user sees them. */
const info = async (admin: string[], section: string): Promise<Map<string, string>> =>
  new Map(
    (await query(admin, 'INFO', section))
      .split('\n')
      .map((line) => line.trim().split(':') as [string, string])
      .filter(([, value]) => value !== undefined),
  );

/** Until no append-only rewrite runs or waits (the load triggers some): they would delay either side. */
const quiet = async (admin: string[]) => {
  for (;;) {
    const persistence = await info(admin, 'persistence');
    const busy = ['aof_rewrite_in_progress', 'aof_rewrite_scheduled', 'rdb_bgsave_in_progress'].some(
      (field) => persistence.get(field) !== '0',
    );
    if (!busy) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};

const api = async (platform: BenchPlatform, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${platform.url}${path}`, {
    method,
    headers: platform.headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await response.json()) as Record<string, unknown>;
};

/** POST a snapshot backup and poll its operation until it ended; the time from the request, the platform's peak RSS. */
const ourSnapshot = async (
  platform: BenchPlatform,
  base: string,
): Promise<Run & { backupId: string; rss: number }> => {
  let rss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    rss = Math.max(rss, process.memoryUsage().rss);
  }, 25);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  try {
    const created = (await api(platform, 'POST', `${base}/backups`, { type: 'snapshot' })) as {
      backup: { id: string };
      operation: { id: string };
    };
    for (;;) {
      const operation = await api(platform, 'GET', `/v1/projects/bench/operations/${created.operation.id}`);
      if (operation.status === 'completed') {
        const ms = performance.now() - started;
        const used = process.cpuUsage(cpuBefore);
        return {
          ms,
          code: 0,
          stderr: '',
          lines: [],
          cpuSeconds: (used.user + used.system) / 1e6,
          backupId: created.backup.id,
          rss,
        };
      }
      if (operation.status !== 'pending' && operation.status !== 'in-progress') {
        throw new Error(`the snapshot backup ended ${operation.status}: ${JSON.stringify(operation.error)}`);
      }
      // Every poll is a request to this very process: often enough, not so often it slows the backup.
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    clearInterval(sampler);
  }
};

/** The smallest plan whose memory holds the dataset with room for Redis's own overhead. */
const planFor = (bytes: number) => {
  const plan = ENGINES.redis.plans.find((each) => each.memoryMiB * 1024 * 1024 >= bytes * 1.5);
  if (!plan) throw new Error(`No Redis plan holds ${mb(bytes)}`);
  return plan.id;
};

const main = async () => {
  console.info(
    `Redis snapshot backup vs redis-cli --rdb, ${GB} GB (ADDONS_BENCH_REDIS_GB), best of ${RUNS} run(s); ratio = baseline time / ours; load average at start ${await loadAverage()}`,
  );
  const dir = await mkdtemp(join(tmpdir(), 'bench-redis-snapshot-'));
  const platform = await startBenchPlatform('bench-redis-snapshot-platform-');
  try {
    const plan = planFor(GB * 1024 ** 3);
    const { id, credentials } = await provisionAddon<Credentials>(platform, 'bench-snapshot', 'redis', {
      plan,
    });
    console.info(`addon on plan ${plan} (${findPlan('redis', plan)?.memoryMiB} MiB maxmemory)`);
    const loadStarted = performance.now();
    await pipe(credentials.uri, dataset);
    const admin = await platformUser(platform, id);
    const asAdmin = [
      '-h',
      credentials.host,
      '-p',
      String(credentials.port),
      '--user',
      admin.username,
      '--pass',
      admin.password,
    ];
    await quiet(asAdmin);
    const memory = await info(asAdmin, 'memory');
    console.info(
      `dataset: used_memory ${mb(Number(memory.get('used_memory')))}, loaded with redis-cli --pipe in ${secs(performance.now() - loadStarted)}`,
    );
    // Without it, the server waits 5 s for more replicas before it streams the RDB to redis-cli.
    const set = await query(asAdmin, 'CONFIG', 'SET', 'repl-diskless-sync-delay', '0');
    const delay = await query(asAdmin, 'CONFIG', 'GET', 'repl-diskless-sync-delay');
    if (set !== 'OK' || !delay.endsWith('\n0')) throw new Error(`CONFIG SET failed: ${set} ${delay}`);

    const file = join(dir, 'baseline.rdb');
    const baseline = await best(RUNS, async () => {
      await quiet(asAdmin);
      await rm(file, { force: true });
      return redisCli([...asAdmin, '--rdb', file]);
    });
    if (baseline.code !== 0) throw new Error(`redis-cli --rdb failed: ${baseline.stderr}`);
    const rdbBytes = (await stat(file)).size;
    await rm(file, { force: true });
    console.info(
      `${'redis-cli --rdb <file> (baseline)'.padEnd(44)} ${secs(baseline.ms).padStart(7)}  ${rate(rdbBytes, baseline.ms)}${cpu(baseline)}; RDB ${mb(rdbBytes)}`,
    );

    const base = `/v1/projects/bench/addons/${id}`;
    let ours: Awaited<ReturnType<typeof ourSnapshot>> | undefined;
    for (let attempt = 0; attempt < RUNS; attempt++) {
      await quiet(asAdmin);
      const result = await ourSnapshot(platform, base);
      if (!ours || result.ms < ours.ms) ours = result;
    }
    if (!ours) throw new Error('no run');
    const backup = await api(platform, 'GET', `${base}/backups/${ours.backupId}`);
    const ratio = baseline.ms / ours.ms;
    console.info(
      `${'POST snapshot -> completed (BGSAVE, S3, sha)'.padEnd(44)} ${secs(ours.ms).padStart(7)}  ${rate(Number(backup.sizeBytes), ours.ms)}  platform cpu ${ours.cpuSeconds?.toFixed(1)} s` +
        `  ratio ${ratio.toFixed(2)}, goal >= ${GOAL}: ${check(ratio >= GOAL, 'snapshot ratio')}` +
        `; copy ${mb(Number(backup.sizeBytes))}; platform peak RSS ${mb(ours.rss)}`,
    );

    // The copy is what a user downloads: fetch the link and check its SHA-256 (not timed).
    const link = (await api(platform, 'POST', `${base}/backups/${ours.backupId}/download`)) as {
      url: string;
      sha256: string;
    };
    const response = await fetch(link.url);
    const hash = createHash('sha256');
    let head = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      if (!head) head = Buffer.from(chunk.subarray(0, 5)).toString('latin1');
      hash.update(chunk);
    }
    const digest = hash.digest('hex');
    console.info(
      `download: ${head === 'REDIS' ? 'an RDB' : `not an RDB (${head})`}, SHA-256 ${digest === link.sha256 && digest === backup.sha256 ? 'matches' : 'DIFFERS'}: ${check(digest === link.sha256 && head === 'REDIS', 'downloaded RDB')}`,
    );
  } finally {
    await platform.stop();
    await rm(dir, { recursive: true, force: true });
  }
  reportMissedGoals();
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
