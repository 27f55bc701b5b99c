/**
 * What the job benchmarks share: running a command under /usr/bin/time -v (wall time, peak RSS
 * and CPU of the whole process tree), the best of several runs, the job bundles and environment
 * exactly as the job image has them, and the goal bookkeeping (BENCH_STRICT=1 fails a missed goal).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ensureBucket, type S3Emulator, startS3 } from '#infra/local/s3-emulator.ts';
import type { JobSpec } from '#shared/schemas/job.ts';

export const STRICT = process.env.BENCH_STRICT === '1';
export const RUNS = Math.max(1, Number(process.env.DUMP_BENCH_RUNS ?? 1));
export const RSS_GOAL_BYTES = 200 * 1024 ** 2;
export const BUCKET = 'addons-bench';
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const TIME = '/usr/bin/time';

export const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MB`;
export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
export const rate = (bytes: number, ms: number) => `${(bytes / 1024 ** 2 / (ms / 1000)).toFixed(0)} MB/s`;

export interface Run {
  ms: number;
  code: number | null;
  stderr: string;
  lines: Array<Record<string, unknown>>;
  /** Largest RSS in the process tree (GNU time's wait4 rusage), when /usr/bin/time exists. */
  treeRssBytes?: number;
  /** User + system CPU seconds of the process tree, when /usr/bin/time exists. */
  cpuSeconds?: number;
}

export const hasTime = await stat(TIME).then(
  () => true,
  () => false,
);

/** Runs a command to completion, stdin from `stdinFrom`, stdout to `stdoutTo` (file descriptors) or parsed as JSON lines. */
export const run = async (
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { stdoutTo?: number; stdinFrom?: number } = {},
): Promise<Run> => {
  const [file, argv] = hasTime ? [TIME, ['-v', command, ...args]] : [command, args];
  const started = performance.now();
  const child = spawn(file, argv, {
    env,
    stdio: [options.stdinFrom ?? 'ignore', options.stdoutTo ?? 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const ms = performance.now() - started;
  const lines = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1];
  const user = /User time \(seconds\): ([\d.]+)/.exec(stderr)?.[1];
  const system = /System time \(seconds\): ([\d.]+)/.exec(stderr)?.[1];
  return {
    ms,
    code,
    stderr,
    lines,
    ...(rss ? { treeRssBytes: Number(rss) * 1024 } : {}),
    ...(user && system ? { cpuSeconds: Number(user) + Number(system) } : {}),
  };
};

/** The fastest of `times` runs (the machine may be shared: the minimum is the least disturbed). */
export const best = async (times: number, once: () => Promise<Run>): Promise<Run> => {
  let fastest: Run | undefined;
  for (let attempt = 0; attempt < times; attempt++) {
    const result = await once();
    if (!fastest || result.ms < fastest.ms) fastest = result;
  }
  return fastest as Run;
};

export const cpu = (result: Run) =>
  result.cpuSeconds === undefined ? '' : `  cpu ${result.cpuSeconds.toFixed(1)} s`;
export const tree = (result: Run) => (result.treeRssBytes ? `, process tree ${mb(result.treeRssBytes)}` : '');

const failures: string[] = [];
/** Records a missed goal (`what`) and says `ok` or `MISSED`. */
export const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
  return ok ? 'ok' : 'MISSED';
};
/** Lists the missed goals at the end of a run; with BENCH_STRICT=1 they fail it. */
export const reportMissedGoals = () => {
  if (failures.length) {
    console.info(`\nmissed goals: ${failures.join('; ')}`);
    if (STRICT) process.exit(1);
  }
};

/** The first three numbers of /proc/loadavg: how busy the machine was when the run started. */
export const loadAverage = async () =>
  (await readFile('/proc/loadavg', 'utf8').catch(() => '?')).split(' ').slice(0, 3).join(' ');

/** The dump and restore jobs bundled into `outdir` as `dump.mjs` and `restore.mjs`, the same bundles as the job image (infra/images/Dockerfile). */
export const buildJobBundles = async (outdir: string): Promise<void> => {
  await build({
    entryPoints: [join(ROOT, 'functions/jobs/dump.ts'), join(ROOT, 'functions/jobs/restore.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outdir,
    outExtension: { '.js': '.mjs' },
    external: ['pg-native'],
    logLevel: 'warning',
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
};

/** A job process's environment: what the job image's task definition gives it, here with s3rver. */
export const jobEnv = (connectionFile: string, s3: S3Emulator, spec: JobSpec): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  JOB_SPEC: JSON.stringify(spec),
  ADDONS_CONNECTION_FILE: connectionFile,
  ADDONS_S3_ENDPOINT: s3.endpoint,
  ADDONS_LOG_LEVEL: 'INFO',
});

/** The job's own peak RSS, from its last log line. */
export const jobRss = (job: Run) => Number(job.lines.at(-1)?.maxRssBytes ?? Number.NaN);

/**
 * The frame of a job benchmark: prints `headline` with the load average, builds the job bundles
 * and starts s3rver with the bench bucket in a temporary directory, runs `bench`, removes it all,
 * then lists the missed goals (BENCH_STRICT=1: exit 1).
 */
export const runJobBench = async (
  tmpPrefix: string,
  headline: string,
  bench: (dir: string, bundle: string, s3: S3Emulator) => Promise<void>,
): Promise<void> => {
  const dir = await mkdtemp(join(tmpdir(), tmpPrefix));
  let s3: S3Emulator | undefined;
  try {
    console.info(`${headline}; load average at start ${await loadAverage()}`);
    const bundle = join(dir, 'jobs');
    await buildJobBundles(bundle);
    s3 = await startS3(dir);
    await ensureBucket(s3.client, BUCKET);
    await bench(dir, bundle, s3);
  } finally {
    await s3?.stop();
    await rm(dir, { recursive: true, force: true });
  }
  reportMissedGoals();
};
