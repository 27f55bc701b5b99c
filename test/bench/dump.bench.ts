/**
 * Issue 4 benchmark: the dump and restore jobs against the plain PostgreSQL tools.
 *
 * For each size in DUMP_BENCH_SIZES_GB (default "1,4"), on a fresh PostgreSQL loaded with that
 * many GB of hard-to-compress rows:
 * - dump: `pg_dump -Fc > /dev/null` (baseline) vs the dump job (pg_dump -Z0 | zstd -> s3rver),
 *   ratio = baseline time / job time, goal >= 0.85;
 * - restore: `pg_restore --single-transaction -d` from the baseline's local file vs the restore
 *   job (s3rver -> sha256 -> zstd -d -> pg_restore -> psql), both into an empty database;
 * - peak RSS of the job processes, which must not grow with the database (goal < 200 MB).
 * The jobs run as the job image runs them: esbuild bundles in their own Node.js process, peak
 * RSS read from /usr/bin/time -v (the whole process tree) and from the job's own report.
 * BENCH_STRICT=1 makes a missed goal fail the run. Everything is removed afterwards.
 */
import { open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import type { S3Emulator } from '#infra/local/s3-emulator.ts';
import { inspectServer, libpqEnv, resolvePgTool } from '#shared/jobs/postgresql/postgres.ts';
import type { Credentials } from '#shared/schemas/addon.ts';
import type { Compression } from '#shared/schemas/backup.ts';
import type { JobSpec } from '#shared/schemas/job.ts';
import { startTestPostgres, type TestPostgres } from '../jobs/postgres-server.ts';
import {
  BUCKET,
  best,
  check,
  cpu,
  hasTime,
  jobEnv,
  jobRss,
  mb,
  RSS_GOAL_BYTES,
  RUNS,
  rate,
  run,
  runJobBench,
  secs,
  tree,
} from './support/measure.ts';
import { loadDumpFixture, tableContents } from './support/pg-fixture.ts';

const SIZES_GB = (process.env.DUMP_BENCH_SIZES_GB ?? '1,4')
  .split(',')
  .map((value) => Number(value.trim()))
  .filter((value) => value > 0);
const DUMP_GOAL = 0.85;
const RESTORE_GOAL = 0.85;
/** Job ids are safe identifiers: `0.5` GB becomes `0-5`. */
const sizeId = (gb: number) => String(gb).replace('.', '-');

const loadData = (postgres: TestPostgres, gb: number) => loadDumpFixture(() => postgres.client(), gb);

const contents = async (postgres: TestPostgres, database: string) =>
  tableContents(await postgres.client(database));

const runBench = async (dir: string, bundle: string, s3: S3Emulator) => {
  const rssBySize: Array<{ gb: number; dump: number; restore: number }> = [];
  for (const gb of SIZES_GB) {
    console.info(`\n--- ${gb} GB -----------------------------------------------------------`);
    const postgres = await startTestPostgres({ fast: true, database: 'bench' });
    const localDump = join(dir, `baseline-${gb}.dump`);
    try {
      const loadStarted = performance.now();
      const databaseBytes = await loadData(postgres, gb);
      console.info(`database: ${mb(databaseBytes)}, loaded in ${secs(performance.now() - loadStarted)}`);
      const connection = postgres.connection;
      const connectionFile = join(dir, `connection-${gb}.json`);
      await writeFile(connectionFile, JSON.stringify(connection), { mode: 0o600 });
      const restoreFile = join(dir, `restore-${gb}.json`);
      const restoreConnection: Credentials = { ...connection, database: 'restore_job' };
      await writeFile(restoreFile, JSON.stringify(restoreConnection), { mode: 0o600 });
      const major = Number((await inspectServer(connection, 'bench')).major);
      const pgDump = await resolvePgTool('pg_dump', major);
      const pgRestore = await resolvePgTool('pg_restore', major);

      // Dump: baseline, then the job.
      const baseline = await best(RUNS, async () => {
        const devNull = await open('/dev/null', 'w');
        try {
          return await run(pgDump.path, ['-Fc'], libpqEnv(connection, 'bench'), { stdoutTo: devNull.fd });
        } finally {
          await devNull.close();
        }
      });
      if (baseline.code !== 0) throw new Error(`pg_dump failed: ${baseline.stderr}`);
      console.info(
        `${'pg_dump -Fc > /dev/null'.padEnd(40)} ${secs(baseline.ms).padStart(7)}  ${rate(databaseBytes, baseline.ms)}${cpu(baseline)}`,
      );

      const compressions: Compression[] = gb === SIZES_GB[0] ? ['zstd', 'gzip'] : ['zstd'];
      let artifact: { key: string; sha256: string; sizeBytes: number } | undefined;
      let dumpRss = Number.NaN;
      for (const compression of compressions) {
        const key = `bench/${gb}gb.dump.${compression === 'zstd' ? 'zst' : 'gz'}`;
        const spec: JobSpec = {
          kind: 'dump',
          operationId: `bench-${sizeId(gb)}-${compression}`,
          projectId: 'bench',
          addonId: 'bench',
          backupId: `bench-${sizeId(gb)}`,
          engine: 'postgresql',
          artifact: { bucket: BUCKET, key },
          resultKey: `${key}.result.json`,
          compression,
          estimatedBytes: databaseBytes,
        };
        const job = await best(RUNS, () =>
          run(process.execPath, [join(bundle, 'dump.mjs')], jobEnv(connectionFile, s3, spec)),
        );
        const result = job.lines.at(-1)?.result as { sha256: string; sizeBytes: number } | undefined;
        if (job.code !== 0 || !result)
          throw new Error(`dump job failed: ${JSON.stringify(job.lines.at(-1))}`);
        const ratio = baseline.ms / job.ms;
        const rss = jobRss(job);
        const goal =
          compression === 'zstd'
            ? `, goal >= ${DUMP_GOAL}: ${check(ratio >= DUMP_GOAL, `dump ratio ${gb} GB`)}`
            : '';
        console.info(
          `${`dump job: pg_dump | ${compression} -> s3rver`.padEnd(40)} ${secs(job.ms).padStart(7)}  ${rate(databaseBytes, job.ms)}${cpu(job)}` +
            `  ratio ${ratio.toFixed(2)}${goal}; artifact ${mb(result.sizeBytes)}; peak RSS node ${mb(rss)}${tree(job)}`,
        );
        if (compression === 'zstd') {
          artifact = { key, ...result };
          dumpRss = rss;
        }
      }
      if (!artifact) throw new Error('no zstd artifact');

      // Restore: baseline pg_restore from a local file, then the job; both into an empty database.
      const fileDump = await run(pgDump.path, ['-Fc', '-f', localDump], libpqEnv(connection, 'bench'));
      if (fileDump.code !== 0) throw new Error(`pg_dump to file failed: ${fileDump.stderr}`);
      const emptyDatabase = async (name: string) => {
        const admin = await postgres.client('postgres');
        try {
          await admin.query(`DROP DATABASE IF EXISTS ${name}`);
          await admin.query(`CREATE DATABASE ${name}`);
        } finally {
          await admin.end();
        }
      };
      const restoreBaseline = await best(RUNS, async () => {
        await emptyDatabase('restore_baseline');
        return run(
          pgRestore.path,
          ['--single-transaction', '--no-owner', '--no-acl', '-d', 'restore_baseline', localDump],
          libpqEnv({ ...connection, database: 'restore_baseline' }, 'bench'),
        );
      });
      if (restoreBaseline.code !== 0) throw new Error(`pg_restore failed: ${restoreBaseline.stderr}`);
      console.info(
        `${'pg_restore -d from the local -Fc file'.padEnd(40)} ${secs(restoreBaseline.ms).padStart(7)}  ${rate(databaseBytes, restoreBaseline.ms)}${cpu(restoreBaseline)}`,
      );
      const restoreSpec: JobSpec = {
        kind: 'restore',
        operationId: `bench-restore-${sizeId(gb)}`,
        projectId: 'bench',
        addonId: 'bench',
        backupId: `bench-${sizeId(gb)}`,
        engine: 'postgresql',
        artifact: { bucket: BUCKET, key: artifact.key },
        compression: 'zstd',
        expectedSha256: artifact.sha256,
      };
      const restore = await best(RUNS, async () => {
        await emptyDatabase('restore_job');
        return run(process.execPath, [join(bundle, 'restore.mjs')], jobEnv(restoreFile, s3, restoreSpec));
      });
      if (restore.code !== 0) throw new Error(`restore job failed: ${JSON.stringify(restore.lines.at(-1))}`);
      const restoreRatio = restoreBaseline.ms / restore.ms;
      const restoreRss = jobRss(restore);
      console.info(
        `${'restore job: s3rver -> zstd -d -> psql'.padEnd(40)} ${secs(restore.ms).padStart(7)}  ${rate(databaseBytes, restore.ms)}${cpu(restore)}` +
          `  ratio ${restoreRatio.toFixed(2)}, goal >= ${RESTORE_GOAL}: ${check(restoreRatio >= RESTORE_GOAL, `restore ratio ${gb} GB`)}` +
          `; peak RSS node ${mb(restoreRss)}${tree(restore)}`,
      );
      const [source, restored] = await Promise.all([
        contents(postgres, 'bench'),
        contents(postgres, 'restore_job'),
      ]);
      console.info(`restored: ${restored} (source: ${source})`);
      if (source !== restored) throw new Error('the restored database differs from the source');
      rssBySize.push({ gb, dump: dumpRss, restore: restoreRss });
      for (const compression of compressions) {
        const key = `bench/${gb}gb.dump.${compression === 'zstd' ? 'zst' : 'gz'}`;
        await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
        await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${key}.result.json` }));
      }
    } finally {
      await postgres.stop();
      await rm(localDump, { force: true });
    }
  }

  console.info('\n--- peak RSS of the job processes -------------------------------------');
  for (const { gb, dump, restore } of rssBySize) {
    console.info(
      `${String(gb).padStart(3)} GB: dump ${mb(dump)}  restore ${mb(restore)}` +
        `  goal < ${mb(RSS_GOAL_BYTES)}: ${check(dump < RSS_GOAL_BYTES && restore < RSS_GOAL_BYTES, `RSS at ${gb} GB`)}`,
    );
  }
  const first = rssBySize[0];
  const last = rssBySize.at(-1);
  if (first && last && last !== first) {
    // Flat: the largest size may not use more than 25% (or 20 MB) over the smallest.
    const flat = (a: number, b: number) => b <= Math.max(a * 1.25, a + 20 * 1024 ** 2);
    const ok = flat(first.dump, last.dump) && flat(first.restore, last.restore);
    console.info(`RSS flat from ${first.gb} GB to ${last.gb} GB: ${check(ok, 'RSS grows with size')}`);
  }
};

await runJobBench(
  'bench-dump-',
  `dump/restore jobs, sizes ${SIZES_GB.join(', ')} GB, best of ${RUNS} run(s); ratio = baseline time / job time;` +
    ` cpu = user + system seconds of the client process tree${hasTime ? ' (/usr/bin/time -v)' : ' (unavailable)'}`,
  runBench,
);
