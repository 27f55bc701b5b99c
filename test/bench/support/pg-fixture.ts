/**
 * The PostgreSQL dump benchmarks' data set: tables of ~250 MB (2,000,000 rows each), mostly
 * random numbers and hex, hard to compress, filled two at a time (two cores).
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import type { Credentials } from '#shared/schemas/addon.ts';

/** A client of the addon the connection details name (TLS without verification, as the bench's own). */
export const connectTo = async (credentials: Credentials): Promise<pg.Client> => {
  const client = new pg.Client({
    connectionString: credentials.uri,
    ssl: credentials.tls ? { rejectUnauthorized: false } : false,
  });
  await client.connect();
  return client;
};

/** Loads about `gb` GB into the database `connect` reaches, and returns its size in bytes. */
export const loadDumpFixture = async (connect: () => Promise<pg.Client>, gb: number): Promise<number> => {
  const tables = Math.max(1, Math.round(gb * 4));
  const rows = 2_000_000;
  let next = 0;
  const worker = async () => {
    const client = await connect();
    try {
      for (let table = next++; table < tables; table = next++) {
        await client.query(`
          CREATE TABLE data_${table} AS
          SELECT i AS id, (random() * 1e15)::bigint AS amount, random() AS ratio,
                 md5(random()::text) || md5(i::text) AS token,
                 now() - random() * interval '1000 days' AS happened_at
          FROM generate_series(1, ${rows}) i`);
      }
    } finally {
      await client.end();
    }
  };
  await Promise.all([worker(), worker()]);
  return analyzedSize(await connect());
};

/** VACUUM ANALYZE, then the database's size in bytes; ends the client. */
export const analyzedSize = async (client: pg.Client): Promise<number> => {
  try {
    await client.query('VACUUM ANALYZE');
    const { rows } = await client.query<{ bytes: string }>(
      'SELECT pg_database_size(current_database())::text AS bytes',
    );
    return Number(rows[0]?.bytes ?? 0);
  } finally {
    await client.end();
  }
};

/** Tables and their exact row counts: what a restored database must match. */
export const tableContents = async (client: pg.Client): Promise<string> => {
  try {
    const { rows: tables } = await client.query<{ name: string }>(
      `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`,
    );
    let total = 0;
    for (const { name } of tables) {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM public.${name}`);
      total += Number(rows[0]?.n ?? 0);
    }
    return `${tables.length} tables, ${total} rows`;
  } finally {
    await client.end();
  }
};

/**
 * CPU seconds the server has spent so far: its backends that have exited (the postmaster's
 * cutime and cstime) and its processes still running. The difference around a restore is the
 * server's share of it, which the client tools' own CPU competes with on a small machine.
 */
export const serverCpu = async (connect: () => Promise<pg.Client>): Promise<() => Promise<number>> => {
  const fields = (stat: string) =>
    stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
  const client = await connect();
  const postmaster = await client
    .query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
    .then(async ({ rows }) => fields(await readFile(`/proc/${rows[0]?.pid}/stat`, 'utf8'))[1])
    .finally(() => client.end());
  return async () => {
    const main = fields(await readFile(`/proc/${postmaster}/stat`, 'utf8'));
    let ticks = (main[11] ?? 0) + (main[12] ?? 0) + (main[13] ?? 0) + (main[14] ?? 0);
    const children = await readFile(`/proc/${postmaster}/task/${postmaster}/children`, 'utf8');
    for (const child of children.trim().split(' ').filter(Boolean)) {
      const stat = await readFile(`/proc/${child}/stat`, 'utf8').catch(() => undefined);
      if (stat) ticks += (fields(stat)[11] ?? 0) + (fields(stat)[12] ?? 0);
    }
    return ticks / 100;
  };
};

/**
 * Waits (up to `timeoutMs`) until the server's WAL archiver has caught up with every finished
 * segment: the local addon archives WAL for PITR, one process and one upload per 16 MB segment,
 * so a run that starts right after a load or another restore would otherwise pay for archiving
 * the WAL the previous one wrote. Returns how long it waited; at once when nothing is archived.
 */
export const archiverCaughtUp = async (connect: () => Promise<pg.Client>, timeoutMs = 120_000) => {
  const started = Date.now();
  const client = await connect();
  try {
    for (;;) {
      const { rows } = await client.query<{ done: boolean | null }>(
        `SELECT a.last_archived_wal IS NULL OR a.last_archived_wal >= pg_walfile_name(
           pg_current_wal_lsn() - (SELECT setting::numeric FROM pg_settings WHERE name = 'wal_segment_size')
         ) AS done
         FROM pg_stat_archiver a`,
      );
      if (rows[0]?.done !== false || Date.now() - started > timeoutMs) return Date.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await client.end();
  }
};
