import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removePlatformData } from '../support/data-dir.ts';
import { client, pollUntil } from '../support/http.ts';
import { backUpAndWait, operationEnded } from '../support/operations.ts';
import { pgFingerprint, pgQuery } from '../support/pg-fingerprint.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * Backups that restore: real PostgreSQL, real pg_dump/pg_restore, the S3 emulator, over HTTP.
 * The schedule clock runs at 10 hours per second so that schedules fire and retention expires
 * within the test instead of after hours.
 */
const TOKEN = 'e2e-backups-token-0123456789';
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;
let uri: string;
let addonId: string;
const base = () => `/v1/projects/bk/addons/${addonId}`;

const sql = (text: string) => pgQuery(uri, text);

/** A checksum of every table in the public schema, and the list of tables (its keys). */
const fingerprint = () => pgFingerprint(uri);

const waitForOperation = (operationId: string) => operationEnded(api, 'bk', operationId);

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-backups-'));
  platform = await startPlatformProcess({
    ADDONS_DATA_DIR: dataDir,
    ADDONS_TOKEN: TOKEN,
    ADDONS_CLOCK_SPEED: '36000',
    ADDONS_SCHEDULER_TICK_MS: '250',
  });
  api = client(platform.url, TOKEN);
  const created = await api('POST', '/v1/projects/bk/addons', {
    body: { name: 'ledger', engine: 'postgresql' },
  });
  addonId = created.body.addon.id;
  expect((await waitForOperation(created.body.operation.id)).status).toBe('completed');
  uri = (await api('GET', `${base()}/credentials`)).body.uri;
  await sql('CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)');
  await sql("INSERT INTO accounts SELECT g, 'owner ' || g, g * 10.5 FROM generate_series(1, 5000) g");
  await sql(
    'CREATE TABLE entries (id bigserial PRIMARY KEY, account int REFERENCES accounts, amount numeric, note text)',
  );
  await sql(
    "INSERT INTO entries (account, amount, note) SELECT 1 + g % 5000, g, repeat('x', g % 50) FROM generate_series(1, 20000) g",
  );
}, 120_000);

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await removePlatformData(dataDir);
});

const backUp = async (body: Record<string, unknown>) => {
  const { backupId, operation } = await backUpAndWait(api, 'bk', base(), body);
  expect(operation.error).toBeNull();
  return (await api('GET', `${base()}/backups/${backupId}`)).body;
};

const restore = async (backupId: string) => {
  const response = await api('POST', `${base()}/backups/${backupId}/restore`);
  expect(response.status).toBe(202);
  const operation = await waitForOperation(response.body.operation.id);
  expect(operation).toMatchObject({ status: 'completed', error: null });
  expect((await api('GET', base())).body).toMatchObject({ status: 'running', currentOperationId: null });
};

const mutate = async () => {
  await sql('UPDATE accounts SET balance = 0 WHERE id % 3 = 0');
  await sql('DELETE FROM entries WHERE id % 2 = 0');
  await sql('DROP TABLE entries');
  await sql('CREATE TABLE created_after_backup (id int)');
  await sql('INSERT INTO created_after_backup VALUES (1)');
};

