/**
 * How much the platform adds on top of redis-server when creating a Redis addon: POST -> running
 * addon that answers the customer's AUTH + PING, as a ratio to a bare `redis-server` start + PING
 * on this machine, in the same run.
 */
import '#shared/util/polyfills.ts';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../jobs/free-port.ts';
import { compareProvisioning } from './support/platform.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

/** PING with redis-cli until it answers PONG: what a client waits for. */
const pingWhenUp = (args: string[], deadlineMs = 30_000) => {
  const until = performance.now() + deadlineMs;
  for (;;) {
    const run = spawnSync('redis-cli', [...args, '--no-auth-warning', 'PING'], { encoding: 'utf8' });
    if (run.stdout.trim() === 'PONG') return;
    if (performance.now() > until) throw new Error(`redis did not answer: ${run.stdout}${run.stderr}`);
  }
};

const bareEngineStart = async (): Promise<number> => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-bare-redis-'));
  const port = await freePort();
  const started = performance.now();
  const server: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', ''],
    { stdio: 'ignore' },
  );
  try {
    pingWhenUp(['-h', '127.0.0.1', '-p', String(port)]);
    return performance.now() - started;
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    await rm(dir, { recursive: true, force: true });
  }
};

const main = () =>
  compareProvisioning<{ uri: string }>({
    engine: 'redis',
    runs: RUNS,
    baseline: 'bare redis-server start + PING',
    bareStart: bareEngineStart,
    connect: ({ uri }) => pingWhenUp(['-u', uri]),
  });

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
