/**
 * The local metrics sampler, measured in this process:
 * - its CPU time per sample per addon, over ADDONS (default 3) bare redis-servers run like the
 *   platform's (Unix socket, the platform's ACL user), as a ratio to the least a sample needs:
 *   one AUTH + INFO round trip on the same socket;
 * - the latency of a query for a 24 h window (every series of a full 24 h ring at 10 s, 1,440
 *   points), as a ratio to one pass over a plain Float32Array of the ring's size.
 * The 20-addon platform overhead (on vs off) is sampler-overhead.bench.ts.
 */
import '#shared/util/polyfills.ts';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstanceContext } from '#infra/local/engines/driver.ts';
import { sendCommands } from '#infra/local/engines/redis/resp.ts';
import { LocalMetricsSampler, localFields } from '#infra/local/metrics/sampler.ts';
import { metricDefinition } from '#shared/metrics/catalog.ts';
import { median, ms } from './support/platform.ts';

const ADDONS = Number(process.env.BENCH_ADDONS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 50);
const ADMIN = { username: 'platform', password: 'bench-password-0123456789' };

const cpuMicros = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

const startRedis = async (
  dir: string,
  index: number,
): Promise<{ server: ChildProcess; ctx: InstanceContext }> => {
  const instanceDir = join(dir, `addon-${index}`);
  const socketDir = join(instanceDir, 'run');
  const dataDir = join(instanceDir, 'data');
  await mkdir(socketDir, { recursive: true });
  await mkdir(dataDir, { recursive: true });
  const socket = join(socketDir, 'redis.sock');
  const server = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--unixsocket',
      socket,
      '--dir',
      dataDir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--user',
      'default',
      'off',
      '--user',
      ADMIN.username,
      'on',
      `>${ADMIN.password}`,
      '~*',
      '&*',
      '+@all',
    ],
    { stdio: 'ignore' },
  );
  const ctx = {
    resourceId: `addon-bench-${index}`,
    dir: instanceDir,
    dataDir,
    socketDir,
    logFile: join(instanceDir, 'server.log'),
    record: { engine: 'redis', admin: ADMIN },
    runAs: undefined,
  } as unknown as InstanceContext;
  const until = Date.now() + 10_000;
  for (;;) {
    const ready = await sendCommands({ path: socket }, [
      ['AUTH', ADMIN.username, ADMIN.password],
      ['PING'],
    ]).then(
      (replies) => replies[1] === 'PONG',
      () => false,
    );
    if (ready) break;
    if (Date.now() > until) throw new Error('redis-server did not start');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { server, ctx };
};

const sampleCost = async (dir: string) => {
  const servers = await Promise.all(Array.from({ length: ADDONS }, (_, index) => startRedis(dir, index)));
  try {
    const targets = servers.map(({ server, ctx }) => ({ ctx, pid: server.pid as number }));
    const sampler = new LocalMetricsSampler({
      dir: join(dir, 'metrics'),
      intervalSeconds: 10,
      targets: () => targets,
      instanceExists: async () => true,
    });
    await sampler.sampleOnce(); // opens the ring files
    const sampled: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const before = cpuMicros();
      await sampler.sampleOnce();
      sampled.push((cpuMicros() - before) / ADDONS);
    }
    await sampler.stop();
    const bare: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const before = cpuMicros();
      for (const { ctx } of servers) {
        await sendCommands({ path: join(ctx.socketDir, 'redis.sock') }, [
          ['AUTH', ADMIN.username, ADMIN.password],
          ['INFO'],
        ]);
      }
      bare.push((cpuMicros() - before) / ADDONS);
    }
    return { sampled: median(sampled) / 1000, bare: median(bare) / 1000 };
  } finally {
    for (const { server } of servers) server.kill('SIGTERM');
    await Promise.all(servers.map(({ server }) => new Promise((resolve) => server.once('exit', resolve))));
  }
};

const queryLatency = async (dir: string) => {
  const interval = 10;
  const sampler = new LocalMetricsSampler({
    dir: join(dir, 'query'),
    intervalSeconds: interval,
    targets: () => [],
    instanceExists: async () => true,
  });
  const target = { addonId: 'adn-bench', resourceId: 'addon-query', engine: 'postgresql' as const };
  const fields = localFields('postgresql');
  const now = Math.floor(Date.now() / 1000);
  // A full ring: 24 h of samples at 10 s, every field set.
  const window = { from: now - 86_400, step: 60, points: 1440 };
  await sampler.query(target, fields, window);
  const { ring } = await sampler.ringOf(target.resourceId, target.engine);
  for (let time = now - 86_400; time < now; time += interval) {
    ring.append(time, Object.fromEntries(fields.map((field, index) => [field, index + (time % 97)])));
  }
  const timed: number[] = [];
  for (let run = 0; run < QUERIES; run++) {
    const started = performance.now();
    const series = await sampler.query(target, fields, window);
    JSON.stringify([...series.values()]);
    timed.push(performance.now() - started);
  }
  const plain = new Float32Array(ring.values.length).fill(1);
  const scans: number[] = [];
  for (let run = 0; run < QUERIES; run++) {
    const started = performance.now();
    let sum = 0;
    for (let index = 0; index < plain.length; index++) sum += plain[index] ?? 0;
    if (sum < 0) console.info(sum);
    scans.push(performance.now() - started);
  }
  await sampler.stop();
  return {
    query: median(timed),
    scan: median(scans),
    slots: ring.capacity,
    fields: fields.length,
    aggregates: fields.map((field) => metricDefinition(field).aggregate).filter((a) => a === 'maximum')
      .length,
  };
};

const main = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-metrics-'));
  try {
    const cost = await sampleCost(dir);
    console.info(
      `sampler CPU per sample per addon (${ADDONS} redis addons, median of ${ROUNDS} rounds): ${ms(cost.sampled)} ` +
        `vs bare AUTH+INFO ${ms(cost.bare)} = ${(cost.sampled / cost.bare).toFixed(1)}x; ` +
        `at a 10 s interval that is ${((cost.sampled / 10_000) * 100).toFixed(3)} % of one core per addon`,
    );
    const latency = await queryLatency(dir);
    console.info(
      `24 h query (${latency.fields} series, ${latency.slots} slots, 1440 points, median of ${QUERIES}): ${ms(latency.query)} ` +
        `vs one pass over a Float32Array of the ring's size ${ms(latency.scan)} = ${(latency.query / latency.scan).toFixed(1)}x`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
