import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LocalEngineSupervisor } from '#infra/local/engines/supervisor.ts';
import type { InstanceSpec } from '#shared/ports/engine-provider.ts';

/**
 * What the local engine integration tests share: one instance spec shape, the supervisors a file
 * creates (stopped at the end, their logs kept), process checks, polling, and a separate platform
 * process a test can SIGKILL.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** A nano, single-node, loopback-only instance spec; `fields` name the instance and its engine. */
export const localSpec = (
  fields: Pick<InstanceSpec, 'resourceId' | 'addonId' | 'engine' | 'version'> & Partial<InstanceSpec>,
): InstanceSpec => ({
  projectId: 'prj-test',
  plan: { id: 'nano', vcpu: 2, memoryMiB: 1024, instanceClass: 'db.t4g.micro' },
  storageGiB: 20,
  replicas: 0,
  tls: false,
  publicAccess: false,
  database: 'orders_db',
  username: 'addonadmin',
  password: 'Pw7abcdefghijkmnopqrstuvwxyz2345',
  ...fields,
});

/** Supervisors on the data directory `dataDir()` gives, all kept for `stopAll` at the end, their log lines in `logs`. */
export const supervisorPool = (dataDir: () => string) => {
  const supervisors: LocalEngineSupervisor[] = [];
  const logs: Array<{ msg: string; extra?: object }> = [];
  const supervisor = (): LocalEngineSupervisor => {
    const created = new LocalEngineSupervisor({
      dataDir: dataDir(),
      log: (msg, extra) => logs.push({ msg, extra }),
    });
    supervisors.push(created);
    return created;
  };
  return { supervisor, supervisors, logs };
};

/** Whether `pid` is a live process (not gone, not a zombie). */
export const isAlive = async (pid: number): Promise<boolean> => {
  try {
    return !/^\S+ \(.*\) [ZX]/.test(await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

export const acceptsConnections = (onPort: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: onPort });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** Poll `read` until `until` holds: a short interval up to a deadline, no fixed sleeps. */
export const poll = async <T>(
  read: () => Promise<T>,
  until: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (until(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting; last ${JSON.stringify(value)}`);
    await sleep(20);
  }
};

/**
 * A crash test that failed midway may leave a server no supervisor owns: kill the one each
 * `data*` directory of the instance names in its pid file (first line).
 */
export const killLeftoverServers = async (
  instanceDir: string,
  pidFile: string,
  signal: NodeJS.Signals,
): Promise<void> => {
  const names = await fs.readdir(instanceDir).catch(() => [] as string[]);
  for (const name of names.filter((each) => each.startsWith('data'))) {
    const text = await fs.readFile(path.join(instanceDir, name, pidFile), 'utf8').catch(() => '');
    const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
    if (pid > 0 && (await isAlive(pid))) process.kill(pid, signal);
  }
};

/**
 * A separate Node process playing the platform: it makes a supervisor on `dataDir`, runs `body`
 * (statements using `supervisor` and `process.env`, which gets `env`), then stays up until killed,
 * so a test can SIGKILL it midway and see what it leaves. Its stdout and stderr are collected.
 */
export const spawnPlatform = (dataDir: string, body: string, env: Record<string, string>) => {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `import { LocalEngineSupervisor } from '#infra/local/engines/supervisor.ts';
       const supervisor = new LocalEngineSupervisor({ dataDir: process.env.DATA_DIR });
       ${body}
       setInterval(() => undefined, 60_000);`,
    ],
    { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let gone = false;
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise((resolve) => child.once('exit', resolve)).then(() => {
    gone = true;
  });
  return { child, exited, output: () => output, gone: () => gone };
};

/** The resume a platform process does at start: `STATE=running` once it resumed the instance. */
export const RESUME_BODY = `await supervisor.resume([process.env.RESOURCE_ID]);
       console.log('STATE=' + (supervisor.isRunning(process.env.RESOURCE_ID) ? 'running' : 'stopped'));`;

/**
 * The one instance a test file creates under `dataDir()`: its directory, its `instance.json`
 * (as `R`), the pid its server wrote in `pidFile`, and waiting until it is available or failed.
 */
export const oneInstance = <R extends { dataDir: string }>(
  dataDir: () => string,
  resourceId: string,
  pidFile: string,
) => {
  const instanceDir = () => path.join(dataDir(), 'engines', resourceId);
  const readRecord = async (): Promise<R> =>
    JSON.parse(await fs.readFile(path.join(instanceDir(), 'instance.json'), 'utf8')) as R;
  const serverPid = async (): Promise<number> => {
    const record = await readRecord();
    const text = await fs.readFile(path.join(instanceDir(), record.dataDir, pidFile), 'utf8');
    return Number.parseInt(text.trim(), 10);
  };
  const waitAvailable = (provider: LocalEngineSupervisor) =>
    poll(
      () => provider.describeInstance(resourceId),
      (state) => state.status === 'available' || state.status === 'failed',
    );
  return { instanceDir, readRecord, serverPid, waitAvailable };
};
