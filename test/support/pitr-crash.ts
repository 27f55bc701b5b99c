import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { resourceIdFor } from '#shared/ports/engine-provider.ts';
import { startCrashablePlatformWithAddon } from './crashable-platform.ts';
import { pollUntil } from './http.ts';
import { pgFingerprint, pgQuery } from './pg-fingerprint.ts';
import { firstWindow, PITR_TEST_ENV, pointInTimeNow, windowReaching } from './pitr.ts';

/**
 * For the crash tests of local point-in-time recovery: a crashable platform with an archived
 * PostgreSQL addon and a point in time between two writes, kill points read from the instance's
 * files (instance.json, the recovery server's postmaster.pid), and what must be left afterwards.
 */

export const PITR_CRASH_TOKEN = 'e2e-pitr-crash-token-0123456789';
export const PITR_CRASH_PROJECT = 'pitrcrash';

/** What instance.json says of a restore (infra/local/engines/driver.ts RestoreRecord). */
export interface RestoreOnDisk {
  state: 'restoring' | 'available' | 'failed';
  phase?: 'preparing' | 'switched';
  dataDir?: string;
}

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

export const recordOf = async (instanceDir: string) =>
  JSON.parse(await readFile(join(instanceDir, 'instance.json'), 'utf8')) as {
    dataDir?: string;
    restore?: RestoreOnDisk;
  };

/** The `-D` of every live process whose command line names a directory inside `instanceDir`. */
export const serversIn = async (instanceDir: string): Promise<string[]> => {
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
export const startWithPointInTime = async () => {
  const addon = await startCrashablePlatformWithAddon<{ uri: string; password: string }>({
    token: PITR_CRASH_TOKEN,
    project: PITR_CRASH_PROJECT,
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

export type PitrCrashAddon = Awaited<ReturnType<typeof startWithPointInTime>>;

/**
 * Poll instance.json of `instanceDir` (every 10 ms) until its restore is at the kill point, and
 * fail if the restore got past it unseen.
 */
export const untilKillPoint = async (
  instanceDir: string,
  reached: (restore: RestoreOnDisk) => Promise<boolean>,
) => {
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
export const recoveryServerRunning = (instanceDir: string) => async (restore: RestoreOnDisk) =>
  restore.phase === 'preparing' &&
  restore.dataDir !== undefined &&
  (await exists(join(instanceDir, restore.dataDir, 'postmaster.pid')));

/** No staging directory, only the data directory in use, and the servers running are `servers`. */
export const assertNothingLeft = async (instanceDir: string, servers: 'its own' | 'none') => {
  const record = await recordOf(instanceDir);
  const names = await readdir(instanceDir);
  expect(names, 'a recovery staging directory was left').not.toContain('pitr-staging');
  expect(names.filter((name) => /^data(-[0-9a-z]+)?$/.test(name))).toEqual([record.dataDir || 'data']);
  expect(await serversIn(instanceDir)).toEqual(
    servers === 'none' ? [] : [join(instanceDir, record.dataDir || 'data')],
  );
  return record;
};
