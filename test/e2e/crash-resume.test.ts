import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  assertRecovered as recovered,
  startCrashablePlatformWithAddon,
} from '../support/crashable-platform.ts';
import { pollUntil } from '../support/http.ts';
import { type Api, backUpAndWait } from '../support/operations.ts';

/**
 * The platform SIGKILLed while a dump backup, a dump restore or a snapshot restore is in
 * progress, then started again on the same data directory: the operation ends completed or
 * failed, the addon is running and unlocked, a new backup is accepted, and the data is either
 * the backup's or exactly what it was before. Each test has its own platform and addon.
 */
const TOKEN = 'e2e-crash-token-0123456789';
const PROJECT = 'crash';

const connect = async (uri: string) => {
  const connection = new pg.Client({ connectionString: uri, connectionTimeoutMillis: 5_000 });
  connection.on('error', () => undefined); // the restart drops it
  await connection.connect();
  return connection;
};

const sql = async (uri: string, text: string) => {
  const connection = await connect(uri);
  try {
    return (await connection.query(text)).rows;
  } finally {
    await connection.end().catch(() => undefined);
  }
};

/** A checksum of every table in the public schema. */
const fingerprint = async (uri: string) => {
  const tables = (
    await sql(uri, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
  ).map((row) => row.tablename as string);
  const sums: Record<string, string> = {};
  for (const table of tables) {
    const [row] = await sql(
      uri,
      `SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS sum FROM "${table}" t`,
    );
    sums[table] = row?.sum;
  }
  return sums;
};

const operationOf = (api: Api, operationId: string) =>
  api('GET', `/v1/projects/${PROJECT}/operations/${operationId}`).then((response) => response.body);

/** A platform on its own data directory with one PostgreSQL addon holding `rows` rows. */
const startWithAddon = async (rows: number) => {
  const { credentials, ...addon } = await startCrashablePlatformWithAddon<{ uri: string }>({
    token: TOKEN,
    project: PROJECT,
    engine: 'postgresql',
    dataDirPrefix: 'addons-e2e-crash-',
  });
  const { uri } = credentials;
  await sql(uri, 'CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)');
  await sql(
    uri,
    `INSERT INTO accounts SELECT g, md5(g::text) || md5((g * 7)::text), g * 10.5 FROM generate_series(1, ${rows}) g`,
  );
  return { ...addon, uri };
};

const backUp = async (api: Api, base: string, body: Record<string, unknown>) => {
  const { backupId, operation } = await backUpAndWait(api, PROJECT, base, body);
  expect(operation).toMatchObject({ status: 'completed', error: null });
  return backupId;
};

const mutate = async (uri: string) => {
  await sql(uri, 'UPDATE accounts SET balance = -1 WHERE id % 3 = 0');
  await sql(uri, 'CREATE TABLE written_after_backup (id int)');
  await sql(uri, 'INSERT INTO written_after_backup VALUES (1)');
};

/**
 * Hold a lock the job needs (pg_dump and the restore's DROP wait for it): the operation is then
 * certainly in progress when the platform is killed. The platform's restart restarts the server,
 * which ends this session and its lock.
 */
const blockTable = async (uri: string) => {
  const blocker = await connect(uri);
  await blocker.query('BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE');
  onTestFinished(() => blocker.end().catch(() => undefined));
  return blocker;
};

const waitForJobWaitingOnLock = (uri: string, application: string) =>
  pollUntil(
    () =>
      sql(
        uri,
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = '${application}' AND wait_event_type = 'Lock'`,
      ),
    (rows) => rows[0]?.n > 0,
    { what: `${application} to wait on the lock`, timeoutMs: 60_000 },
  );

const assertRecovered = (api: Api, base: string, operationId: string) =>
  recovered(api, PROJECT, base, operationId);

describe('a crash during a backup or a restore, then a restart', () => {
  it('dump backup: the backup ends completed or failed, and the addon takes backups again', async () => {
    const addon = await startWithAddon(20_000);
    await blockTable(addon.uri);
    const started = await addon.api()('POST', `${addon.base}/backups`, {
      body: { type: 'dump', compression: 'zstd' },
    });
    expect(started.status).toBe(202);
    await waitForJobWaitingOnLock(addon.uri, 'addons-dump');
    expect((await operationOf(addon.api(), started.body.operation.id)).status).toBe('in-progress');

    const api = await addon.crashAndRestart();

    const operation = await assertRecovered(api, addon.base, started.body.operation.id);
    const backup = (await api('GET', `${addon.base}/backups/${started.body.backup.id}`)).body;
    expect(backup.status).toBe(operation.status);
    if (backup.status === 'completed') expect(backup.sha256).toMatch(/^[0-9a-f]{64}$/);
  }, 300_000);

  it('dump restore: the data is the backup’s or exactly what it was before', async () => {
    const addon = await startWithAddon(20_000);
    const atBackup = await fingerprint(addon.uri);
    const backupId = await backUp(addon.api(), addon.base, { type: 'dump', compression: 'zstd' });
    await mutate(addon.uri);
    const before = await fingerprint(addon.uri);
    await blockTable(addon.uri);
    const started = await addon.api()('POST', `${addon.base}/backups/${backupId}/restore`);
    expect(started.status).toBe(202);
    await waitForJobWaitingOnLock(addon.uri, 'addons-restore');

    const api = await addon.crashAndRestart();

    const operation = await assertRecovered(api, addon.base, started.body.operation.id);
    const after = await fingerprint(addon.uri);
    expect(after).toEqual(operation.status === 'completed' ? atBackup : before);
  }, 300_000);

  it('snapshot restore: the data is the snapshot’s or exactly what it was before', async () => {
    const addon = await startWithAddon(400_000);
    const atBackup = await fingerprint(addon.uri);
    const backupId = await backUp(addon.api(), addon.base, { type: 'snapshot' });
    await mutate(addon.uri);
    const before = await fingerprint(addon.uri);
    const started = await addon.api()('POST', `${addon.base}/backups/${backupId}/restore`);
    expect(started.status).toBe(202);
    await pollUntil(
      () => operationOf(addon.api(), started.body.operation.id),
      (operation) => operation.progress.step === 'restoring-snapshot' || operation.status !== 'pending',
      { what: 'the restore to start', timeoutMs: 60_000, intervalMs: 10 },
    );

    const api = await addon.crashAndRestart();

    const operation = await assertRecovered(api, addon.base, started.body.operation.id);
    const after = await fingerprint(addon.uri);
    expect(after).toEqual(operation.status === 'completed' ? atBackup : before);
  }, 300_000);
});
