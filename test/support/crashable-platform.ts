import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, onTestFinished } from 'vitest';
import type { Engine } from '#shared/schemas/catalog.ts';
import { client, pollUntil } from './http.ts';
import { type Api, backUpAndWait, operationEnded } from './operations.ts';
import { type PlatformProcess, startPlatformProcess } from './platform-process.ts';

/**
 * For the crash tests: a platform process on its own data directory (removed when the test
 * finishes) with one addon named `ledger` of `engine`, created and waited for. `crashAndRestart`
 * SIGKILLs the platform (no cleanup at all) and runs `npm start` again on the same data directory;
 * `api()` is the client of the running one.
 */
export const startCrashablePlatformWithAddon = async <Credentials>(options: {
  token: string;
  project: string;
  engine: Engine;
  dataDirPrefix: string;
  /** More settings of the platform process (both starts). */
  env?: Record<string, string>;
}) => {
  const { token, project, engine } = options;
  const dataDir = await mkdtemp(join(tmpdir(), options.dataDirPrefix));
  const state: { platform?: PlatformProcess; api?: Api } = {};
  const start = async () => {
    state.platform = await startPlatformProcess({
      ...options.env,
      ADDONS_DATA_DIR: dataDir,
      ADDONS_TOKEN: token,
    });
    state.api = client(state.platform.url, token);
    return state.api;
  };
  onTestFinished(async () => {
    if (state.platform?.child.exitCode === null) await state.platform.interrupt();
    await rm(dataDir, { recursive: true, force: true });
  });
  const api = await start();
  const created = await api('POST', `/v1/projects/${project}/addons`, {
    body: { name: 'ledger', engine },
  });
  expect((await operationEnded(api, project, created.body.operation.id)).status).toBe('completed');
  const base = `/v1/projects/${project}/addons/${created.body.addon.id}`;
  const credentials: Credentials = (await api('GET', `${base}/credentials`)).body;
  return {
    base,
    dataDir,
    credentials,
    api: () => state.api as Api,
    crashAndRestart: async () => {
      await state.platform?.kill();
      return start();
    },
    /** `crashAndRestart` in two steps, to change things on disk while the platform is down. */
    crash: () => state.platform?.kill(),
    restart: start,
  };
};

/**
 * After the restart: the operation the crash interrupted ended (completed or failed), the addon
 * at `base` is running and unlocked, and it takes a new dump backup. Returns that operation.
 */
export const assertRecovered = async (api: Api, project: string, base: string, operationId: string) => {
  const operation = await operationEnded(api, project, operationId);
  expect(['completed', 'failed']).toContain(operation.status);
  await pollUntil(
    () => api('GET', base),
    (response) => response.body.status === 'running' && response.body.currentOperationId === null,
    { what: 'the addon to be running and unlocked', timeoutMs: 30_000 },
  );
  const next = await backUpAndWait(api, project, base, { type: 'dump', compression: 'zstd' });
  expect(next.operation).toMatchObject({ status: 'completed', error: null });
  return operation;
};
