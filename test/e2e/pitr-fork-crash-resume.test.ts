import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCapability } from '#shared/catalog/engines.ts';
import { resourceIdFor } from '#shared/ports/engine-provider.ts';
import { assertRecovered } from '../support/crashable-platform.ts';
import { operationEnded } from '../support/operations.ts';
import { pgFingerprint } from '../support/pg-fingerprint.ts';
import {
  assertNothingLeft,
  PITR_CRASH_PROJECT as PROJECT,
  recoveryServerRunning,
  serversIn,
  startWithPointInTime,
  untilKillPoint,
} from '../support/pitr-crash.ts';

/**
 * The platform SIGKILLed while a fork from a point in time is being seeded (its private recovery
 * server replays the source's WAL into the fork's instance), then started again on the same data
 * directory: the fork's create ends completed (the point in time's data, its own password,
 * nothing left over) or failed (nothing of the fork running); the source is untouched either way.
 *
 * It runs where the local catalog offers `pitr` for PostgreSQL (WAL archiving needs pg_waldump).
 */
const LOCAL_PITR = hasCapability('postgresql', 'local', 'pitr');

describe.skipIf(!LOCAL_PITR)('a crash while a fork from a point in time is seeded, then a restart', () => {
  it('ends the fork completed with the point in time’s data, or failed with nothing of it running', async () => {
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
