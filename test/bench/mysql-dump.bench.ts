/**
 * Issue 8 benchmark: the MySQL dump job against the plain client tool, on a real MariaDB 10.11.
 *
 * On a fresh MariaDB loaded with ADDONS_BENCH_MYSQL_GB of hard-to-compress rows (default 0.25,
 * a quick run; the run is `ADDONS_BENCH_MYSQL_GB=1 npm run bench -- mysql-dump`):
 * - `mariadb-dump > /dev/null` (baseline, same flags as the job) vs the dump job
 *   (mariadb-dump | zstd -> s3rver), ratio = baseline time / job time, goal >= 0.85;
 * - peak RSS of the job process, which must not grow with the database (goal < 200 MB);
 * - the restore job (s3rver -> sha256 -> zstd -d -> mariadb into the staging database, swap)
 *   against `mariadb < file` into an empty database, reported for information, and the
 *   restored tables checked against the source by CHECKSUM TABLE.
 * The job runs as the job image runs it: an esbuild bundle in its own Node.js process, peak RSS
 * from its own report and from /usr/bin/time -v (the whole process tree).
 * BENCH_STRICT=1 makes a missed goal fail the run. Everything is removed afterwards.
 */
import { open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RowDataPacket } from 'mysql2/promise';
import type { S3Emulator } from '#infra/local/s3-emulator.ts';
import { MysqlDumpTool } from '#shared/jobs/mysql/dump-tool.ts';
import type { JobSpec } from '#shared/schemas/job.ts';
import { startTestMariadb, type TestMariadb } from '../jobs/mariadb-server.ts';
import {
  BUCKET,
  best,
  check,
  cpu,
  jobEnv,
  jobRss,
  mb,
  RSS_GOAL_BYTES,
  RUNS,
  type Run,
  rate,
  run,
  runJobBench,
  secs,
  tree,
} from './support/measure.ts';

const GB = Number(process.env.ADDONS_BENCH_MYSQL_GB ?? 0.25);
const DUMP_GOAL = 0.85;
/** Rows per table; about 120 bytes each on disk, so 2M rows make a table of ~250 MB. */
const ROWS_PER_TABLE = 2_000_000;
const ROWS_PER_GB = 8_000_000;

/** Tables of up to ~250 MB filled two at a time (two cores), rows mostly random numbers and hex. */
const loadData = async (mariadb: TestMariadb, gb: number): Promise<number> => {
  const totalRows = Math.max(10_000, Math.round(gb * ROWS_PER_GB));
  const tables = Math.ceil(totalRows / ROWS_PER_TABLE);
  let next = 0;
  const worker = async () => {
    const client = await mariadb.client();
    try {
      for (let table = next++; table < tables; table = next++) {
        const rows = Math.min(ROWS_PER_TABLE, totalRows - table * ROWS_PER_TABLE);
        await client.query(`
          CREATE TABLE data_${table} (id BIGINT PRIMARY KEY, amount BIGINT, ratio DOUBLE,
            token VARCHAR(64), happened_at DATETIME) ENGINE=InnoDB;
          INSERT INTO data_${table}
          SELECT seq, FLOOR(RAND() * 1e15), RAND(), CONCAT(MD5(RAND()), MD5(seq)),
                 NOW() - INTERVAL FLOOR(RAND() * 86400000) SECOND
          FROM seq_1_to_${rows}`);
      }
    } finally {
      await client.end();
    }
  };
  await Promise.all([worker(), worker()]);
  const client = await mariadb.client();
  try {
    const [rows] = await client.query<RowDataPacket[]>(
      `SELECT SUM(DATA_LENGTH + INDEX_LENGTH) AS bytes FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()`,
    );
    return Number(rows[0]?.bytes ?? 0);
  } finally {
    await client.end();
  }
};

/** CHECKSUM TABLE of every table of `database`: what the restored database must match. */
const checksums = async (mariadb: TestMariadb, database: string): Promise<string> => {
  const client = await mariadb.admin();
  try {
    const [tables] = await client.query<RowDataPacket[]>(
      `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1`,
      [database],
    );
    const sums: string[] = [];
    for (const { name } of tables) {
      const [rows] = await client.query<RowDataPacket[]>(`CHECKSUM TABLE \`${database}\`.\`${name}\``);
      sums.push(`${name}:${rows[0]?.Checksum}`);
    }
    return sums.join(' ');
  } finally {
    await client.end();
  }
};

