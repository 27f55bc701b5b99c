import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import type { Credentials } from '#shared/schemas/addon.ts';
import { startOnFreePort } from './free-port.ts';

/**
 * A throwaway MariaDB server for job tests and benchmarks: Debian's mariadbd on a temp data
 * directory and a free TCP port on 127.0.0.1. The job connects as a customer user with ALL on
 * its database and on the restore's staging and retired databases, and nothing global, as the
 * addon's own user has; `admin()` connects as root over the server's socket.
 */
export interface TestMariadb {
  connection: Credentials;
  /** A connection as the customer user (its database unless given); the caller ends it. */
  client(database?: string): Promise<mysql.Connection>;
  /** The server's Unix socket, where root connects. */
  socketPath: string;
  /** A root connection; the caller ends it. */
  admin(): Promise<mysql.Connection>;
  stop(): Promise<void>;
}

export interface TestMariadbOptions {
  /** Durability off and a larger buffer pool: loading benchmark data goes several times faster. */
  fast?: boolean;
  database?: string;
}

const run = promisify(execFile);

/** Polls a root connection until the server answers, it exits, or 60 s pass (a loaded machine). */
const waitReady = async (child: ChildProcess, socketPath: string) => {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('mariadbd exited');
    try {
      const probe = await mysql.createConnection({ socketPath, user: 'root' });
      await probe.end();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

export const startTestMariadb = async (options: TestMariadbOptions = {}): Promise<TestMariadb> => {
  const root = await mkdtemp(join(tmpdir(), 'addons-jobs-my-'));
  const datadir = join(root, 'data');
  const socketPath = join(root, 'mariadbd.sock');
  const database = options.database ?? 'app';
  const user = 'app_user';
  const password = randomBytes(12).toString('hex');
  // As root, mariadbd needs --user; root it is (the temp directory is root's).
  await run('mariadb-install-db', [
    '--no-defaults',
    `--datadir=${datadir}`,
    '--user=root',
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
  ]);
  let log = '';
  const { server: child, port } = await startOnFreePort(
    async (port) => {
      const candidate = spawn(
        'mariadbd',
        [
          '--no-defaults',
          '--user=root',
          `--datadir=${datadir}`,
          `--socket=${socketPath}`,
          `--pid-file=${join(root, 'mariadbd.pid')}`,
          '--bind-address=127.0.0.1',
          `--port=${port}`,
          '--skip-name-resolve',
          '--skip-log-bin',
          '--innodb-buffer-pool-size=128M',
          ...(options.fast
            ? [
                '--innodb-flush-log-at-trx-commit=0',
                '--innodb-doublewrite=0',
                '--innodb-buffer-pool-size=512M',
                '--innodb-log-file-size=512M',
                '--sync-binlog=0',
              ]
            : []),
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      candidate.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        log = (log + chunk).slice(-4000);
      });
      try {
        await waitReady(candidate, socketPath);
        return candidate;
      } catch (error) {
        candidate.kill('SIGKILL');
        throw error;
      }
    },
    async (port, error) => {
      await rm(root, { recursive: true, force: true });
      throw new Error(`mariadbd did not start on 127.0.0.1:${port}: ${log}`, { cause: error });
    },
  );
  const admin = () => mysql.createConnection({ socketPath, user: 'root', multipleStatements: true });
  const setup = await admin();
  try {
    // `_` is a wildcard in database names of GRANT: escaped, the grants name exactly these.
    await setup.query(`
      CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
      CREATE USER '${user}'@'%' IDENTIFIED BY '${password}';
      GRANT ALL ON \`${database.replaceAll('_', '\\_')}\`.* TO '${user}'@'%';
      GRANT ALL ON \`addons\\_restore\`.* TO '${user}'@'%';
      GRANT ALL ON \`addons\\_retired\`.* TO '${user}'@'%';
    `);
  } finally {
    await setup.end();
  }
  const connection: Credentials = {
    engine: 'mysql',
    host: '127.0.0.1',
    port,
    database,
    username: user,
    password,
    uri: `mysql://${user}:${password}@127.0.0.1:${port}/${database}`,
    tls: false,
  };
  let stopped = false;
  return {
    connection,
    client: (db = database) =>
      mysql.createConnection({
        host: '127.0.0.1',
        port,
        user,
        password,
        database: db,
        multipleStatements: true,
        charset: 'utf8mb4_unicode_ci',
      }),
    socketPath,
    admin,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      const server = child;
      if (server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((resolve) => server.once('exit', resolve));
        server.kill('SIGTERM');
        const timer = setTimeout(() => server.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(root, { recursive: true, force: true });
    },
  };
};
