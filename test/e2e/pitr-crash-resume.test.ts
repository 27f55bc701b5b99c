import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCapability } from '#shared/catalog/engines.ts';
import { resourceIdFor } from '#shared/ports/engine-provider.ts';
import { assertRecovered, startCrashablePlatformWithAddon } from '../support/crashable-platform.ts';
import { pollUntil } from '../support/http.ts';
import { operationEnded } from '../support/operations.ts';
import { pgFingerprint, pgQuery } from '../support/pg-fingerprint.ts';
import { firstWindow, PITR_TEST_ENV, pointInTimeNow, windowReaching } from '../support/pitr.ts';

/**
 * The platform SIGKILLed during a local point-in-time recovery, then started again on the same
 * data directory: a restore in place killed while the private recovery server replays WAL into
 * the staging copy (and once more with the archive lost while the platform is down, so the
 * restore cannot be taken up again), or after the data directory switch began (the addon's server
 * stopped, the recovered copy being started); and a fork from a point in time killed while its
 * recovery server runs. Nothing is stuck (the operation ends completed or failed with a reason,
 * the addon is running, unlocked and takes backups), nothing is lost (the data is the point in
 * time's, or exactly what it was before), and nothing is left over (no staging or second data
 * directory, no server but the addon's own).
 *
 * It runs where the local catalog offers `pitr` for PostgreSQL (WAL archiving needs pg_waldump).
 */
const LOCAL_PITR = hasCapability('postgresql', 'local', 'pitr');

const TOKEN = 'e2e-pitr-crash-token-0123456789';
const PROJECT = 'pitrcrash';

/** What instance.json says of a restore (infra/local/engines/driver.ts RestoreRecord). */
interface RestoreOnDisk {
  state: 'restoring' | 'available' | 'failed';
  phase?: 'preparing' | 'switched';
  dataDir?: string;
}

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

const recordOf = async (instanceDir: string) =>
  JSON.parse(await readFile(join(instanceDir, 'instance.json'), 'utf8')) as {
    dataDir?: string;
    restore?: RestoreOnDisk;
  };

/** The `-D` of every live process whose command line names a directory inside `instanceDir`. */
const serversIn = async (instanceDir: string): Promise<string[]> => {
  const dirs: string[] = [];
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const dataDir = argv[argv.indexOf('-D') + 1];
    if (argv.includes('-D') && dataDir?.startsWith(`${instanceDir}/`)) dirs.push(dataDir);
  }
  return dirs;
};

/**
 * A platform with one PostgreSQL addon whose archive covers a point in time between two writes;
 * enough WAL since its base backup that recovering to it takes the recovery server a moment.
 */
const startWithPointInTime = async () => {
  const addon = await startCrashablePlatformWithAddon<{ uri: string; password: string }>({
    token: TOKEN,
    project: PROJECT,
    engine: 'postgresql',
    dataDirPrefix: 'addons-e2e-pitr-crash-',
    env: PITR_TEST_ENV,
  });
  const { uri } = addon.credentials;
  const instanceDir = join(addon.dataDir, 'engines', resourceIdFor(addon.base.split('/').at(-1) as string));
  await pgQuery(uri, 'CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)');
  await firstWindow(addon.api(), addon.base, uri);
  await pgQuery(
    uri,
    'INSERT INTO accounts SELECT g, md5(g::text) || md5((g * 7)::text), g * 10.5 FROM generate_series(1, 300000) g',
  );
  const atTime = await pgFingerprint(uri);
  const time = await pointInTimeNow();
  await pgQuery(uri, 'UPDATE accounts SET balance = -1 WHERE id % 3 = 0');
  await pgQuery(uri, 'CREATE TABLE written_after_time (id int)');
  const before = await pgFingerprint(uri);
  await windowReaching(addon.api(), addon.base, time);
  return { ...addon, uri, instanceDir, time, atTime, before };
};

type Addon = Awaited<ReturnType<typeof startWithPointInTime>>;

/**
 * Poll instance.json of `instanceDir` (every 10 ms) until its restore is at the kill point, and
 * fail if the restore got past it unseen.
 */
const untilKillPoint = async (instanceDir: string, reached: (restore: RestoreOnDisk) => Promise<boolean>) => {
  const seen = await pollUntil(
    async () => {
      const restore = (await recordOf(instanceDir).catch(() => undefined))?.restore;
      return { restore, reached: restore?.state === 'restoring' && (await reached(restore)) };
    },
    (probe) => probe.reached || (probe.restore !== undefined && probe.restore.state !== 'restoring'),
    { what: 'the restore to reach the kill point', timeoutMs: 180_000, intervalMs: 10 },
  );
  expect(seen, 'the restore passed the kill point before it was seen').toMatchObject({ reached: true });
};

/** The private recovery server is running on the restore's staging copy (it replays WAL). */
const recoveryServerRunning = (instanceDir: string) => async (restore: RestoreOnDisk) =>
  restore.phase === 'preparing' &&
  restore.dataDir !== undefined &&
  (await exists(join(instanceDir, restore.dataDir, 'postmaster.pid')));

