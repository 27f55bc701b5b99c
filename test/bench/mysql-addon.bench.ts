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
import { compareProvisioning } from './support/platform.ts';

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

const main = () =>
  compareProvisioning<{ host: string; port: number; username: string; password: string; database: string }>({
    engine: 'mysql',
    runs: RUNS,
    baseline: 'bare mariadb-install-db + mariadbd + connect',
    bareStart: bareEngineStart,
    connect: ({ host, port, username, password, database }) =>
      connectWhenUp({ host, port, user: username, password, database }),
    goal: 1.5,
  });

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
