import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { client, pollUntil } from './http.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface PlatformProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** Ctrl-C: resolves with the exit code once the process has exited. */
  interrupt(): Promise<number | null>;
  /** A crash: SIGKILL, no cleanup at all. */
  kill(): Promise<void>;
}

/** Start `npm start`'s entry point exactly as a user would, on a free port, and wait until it listens. */
export const startPlatformProcess = async (
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<PlatformProcess> => {
  const child = spawn(process.execPath, ['infra/local/start.mjs'], {
    cwd: ROOT,
    env: { ...process.env, ADDONS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`platform did not start in ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    const check = () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`platform exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    url,
    child,
    output: () => output,
    interrupt: async () => {
      child.kill('SIGINT');
      return exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
};

/**
 * Ctrl-C on `platform` (it must exit 0), `npm start` again with `env` (the same data directory),
 * and wait until the addon at `addonPath` (its API path) is running again.
 */
export const restartUntilRunning = async (
  platform: PlatformProcess | undefined,
  env: Record<string, string>,
  token: string,
  addonPath: string,
) => {
  expect(await platform?.interrupt()).toBe(0);
  const restarted = await startPlatformProcess(env);
  const api = client(restarted.url, token);
  await pollUntil(
    () => api('GET', addonPath),
    (response) => response.body.status === 'running',
    { what: 'the addon to be running again', timeoutMs: 60_000 },
  );
  return { platform: restarted, api };
};