/** POST the restore in place and wait until it is at the kill point; its operation id. */
const restoreUntil = async (addon: Addon, reached: (restore: RestoreOnDisk) => Promise<boolean>) => {
  const started = await addon.api()('POST', `${addon.base}/restore`, { body: { pointInTime: addon.time } });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  await untilKillPoint(addon.instanceDir, reached);
  return started.body.operation.id as string;
};

/** No staging directory, only the data directory in use, and the servers running are `servers`. */
const assertNothingLeft = async (instanceDir: string, servers: 'its own' | 'none') => {
  const record = await recordOf(instanceDir);
  const names = await readdir(instanceDir);
  expect(names, 'a recovery staging directory was left').not.toContain('pitr-staging');
  expect(names.filter((name) => /^data(-[0-9a-z]+)?$/.test(name))).toEqual([record.dataDir || 'data']);
  expect(await serversIn(instanceDir)).toEqual(
    servers === 'none' ? [] : [join(instanceDir, record.dataDir || 'data')],
  );
  return record;
};

/** After the restart: nothing stuck, nothing lost, nothing left over. */
const assertNothingStuckLostOrLeft = async (addon: Addon, operationId: string) => {
  const api = addon.api();
  const operation = await assertRecovered(api, PROJECT, addon.base, operationId);
  if (operation.status === 'failed') expect(operation.error?.message).toBeTruthy();
  else expect(operation).toMatchObject({ status: 'completed', error: null, pointInTime: addon.time });
  expect(await pgFingerprint(addon.uri)).toEqual(
    operation.status === 'completed' ? addon.atTime : addon.before,
  );

  const record = await assertNothingLeft(addon.instanceDir, 'its own');
  expect(record.restore?.state).toBe(operation.status === 'completed' ? 'available' : 'failed');
  return operation;
};

describe.skipIf(!LOCAL_PITR)('a crash during a local point-in-time restore, then a restart', () => {
  it('killed while the recovery server replays WAL: the point in time’s data or the data of before', async () => {
    const addon = await startWithPointInTime();
    const operationId = await restoreUntil(addon, recoveryServerRunning(addon.instanceDir));
    // The recovery server runs on the staging copy, the addon's own server next to it.
    expect((await serversIn(addon.instanceDir)).length).toBe(2);

    await addon.crashAndRestart();

    await assertNothingStuckLostOrLeft(addon, operationId);
  }, 600_000);

  it('killed while the recovery server replays WAL, the archive lost meanwhile: failed, the data of before, nothing left', async () => {
    const addon = await startWithPointInTime();
    const operationId = await restoreUntil(addon, recoveryServerRunning(addon.instanceDir));
    await addon.crash();
    // While the platform is down, the addon's archive goes (as retention or an operator would
    // remove it): the restore cannot be taken up again and must fail, leaving the addon as it was.
    const resourceId = addon.instanceDir.split('/').at(-1) as string;
    await rm(join(addon.dataDir, 's3', 'addons-backups', 'pitr', resourceId), { recursive: true });
    await addon.restart();

    const operation = await assertNothingStuckLostOrLeft(addon, operationId);
    expect(operation.status).toBe('failed');
  }, 600_000);

  it('killed after the data directory switch began: the point in time’s data or the data of before', async () => {
    const addon = await startWithPointInTime();
    const operationId = await restoreUntil(addon, async (restore) => restore.phase === 'switched');

    await addon.crashAndRestart();

    await assertNothingStuckLostOrLeft(addon, operationId);
  }, 600_000);

  it('killed while a fork from a point in time is being seeded: the fork completes with that data or fails with nothing running', async () => {
    const source = await startWithPointInTime();
    const sourceId = source.base.split('/').at(-1) as string;
    const started = await source.api()('POST', `/v1/projects/${PROJECT}/addons`, {
      body: {
        name: 'ledger-fork',
        engine: 'postgresql',
        source: { addonId: sourceId, pointInTime: source.time },
      },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const forkId = started.body.addon.id as string;
    const forkBase = `/v1/projects/${PROJECT}/addons/${forkId}`;
    const forkDir = join(source.dataDir, 'engines', resourceIdFor(forkId));
    await untilKillPoint(forkDir, recoveryServerRunning(forkDir));

    const api = await source.crashAndRestart();

    const operation = await operationEnded(api, PROJECT, started.body.operation.id, 300_000);
    expect(['completed', 'failed']).toContain(operation.status);
    const fork = (await api('GET', forkBase)).body;
    if (operation.status === 'completed') {
      expect(fork).toMatchObject({ status: 'running', currentOperationId: null });
      const credentials = (await api('GET', `${forkBase}/credentials`)).body;
      expect(credentials.password).not.toBe(source.credentials.password);
      expect(await pgFingerprint(credentials.uri)).toEqual(source.atTime);
      await assertNothingLeft(forkDir, 'its own');
    } else {
      expect(operation.error?.message).toBeTruthy();
      expect(fork).toMatchObject({ status: 'failed', currentOperationId: null, endpoint: null });
      expect(await serversIn(forkDir)).toEqual([]);
      expect(await readdir(forkDir).catch(() => [])).not.toContain('pitr-staging');
    }
    // The source is running, unlocked and untouched, and takes backups again.
    await assertRecovered(api, PROJECT, source.base, started.body.operation.id);
    expect(await pgFingerprint(source.uri)).toEqual(source.before);
  }, 600_000);
});
