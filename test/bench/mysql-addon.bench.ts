/**
 * Issue 8 benchmark: how much the platform adds on top of MariaDB when creating a MySQL addon.
 * - POST -> running addon that accepts the customer's connection, as a ratio to a bare
 *   `mariadb-install-db` + `mariadbd` start + connect on this machine, in the same run
 *   (goal <= 1.5x).
 */
import '#shared/util/polyfills.ts';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { loadLocalConfig } from '#infra/local/config.ts';
import { startLocalPlatform } from '#infra/local/platform.ts';
import { removePlatformData } from '../support/data-dir.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const isRoot = process.getuid?.() === 0;

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const ms = (value: number) => `${value.toFixed(1)} ms`;

/** Connect until the server answers (it takes a moment to listen), then run one query. */
const connectWhenUp = async (options: mysql.ConnectionOptions, deadlineMs = 60_000) => {
  const until = performance.now() + deadlineMs;
  for (;;) {
    try {
      const connection = await mysql.createConnection({ ...options, connectTimeout: 2_000 });
      await connection.query('SELECT 1');
      await connection.end();
      return;
    } catch (error) {
      if (performance.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
};

const bareEngineStart = async (): Promise<number> => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-bare-mariadb-'));
  const socket = join(dir, 'mysqld.sock');
  const user = isRoot ? ['--user=root'] : [];
  const started = performance.now();
  const install = spawnSync(
    'mariadb-install-db',
    ['--no-defaults', `--datadir=${join(dir, 'data')}`, '--auth-root-authentication-method=socket', ...user],
    { stdio: 'ignore' },
  );
  if (install.status !== 0) throw new Error('mariadb-install-db failed');
  const server: ChildProcess = spawn(
    'mariadbd',
    [
      '--no-defaults',
      `--datadir=${join(dir, 'data')}`,
      `--socket=${socket}`,
      '--skip-networking',
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      ...user,
    ],
    { stdio: 'ignore' },
  );
  try {
    await connectWhenUp({ socketPath: socket, user: isRoot ? 'root' : (process.env.USER ?? 'root') });
    return performance.now() - started;
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    await rm(dir, { recursive: true, force: true });
  }
};

const main = async () => {
  const bare: number[] = [];
  for (let i = 0; i < RUNS; i++) bare.push(await bareEngineStart());

  const dataDir = await mkdtemp(join(tmpdir(), 'bench-mysql-platform-'));
  const platform = await startLocalPlatform({
    ...loadLocalConfig({
      ADDONS_DATA_DIR: dataDir,
      ADDONS_PORT: '0',
      ADDONS_LOG_LEVEL: 'ERROR',
      ADDONS_RATE_LIMIT_PER_SECOND: '100000',
      ADDONS_RATE_LIMIT_BURST: '1000000',
    }),
    token: 'bench-token-0123456789',
  });
  const headers = { authorization: `Bearer ${platform.token}`, 'content-type': 'application/json' };
  const provision: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      const created = await fetch(`${platform.url}/v1/projects/bench/addons`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: `bench-${i}`, engine: 'mysql' }),
      });
      const { addon, operation } = (await created.json()) as {
        addon: { id: string };
        operation: { id: string };
      };
      for (;;) {
        const polled = await fetch(`${platform.url}/v1/projects/bench/operations/${operation.id}`, {
          headers,
        });
        const { status, error } = (await polled.json()) as { status: string; error: unknown };
        if (status === 'completed') break;
        if (status === 'failed') throw new Error(`provisioning failed: ${JSON.stringify(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const credentials = await fetch(`${platform.url}/v1/projects/bench/addons/${addon.id}/credentials`, {
        headers,
      });
      const { host, port, username, password, database } = (await credentials.json()) as {
        host: string;
        port: number;
        username: string;
        password: string;
        database: string;
      };
      await connectWhenUp({ host, port, user: username, password, database });
      provision.push(performance.now() - started);
    }
    const provisionMedian = median(provision);
    const bareMedian = median(bare);
    console.info(`provision: POST -> connectable MySQL addon, median of ${RUNS}: ${ms(provisionMedian)}`);
    console.info(
      `baseline:  bare mariadb-install-db + mariadbd + connect, median of ${RUNS}: ${ms(bareMedian)}`,
    );
    console.info(
      `ratio provision/bare engine start: ${(provisionMedian / bareMedian).toFixed(2)}x (goal <= 1.5x)`,
    );
  } finally {
    await platform.stop();
    await removePlatformData(dataDir);
  }
};

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
