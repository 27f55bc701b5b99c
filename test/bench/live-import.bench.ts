/**
 * Issue 10 benchmark: a live import through the API vs `pg_dump -Fc | pg_restore` run by hand.
 *
 * A PostgreSQL server started here is filled by `pgbench -i -s LIVE_IMPORT_BENCH_SCALE` (default
 * 70: about 1 GB on disk). Then, in the same run, into two fresh PostgreSQL addons of a local
 * platform:
 * - baseline: `pg_dump -Fc | pg_restore --single-transaction --no-owner --no-acl -d <addon>`,
 *   the command a user would type (pg_dump's default compression, as typed), and the same with
 *   `-Z0` (no compression: the faster of the two is the baseline, so the ratio is not flattered);
 * - the live import: POST .../imports {"kind":"live"}, POST .../start, polled until completed,
 *   timed from the start request to the completed operation.
 * ratio = baseline time / import time, goal >= 0.85. Both targets' row counts are checked.
 * BENCH_STRICT=1 makes a missed goal fail the run. Everything is removed afterwards.
 */
import '#shared/util/polyfills.ts';
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { inspectServer, libpqEnv, resolvePgTool } from '#shared/jobs/postgresql/postgres.ts';
import type { Credentials } from '#shared/schemas/addon.ts';
import { startTestPostgres } from '../jobs/postgres-server.ts';
import { provisionAddon, startBenchPlatform } from './support/platform.ts';

const SCALE = Number(process.env.LIVE_IMPORT_BENCH_SCALE ?? 70);
const GOAL = 0.85;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const sh = (script: string, env: NodeJS.ProcessEnv): Promise<number> =>
  new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('bash', ['-c', `set -o pipefail; ${script}`], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve(performance.now() - started)
        : reject(new Error(`${script} exited ${code}: ${stderr}`)),
    );
  });

const count = async (uri: string) => {
  const client = new pg.Client({ connectionString: uri });
  await client.connect();
  try {
    return Number((await client.query('SELECT count(*) AS n FROM pgbench_accounts')).rows[0]?.n);
  } finally {
    await client.end();
  }
};

const conninfo = (c: Pick<Credentials, 'host' | 'port' | 'username' | 'password' | 'database'>) =>
  `host=${c.host} port=${c.port} user=${c.username} password=${c.password} dbname=${c.database}`;

const main = async () => {
  const source = await startTestPostgres({ fast: true, database: 'bench' });
  const platform = await startBenchPlatform('bench-live-import-');
  try {
    const env = libpqEnv(source.connection, 'bench');
    const loadMs = await sh(`pgbench -i -q -s ${SCALE} -I dtgvp`, env);
    const server = await inspectServer(source.connection, 'bench');
    console.info(
      `source: pgbench -s ${SCALE}, ${(server.databaseBytes / 1e9).toFixed(2)} GB (pg_database_size), loaded in ${secs(loadMs)}`,
    );
    const [pgDump, pgRestore] = await Promise.all([
      resolvePgTool('pg_dump', Number(server.major)),
      resolvePgTool('pg_restore', Number(server.major)),
    ]);
    const rows = SCALE * 100_000;

    type Addon = { id: string; credentials: Credentials };
    const byHand = async (name: string, dumpArgs: string) => {
      const addon = await provisionAddon<Credentials>(platform, name, 'postgresql');
      const ms = await sh(
        `"${pgDump.path}" -Fc ${dumpArgs} | "${pgRestore.path}" --single-transaction --no-owner --no-acl -d "${conninfo(addon.credentials)}"`,
        env,
      );
      if ((await count(addon.credentials.uri)) !== rows) throw new Error(`${name}: wrong row count`);
      return ms;
    };
    const typed = await byHand('by-hand', '');
    console.info(`${'pg_dump -Fc | pg_restore --single-transaction'.padEnd(52)} ${secs(typed).padStart(8)}`);
    const uncompressed = await byHand('by-hand-z0', '-Z0');
    console.info(
      `${'pg_dump -Fc -Z0 | pg_restore --single-transaction'.padEnd(52)} ${secs(uncompressed).padStart(8)}`,
    );
    const baseline = Math.min(typed, uncompressed);

    const target: Addon = await provisionAddon<Credentials>(platform, 'live-target', 'postgresql');
    const { url, headers } = platform;
    const base = `${url}/v1/projects/bench/addons/${target.id}/imports`;
    const { host, port, username, password } = source.connection;
    const created = (await (
      await fetch(base, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          kind: 'live',
          connectionString: `postgresql://${username}:${encodeURIComponent(password)}@${host}:${port}/bench`,
        }),
      })
    ).json()) as { import: { id: string } };
    const started = performance.now();
    const start = (await (
      await fetch(`${base}/${created.import.id}/start`, { method: 'POST', headers, body: '{}' })
    ).json()) as { operation: { id: string } };
    for (;;) {
      const polled = await fetch(`${url}/v1/projects/bench/operations/${start.operation.id}`, { headers });
      const { status, error } = (await polled.json()) as { status: string; error: unknown };
      if (status === 'completed') break;
      if (status === 'failed') throw new Error(`the live import failed: ${JSON.stringify(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const imported = performance.now() - started;
    if ((await count(target.credentials.uri)) !== rows) throw new Error('live import: wrong row count');
    console.info(
      `${'live import through the API (start -> completed)'.padEnd(52)} ${secs(imported).padStart(8)}`,
    );
    const ratio = baseline / imported;
    console.info(`ratio (best by-hand / live import): ${ratio.toFixed(2)}x  (goal >= ${GOAL}x)`);
    if (process.env.BENCH_STRICT === '1' && ratio < GOAL) process.exitCode = 1;
  } finally {
    await platform.stop();
    await source.stop();
  }
};

await main();
