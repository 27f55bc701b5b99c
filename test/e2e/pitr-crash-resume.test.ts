import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCapability } from '#shared/catalog/engines.ts';
import { assertRecovered } from '../support/crashable-platform.ts';
import { pgFingerprint } from '../support/pg-fingerprint.ts';
import {
  type PitrCrashAddon as Addon,
  assertNothingLeft,
  PITR_CRASH_PROJECT as PROJECT,
  type RestoreOnDisk,
  recoveryServerRunning,
  serversIn,
  startWithPointInTime,
  untilKillPoint,
} from '../support/pitr-crash.ts';

/**
 * The platform SIGKILLed during a local point-in-time restore in place, then started again on the
 * same data directory: killed while the private recovery server replays WAL into the staging copy
 * (and once more with the archive lost while the platform is down, so the restore cannot be taken
 * up again), or after the data directory switch began (the addon's server stopped, the recovered
 * copy being started). Nothing is stuck (the operation ends completed or failed with a reason,
 * the addon is running, unlocked and takes backups), nothing is lost (the data is the point in
 * time's, or exactly what it was before), and nothing is left over (no staging or second data
 * directory, no server but the addon's own). pitr-fork-crash-resume.test.ts does the same to a
 * fork from a point in time.
 *
 * It runs where the local catalog offers `pitr` for PostgreSQL (WAL archiving needs pg_waldump).
 */
const LOCAL_PITR = hasCapability('postgresql', 'local', 'pitr');

/** POST the restore in place and wait until it is at the kill point; its operation id. */
const restoreUntil = async (addon: Addon, reached: (restore: RestoreOnDisk) => Promise<boolean>) => {
  const started = await addon.api()('POST', `${addon.base}/restore`, { body: { pointInTime: addon.time } });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  await untilKillPoint(addon.instanceDir, reached);
  return started.body.operation.id as string;
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
});