const runBench = async (dir: string, bundle: string, s3: S3Emulator) => {
  const mariadb = await startTestMariadb({ fast: true, database: 'bench' });
  const localDump = join(dir, 'baseline.sql');
  try {
    const loadStarted = performance.now();
    const databaseBytes = await loadData(mariadb, GB);
    console.info(`database: ${mb(databaseBytes)}, loaded in ${secs(performance.now() - loadStarted)}`);
    const { connection } = mariadb;
    const connectionFile = join(dir, 'connection.json');
    await writeFile(connectionFile, JSON.stringify(connection), { mode: 0o600 });
    // The baseline runs exactly the job's command, only into /dev/null instead of zstd and S3.
    const tool = new MysqlDumpTool();
    const command = await tool.dumpCommand(connection, await tool.inspect(connection, 'bench'), 'bench');

    const baseline = await best(RUNS, async () => {
      const devNull = await open('/dev/null', 'w');
      try {
        return await run(command.tool.path, command.args, command.env, { stdoutTo: devNull.fd });
      } finally {
        await devNull.close();
      }
    });
    if (baseline.code !== 0) throw new Error(`mariadb-dump failed: ${baseline.stderr}`);
    console.info(
      `${'mariadb-dump > /dev/null'.padEnd(40)} ${secs(baseline.ms).padStart(7)}  ${rate(databaseBytes, baseline.ms)}${cpu(baseline)}`,
    );

    const key = 'bench/mysql.sql.zst';
    const spec: JobSpec = {
      kind: 'dump',
      operationId: 'bench-mysql-dump',
      projectId: 'bench',
      addonId: 'bench',
      backupId: 'bench-mysql',
      engine: 'mysql',
      artifact: { bucket: BUCKET, key },
      resultKey: `${key}.result.json`,
      compression: 'zstd',
      estimatedBytes: databaseBytes,
    };
    const job = await best(RUNS, () =>
      run(process.execPath, [join(bundle, 'dump.mjs')], jobEnv(connectionFile, s3, spec)),
    );
    const result = job.lines.at(-1)?.result as { sha256: string; sizeBytes: number } | undefined;
    if (job.code !== 0 || !result)
      throw new Error(`dump job failed: ${job.stderr}\n${JSON.stringify(job.lines.at(-1))}`);
    const ratio = baseline.ms / job.ms;
    const rss = jobRss(job);
    console.info(
      `${'dump job: mariadb-dump | zstd -> s3rver'.padEnd(40)} ${secs(job.ms).padStart(7)}  ${rate(databaseBytes, job.ms)}${cpu(job)}` +
        `  ratio ${ratio.toFixed(2)}, goal >= ${DUMP_GOAL}: ${check(ratio >= DUMP_GOAL, 'dump ratio')}` +
        `; artifact ${mb(result.sizeBytes)}; peak RSS node ${mb(rss)}${tree(job)}` +
        `, goal < ${mb(RSS_GOAL_BYTES)}: ${check(rss < RSS_GOAL_BYTES, 'dump RSS')}`,
    );

    // Restore, for information: `mariadb < file` into an empty database vs the restore job.
    const fileDump = await open(localDump, 'w');
    try {
      const written = await run(command.tool.path, command.args, command.env, { stdoutTo: fileDump.fd });
      if (written.code !== 0) throw new Error(`mariadb-dump to file failed: ${written.stderr}`);
    } finally {
      await fileDump.close();
    }
    const admin = await mariadb.admin();
    try {
      await admin.query('DROP DATABASE IF EXISTS restore_baseline; CREATE DATABASE restore_baseline');
    } finally {
      await admin.end();
    }
    const loaderArgs = [
      '--no-defaults',
      `--socket=${mariadb.socketPath}`,
      '--user=root',
      '--database=restore_baseline',
      '--batch',
      '--binary-mode',
      '--max-allowed-packet=1G',
    ];
    const source = await open(localDump, 'r');
    let restoreBaseline: Run;
    try {
      restoreBaseline = await run(
        'mariadb',
        loaderArgs,
        { PATH: process.env.PATH },
        { stdinFrom: source.fd },
      );
    } finally {
      await source.close();
    }
    if (restoreBaseline.code !== 0) throw new Error(`mariadb < file failed: ${restoreBaseline.stderr}`);
    console.info(
      `${'mariadb < the local dump file'.padEnd(40)} ${secs(restoreBaseline.ms).padStart(7)}  ${rate(databaseBytes, restoreBaseline.ms)}${cpu(restoreBaseline)}`,
    );
    const sourceSums = await checksums(mariadb, 'bench');
    const restoreSpec: JobSpec = {
      kind: 'restore',
      operationId: 'bench-mysql-restore',
      projectId: 'bench',
      addonId: 'bench',
      backupId: 'bench-mysql',
      engine: 'mysql',
      artifact: { bucket: BUCKET, key },
      compression: 'zstd',
      expectedSha256: result.sha256,
    };
    const restore = await run(
      process.execPath,
      [join(bundle, 'restore.mjs')],
      jobEnv(connectionFile, s3, restoreSpec),
    );
    if (restore.code !== 0)
      throw new Error(`restore job failed: ${restore.stderr}\n${JSON.stringify(restore.lines.at(-1))}`);
    console.info(
      `${'restore job: s3rver -> zstd -d -> swap'.padEnd(40)} ${secs(restore.ms).padStart(7)}  ${rate(databaseBytes, restore.ms)}${cpu(restore)}` +
        `  ratio ${(restoreBaseline.ms / restore.ms).toFixed(2)}; peak RSS node ${mb(jobRss(restore))}${tree(restore)}` +
        `, goal < ${mb(RSS_GOAL_BYTES)}: ${check(jobRss(restore) < RSS_GOAL_BYTES, 'restore RSS')}`,
    );
    const restoredSums = await checksums(mariadb, 'bench');
    console.info(
      `restored tables match the source by CHECKSUM TABLE: ${check(restoredSums === sourceSums, 'restored data differs')}`,
    );
  } finally {
    await mariadb.stop();
    await rm(localDump, { force: true });
  }
};

await runJobBench(
  'bench-mysql-dump-',
  `MySQL dump job, ${GB} GB (ADDONS_BENCH_MYSQL_GB), best of ${RUNS} run(s); ratio = baseline time / job time`,
  runBench,
);
