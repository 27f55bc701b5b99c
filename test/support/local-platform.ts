import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { removePlatformData } from './data-dir.ts';
import { client } from './http.ts';
import { type PlatformProcess, startPlatformProcess } from './platform-process.ts';

type Api = ReturnType<typeof client>;

/**
 * One `npm start` platform for a whole e2e file, on its own data directory (`addons-e2e-<name>-`):
 * started before the file's tests, interrupted and its data (engine OS users included) removed
 * after them, with `env` added to its environment. Returns the API client, usable once the tests run.
 */
export const localPlatformForFile = (name: string, token: string, env: Record<string, string> = {}): Api => {
  let dataDir: string | undefined;
  let platform: PlatformProcess | undefined;
  let started: Api | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), `addons-e2e-${name}-`));
    platform = await startPlatformProcess({ ...env, ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: token });
    started = client(platform.url, token);
  }, 120_000);

  afterAll(async () => {
    if (platform?.child.exitCode === null) await platform.interrupt();
    if (dataDir) await removePlatformData(dataDir);
  });

  return (method, path, options) => {
    if (!started) throw new Error('the platform starts in beforeAll');
    return started(method, path, options);
  };
};
