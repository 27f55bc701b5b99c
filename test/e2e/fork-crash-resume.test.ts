import { describe, expect, it } from 'vitest';
import { startCrashablePlatformWithAddon } from '../support/crashable-platform.ts';
import { isListening, pollUntil } from '../support/http.ts';
import { backUpAndWait, operationEnded } from '../support/operations.ts';
import { pgFingerprint, pgQuery } from '../support/pg-fingerprint.ts';

/**
 * The platform SIGKILLed while a fork is being seeded from a snapshot (real PostgreSQL), then
 * started again on the same data directory: the fork's create ends completed (with the snapshot's
 * data and its own password) or failed (and nothing of the fork keeps running); the source addon
 * is untouched either way.
 */
const TOKEN = 'e2e-fork-crash-token-0123456789';
const PROJECT = 'forkcrash';

interface Credentials {
  uri: string;
  host: string;
  port: number;
  password: string;
}

describe('a crash while a fork is being seeded, then a restart', () => {
  it('ends the fork completed with the snapshot’s data, or failed with nothing left running', async () => {
    const source = await startCrashablePlatformWithAddon<Credentials>({
      token: TOKEN,
      project: PROJECT,
      engine: 'postgresql',
      dataDirPrefix: 'addons-e2e-fork-crash-',
    });
    const { uri } = source.credentials;
    await pgQuery(uri, 'CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)');
    await pgQuery(
      uri,
      'INSERT INTO accounts SELECT g, md5(g::text) || md5((g * 7)::text), g * 10.5 FROM generate_series(1, 400000) g',
    );
    const atBackup = await pgFingerprint(uri);
    const { backupId, operation: backup } = await backUpAndWait(source.api(), PROJECT, source.base, {
      type: 'snapshot',
    });
    expect(backup).toMatchObject({ status: 'completed', error: null });
    await pgQuery(uri, 'INSERT INTO accounts VALUES (0, $$after$$, 0)');
    const sourceNow = await pgFingerprint(uri);
    const sourceId = source.base.split('/').at(-1);

    const started = await source.api()('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'ledger-fork', engine: 'postgresql', source: { addonId: sourceId, backupId } },
    });
    expect(started.status).toBe(202);
    const forkBase = `/v1/projects/${PROJECT}/addons/${started.body.addon.id}`;
    const seeding = await pollUntil(
      () => source.api()('GET', `/v1/projects/${PROJECT}/operations/${started.body.operation.id}`),
      (response) =>
        response.body.progress?.step === 'seeding' || ['completed', 'failed'].includes(response.body.status),
      { what: 'the fork to be seeding', timeoutMs: 120_000, intervalMs: 10 },
    );

    // Killed mid-seed: the snapshot restore into the fork had begun and not finished.
    expect(seeding.body).toMatchObject({ status: 'in-progress', progress: { step: 'seeding' } });
    const api = await source.crashAndRestart();

    const operation = await operationEnded(api, PROJECT, started.body.operation.id, 300_000);
    expect(['completed', 'failed']).toContain(operation.status);
    const fork = (await api('GET', forkBase)).body;
    if (operation.status === 'completed') {
      expect(fork).toMatchObject({ status: 'running', currentOperationId: null });
      const credentials: Credentials = (await api('GET', `${forkBase}/credentials`)).body;
      expect(await pgFingerprint(credentials.uri)).toEqual(atBackup);
      expect(credentials.password).not.toBe(source.credentials.password);
    } else {
      expect(operation.error?.message).toBeTruthy();
      expect(fork).toMatchObject({ status: 'failed', currentOperationId: null, endpoint: null });
    }
    // The source kept running with its own data, and takes backups again.
    await pollUntil(
      () => isListening(source.credentials.host, source.credentials.port),
      (listening) => listening,
      { what: 'the source to be listening again', timeoutMs: 60_000 },
    );
    expect(await pgFingerprint(uri)).toEqual(sourceNow);
    const next = await backUpAndWait(api, PROJECT, source.base, { type: 'dump', compression: 'zstd' });
    expect(next.operation).toMatchObject({ status: 'completed', error: null });
  }, 600_000);
});