describe('PostgreSQL backups on the local target', () => {
  let atBackup: Record<string, string>;
  let dump: { id: string; sha256: string; sizeBytes: number };
  let snapshot: { id: string };

  it('takes a zstd dump with its size, engine version and SHA-256 recorded', async () => {
    atBackup = await fingerprint();
    dump = await backUp({ type: 'dump', compression: 'zstd' });
    expect(dump).toMatchObject({
      status: 'completed',
      type: 'dump',
      compression: 'zstd',
      engineVersion: '15',
      source: 'manual',
    });
    expect(dump.sizeBytes).toBeGreaterThan(1000);
    expect(dump.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('serves the dump through a short-lived link: the SHA-256 matches and pg_restore reads it', async () => {
    const link = await api('POST', `${base()}/backups/${dump.id}/download`);
    expect(link.status).toBe(200);
    expect(Date.parse(link.body.expiresAt)).toBeGreaterThan(Date.now());
    const file = Buffer.from(await (await fetch(link.body.url)).arrayBuffer());
    expect(file.length).toBe(dump.sizeBytes);
    expect(createHash('sha256').update(file).digest('hex')).toBe(dump.sha256);
    const path = join(dataDir, 'download.dump.zst');
    await writeFile(path, file);
    const decompressed = spawnSync('zstd', ['-dc', path], { maxBuffer: 1 << 30 });
    expect(decompressed.status).toBe(0);
    const list = spawnSync('pg_restore', ['--list'], { input: decompressed.stdout, maxBuffer: 1 << 30 });
    expect(list.stderr.toString()).toBe('');
    expect(list.stdout.toString()).toMatch(/TABLE public accounts/);
  });

  it('takes a snapshot, which cannot be downloaded', async () => {
    snapshot = await backUp({ type: 'snapshot' });
    expect(snapshot).toMatchObject({
      status: 'completed',
      type: 'snapshot',
      compression: null,
      sha256: null,
    });
    expect((await api('POST', `${base()}/backups/${snapshot.id}/download`)).status).toBe(422);
  });

  it('restores the dump: every table is exactly as it was at backup time', async () => {
    await mutate();
    expect(await fingerprint()).not.toEqual(atBackup);
    await restore(dump.id);
    expect(await fingerprint()).toEqual(atBackup);
  });

  it('restores the snapshot, and the same snapshot again later: each time the data is as at snapshot time', async () => {
    await mutate();
    await restore(snapshot.id);
    expect(await fingerprint()).toEqual(atBackup);
    await mutate();
    await restore(snapshot.id);
    expect(await fingerprint()).toEqual(atBackup);
  }, 120_000);

  it('takes a gzip dump too, and lists backups newest first', async () => {
    const gzip = await backUp({ type: 'dump', compression: 'gzip' });
    expect(gzip.compression).toBe('gzip');
    const list = await api('GET', `${base()}/backups?limit=10`);
    expect(list.body.items.map((b: { id: string }) => b.id).slice(0, 3)).toEqual([
      gzip.id,
      snapshot.id,
      dump.id,
    ]);
  });

  it('fires a schedule, skips runs that overlap, and retention deletes the expired backups only', async () => {
    const created = await api('POST', `${base()}/backup-schedules`, {
      body: { interval: 'hourly', minutes: [0], retentionDays: 1, type: 'dump', compression: 'zstd' },
    });
    expect(created.status).toBe(201);
    const scheduleId = created.body.id;
    // At 10 hours per second the schedule fires every tick; a dump takes longer, so some runs are skipped.
    const scheduled = await pollUntil(
      () => api('GET', `${base()}/backups?limit=100`),
      (response) =>
        response.body.items.some(
          (b: { source: string; status: string }) => b.source === 'schedule' && b.status === 'completed',
        ),
      { what: 'a completed scheduled backup', timeoutMs: 60_000 },
    );
    const first = scheduled.body.items.find(
      (b: { source: string; status: string }) => b.source === 'schedule' && b.status === 'completed',
    );
    expect(first.scheduleId).toBe(scheduleId);
    expect(first.expiresAt).not.toBeNull();
    await pollUntil(
      () => api('GET', `${base()}/backup-schedules`),
      (response) => response.body.items[0]?.lastRun?.outcome === 'skipped',
      { what: 'a skipped run', timeoutMs: 60_000 },
    );
    // A day of retention passes in 2.4 s: the scheduled backup goes, record and data.
    await pollUntil(
      () => api('GET', `${base()}/backups/${first.id}`),
      (response) => response.status === 404,
      { what: 'retention to delete the scheduled backup', timeoutMs: 60_000 },
    );
    // An update takes any subset and answers the whole schedule, validated as a whole.
    const updated = await api('PATCH', `${base()}/backup-schedules/${scheduleId}`, {
      body: { interval: 'daily', hours: [3], enabled: false },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      id: scheduleId,
      interval: 'daily',
      hours: [3],
      minutes: [0],
      enabled: false,
    });
    expect((await api('DELETE', `${base()}/backup-schedules/${scheduleId}`)).status).toBe(204);
    // Manual backups have no expiry and are still there.
    expect((await api('GET', `${base()}/backups/${dump.id}`)).status).toBe(200);
  });
});
