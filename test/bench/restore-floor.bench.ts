/**
 * Issue 13: the floor of a PostgreSQL restore's pipeline, tool by tool, on the local target's
 * server: pg_restore -d of a local file, of the job's uncompressed archive, the same through
 * zstd -d on stdin, and the script path (pg_restore -f - | psql) the job's direct load uses.
 * BENCH_FLOOR_DATASET=pgbench (default, pgbench -s 18) or fixture (the dump fixture, 0.25 GB).
 */
import '#shared/util/polyfills.ts';
import { join } from 'node:path';
import { inspectServer, libpqEnv, resolvePgTool } from '#shared/jobs/postgresql/postgres.ts';
import type { Credentials } from '#shared/schemas/addon.ts';
import { loadAverage, rate, run, secs } from './support/measure.ts';
import { analyzedSize, connectTo, loadDumpFixture, serverCpu } from './support/pg-fixture.ts';
import { provisionAddon, startBenchPlatform } from './support/platform.ts';

const DATASET = process.env.BENCH_FLOOR_DATASET ?? 'pgbench';
const ROUNDS = Math.max(1, Number(process.env.BENCH_FLOOR_ROUNDS ?? 1));

const main = async () => {
  const platform = await startBenchPlatform('bench-restore-floor-');
  try {
    const { credentials } = await provisionAddon<Credentials>(platform, 'bench', 'postgresql');
    const connect = () => connectTo(credentials);
    const env = { ...libpqEnv(credentials, 'bench'), PATH: process.env.PATH ?? '/usr/bin:/bin' };
    const major = Number((await inspectServer(credentials, 'bench')).major);
    const bin = (await resolvePgTool('pg_restore', major)).path.replace(/\/pg_restore$/, '');
    const bytes =
      DATASET === 'fixture'
        ? await loadDumpFixture(connect, 0.25)
        : await (async () => {
            const init = await run('/usr/bin/pgbench', ['-i', '-q', '-s', '18'], env);
            if (init.code !== 0) throw new Error(init.stderr);
            return analyzedSize(await connect());
          })();
    const dir = platform.dataDir;
    const [fc, raw, zst] = ['fc.dump', 'raw.dump', 'raw.dump.zst'].map((name) => join(dir, name));
    const sh = (script: string) => run('/bin/bash', ['-o', 'pipefail', '-c', script], env);
    for (const script of [
      `${bin}/pg_dump -Fc > ${fc}`,
      `${bin}/pg_dump -Fc -Z0 > ${raw}`,
      `zstd -q -1 -T1 ${raw} -o ${zst}`,
      `${bin}/pg_restore --format=custom --file=- --single-transaction --no-owner --no-acl --clean --if-exists ${raw} > ${join(dir, 'script.sql')}`,
    ]) {
      const result = await sh(script);
      if (result.code !== 0) throw new Error(`${script}: ${result.stderr}`);
    }
    const emptyDatabase = async () => {
      const client = await connect();
      await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public').finally(() => client.end());
    };
    const restoreArgs = '--single-transaction --no-owner --no-acl';
    const scriptArgs = `--format=custom --file=- ${restoreArgs} --clean --if-exists`;
    const psql = `${bin}/psql -X -q -v ON_ERROR_STOP=1 --no-password`;
    const variants: Array<[string, string]> = [
      [
        'pg_restore -d fc.dump (the bench baseline)',
        `${bin}/pg_restore ${restoreArgs} -d "$PGDATABASE" ${fc}`,
      ],
      ['pg_restore -d raw.dump (-Z0)', `${bin}/pg_restore ${restoreArgs} -d "$PGDATABASE" ${raw}`],
      ['zstd -d | pg_restore -d', `zstd -d -q -c ${zst} | ${bin}/pg_restore ${restoreArgs} -d "$PGDATABASE"`],
      ['pg_restore -f - raw.dump | psql', `${bin}/pg_restore ${scriptArgs} ${raw} | ${psql}`],
      [
        'zstd -d | pg_restore -f - | psql',
        `zstd -d -q -c ${zst} | ${bin}/pg_restore ${scriptArgs} | ${psql}`,
      ],
      ['psql -f script.sql', `${psql} -f ${join(dir, 'script.sql')}`],
      ['cat script.sql | psql', `cat ${join(dir, 'script.sql')} | ${psql}`],
      ['zstd -d > /dev/null', `zstd -d -q -c ${zst} > /dev/null`],
      ['pg_restore -f - raw.dump > /dev/null', `${bin}/pg_restore ${scriptArgs} ${raw} > /dev/null`],
      ['sha256sum raw.dump.zst', `sha256sum ${zst}`],
    ];
    const cpuOfServer = await serverCpu(connect);
    console.info(`${DATASET}: database ${(bytes / 1024 ** 2).toFixed(0)} MB; load ${await loadAverage()}`);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [what, script] of variants) {
        await emptyDatabase();
        const cpuBefore = await cpuOfServer();
        const result = await sh(script);
        const server = (await cpuOfServer()) - cpuBefore;
        if (result.code !== 0) throw new Error(`${what}: ${result.stderr}`);
        console.info(
          `${what.padEnd(44)} ${secs(result.ms).padStart(7)} ${rate(bytes, result.ms).padStart(9)}  client CPU ${result.cpuSeconds?.toFixed(1)} s, server CPU ${server.toFixed(1)} s`,
        );
      }
      console.info(`load ${await loadAverage()}`);
    }
  } finally {
    await platform.stop();
  }
};

await main();
