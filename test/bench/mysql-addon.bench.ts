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
import { median, ms, provisionAddon, startBenchPlatform } from './support/platform.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const isRoot = process.getuid?.() === 0;

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

  const platform = await startBenchPlatform('bench-mysql-platform-');
  const provision: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      const { credentials } = await provisionAddon<{
        host: string;
        port: number;
        username: string;
        password: string;
        database: string;
      }>(platform, `bench-${i}`, 'mysql');
      const { host, port, username, password, database } = credentials;
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
  }
};

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
