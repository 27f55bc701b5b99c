import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { removePlatformData } from '../support/data-dir.ts';
import { client, pollUntil } from '../support/http.ts';
import { type Api, operationEnded } from '../support/operations.ts';
import { pgQuery } from '../support/pg-fingerprint.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * Credential rotation survives a platform crash (SIGKILL, no cleanup) on the local target: killed
 * while a rotate request is in flight, the restarted platform leaves nothing stuck (the operation
 * ends, the addon is running and unlocked) and the credentials the API returns work; killed with a
 * rotation open, the previous and the published credentials both still work after the restart
 * (the engines' accounts persist: Redis's in its ACL file), and the deadline, passed while the
 * platform was down, is applied by the restarted platform's scheduler.
 */
const TOKEN = 'e2e-rotation-crash-token-0123456789';
const PROJECT = 'rotation-crash';
const ENV = { ADDONS_TOKEN: TOKEN, ADDONS_SCHEDULER_TICK_MS: '200', ADDONS_START_GRACE_SECONDS: '2' };

interface Credentials {
  username: string;
  password: string;
  uri: string;
}

const connects: Record<string, (credentials: Credentials) => Promise<unknown>> = {
  postgresql: (credentials) => pgQuery(credentials.uri, 'SELECT 1'),
  redis: async (credentials) => {
    const run = spawnSync('redis-cli', ['-u', credentials.uri, '--no-auth-warning', 'PING'], {
      encoding: 'utf8',
    });
    const output = `${run.stdout}${run.stderr}`.trim();
    if (output !== 'PONG') throw new Error(`redis-cli: ${output}`);
  },
};
const REFUSED = /password authentication failed|WRONGPASS/i;

const crashablePlatform = async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-rotation-crash-'));
  const state: { platform?: PlatformProcess; api?: Api } = {};
  const start = async () => {
    state.platform = await startPlatformProcess({ ...ENV, ADDONS_DATA_DIR: dataDir });
    state.api = client(state.platform.url, TOKEN);
    return state.api;
  };
  onTestFinished(async () => {
    if (state.platform?.child.exitCode === null) await state.platform.interrupt();
    await removePlatformData(dataDir);
  });
  await start();
  return {
    api: () => state.api as Api,
    crashAndRestart: async () => {
      await state.platform?.kill();
      return start();
    },
  };
};

describe.each(['postgresql', 'redis'])('credential rotation of a %s addon across a crash', (engine) => {
  const connect = connects[engine] as (credentials: Credentials) => Promise<unknown>;

  it('killed with a rotate request in flight: nothing stuck, the published credentials work', async () => {
    const platform = await crashablePlatform();
    const created = await platform.api()('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'crash-mid', engine },
    });
    expect((await operationEnded(platform.api(), PROJECT, created.body.operation.id)).status).toBe(
      'completed',
    );
    const base = `/v1/projects/${PROJECT}/addons/${created.body.addon.id}`;
    const before: Credentials = (await platform.api()('GET', `${base}/credentials`)).body;

    const inFlight = platform
      .api()('POST', `${base}/credentials/rotate`, { body: {} })
      .catch(() => undefined);
    // The kill lands once the rotation holds the addon's lock, or after it, if it was that fast.
    await pollUntil(
      () => platform.api()('GET', base),
      (response) => response.body.currentOperationId !== null || response.body.credentialRotation,
      { intervalMs: 5, timeoutMs: 10_000, what: 'the rotation to start' },
    );
    const api = await platform.crashAndRestart();
    await inFlight;

    const addon = await pollUntil(
      () => api('GET', base),
      (response) => response.body.status === 'running' && response.body.currentOperationId === null,
      { what: 'the addon to be running and unlocked', timeoutMs: 60_000 },
    );
    const published: Credentials = (await api('GET', `${base}/credentials`)).body;
    await connect(published);
    if (addon.body.credentialRotation) {
      // Whatever the crash interrupted, the previous credentials work until the rotation is finished.
      await connect(before);
      expect((await api('POST', `${base}/credentials/rotate/finish`)).status).toBe(200);
      await connect(published);
      if (published.password !== before.password) await expect(connect(before)).rejects.toThrow(REFUSED);
    }
    const again = await api('POST', `${base}/credentials/rotate`, { body: {} });
    expect(again.status).toBe(200);
    await connect(again.body.credentials);
  }, 180_000);

  it('killed with a rotation open: both credentials work after the restart, and its deadline still applies', async () => {
    const platform = await crashablePlatform();
    const created = await platform.api()('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'crash-open', engine },
    });
    expect((await operationEnded(platform.api(), PROJECT, created.body.operation.id)).status).toBe(
      'completed',
    );
    const base = `/v1/projects/${PROJECT}/addons/${created.body.addon.id}`;
    const before: Credentials = (await platform.api()('GET', `${base}/credentials`)).body;
    const rotated = await platform.api()('POST', `${base}/credentials/rotate`, {
      body: { retireAfterSeconds: 8 },
    });
    expect(rotated.status).toBe(200);
    const published: Credentials = rotated.body.credentials;

    const api = await platform.crashAndRestart();
    const rotation = (await api('GET', base)).body.credentialRotation;
    expect(rotation).toEqual(rotated.body.addon.credentialRotation);
    await pollUntil(
      () => connect(before).then(() => connect(published).then(() => true)),
      (ok) => ok,
      { what: 'both credentials to connect after the restart', timeoutMs: 30_000 },
    ).catch(async (error) => {
      // The deadline may have passed already on a slow machine: then only the published work.
      if ((await api('GET', base)).body.credentialRotation !== null) throw error;
    });
    await pollUntil(
      () => api('GET', base),
      (response) => response.body.credentialRotation === null,
      { what: 'the deadline to retire the previous credentials', timeoutMs: 60_000 },
    );
    await expect(connect(before)).rejects.toThrow(REFUSED);
    await connect(published);
  }, 180_000);
});
