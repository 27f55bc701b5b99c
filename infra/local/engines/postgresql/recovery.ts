import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderError } from '#shared/errors.ts';
import type { InstanceContext } from '../driver.ts';
import { engineEnv, exists, readTail } from '../system.ts';
import { binaries } from './binaries.ts';

/** How long a promoted recovery server may take to shut down (fast shutdown: one checkpoint). */
const STOP_GRACE_MS = 120_000;

/**
 * Recover `ctx.dataDir` (a base backup with recovery.signal) to `time` with a private server: no
 * TCP, its socket in `socketDir`, WAL fetched from `walDir` by restore_command, archiving off (its
 * WAL belongs to no archive yet), promoted at the target and then shut down cleanly. It runs next
 * to the instance's own server, so the restore's downtime stays a stop and a start; a crash
 * leaves it on the staging data directory, where the restore's rollback stops it (postmaster.pid).
 */
export const recoverToTime = async (
  ctx: InstanceContext,
  options: { walDir: string; socketDir: string; time: string },
  signal: AbortSignal,
): Promise<void> => {
  // The base backup's own major (PG_VERSION): an instance may have been upgraded since.
  const major = (await fs.readFile(path.join(ctx.dataDir, 'PG_VERSION'), 'utf8').catch(() => '')).trim();
  const { postgres } = await binaries(major || undefined);
  const quote = (value: string) => `'${value.replace(/'/g, "''")}'`;
  // recovery_target_time is a timestamptz: UTC, written so no session time zone changes it.
  const target = options.time.replace('T', ' ').replace(/Z$/, '+00');
  const port = 40_000 + Math.floor(Math.random() * 20_000);
  const args = [
    '-D',
    ctx.dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=',
    '-c',
    `unix_socket_directories=${options.socketDir}`,
    '-c',
    'unix_socket_permissions=0700',
    '-c',
    'archive_mode=off',
    '-c',
    'hot_standby=off',
    '-c',
    `restore_command=cp ${quote(options.walDir)}/%f %p`,
    '-c',
    `recovery_target_time=${target}`,
    '-c',
    'recovery_target_action=promote',
    '-c',
    'recovery_target_timeline=latest',
  ];
  const log = await fs.open(ctx.logFile, 'a', 0o600);
  const from = (await log.stat()).size;
  const state: { exit?: { code: number | null; signal: NodeJS.Signals | null } } = {};
  const child = spawn(postgres, args, {
    cwd: ctx.dataDir,
    env: engineEnv(),
    stdio: ['ignore', log.fd, log.fd],
    ...(ctx.runAs ? { uid: ctx.runAs.uid, gid: ctx.runAs.gid } : {}),
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, sig) => {
      state.exit = { code, signal: sig };
      resolve();
    });
    child.once('error', () => {
      state.exit ??= { code: -1, signal: null };
      resolve();
    });
  });
  const failure = async (why: string) =>
    new ProviderError(
      `Recovering to ${options.time} failed (${why}): ${(await readTail(ctx.logFile, { from })) || 'no output'}`,
      'RecoveryFailed',
    );
  try {
    // Promoted = recovery.signal removed by the server and postmaster.pid saying "ready".
    for (;;) {
      const { exit } = state;
      if (exit) throw await failure(`the recovery server exited with code ${exit.code ?? exit.signal}`);
      if (signal.aborted) throw await failure('interrupted');
      if (!(await exists(path.join(ctx.dataDir, 'recovery.signal')))) {
        const pidfile = await fs.readFile(path.join(ctx.dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
        if (pidfile.split('\n')[7]?.trim() === 'ready') break;
      }
      await sleep(100);
    }
    child.kill('SIGINT'); // fast shutdown: a checkpoint, so the real start needs no recovery
    const stopped = await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
    if (!stopped) throw await failure('the recovered server did not shut down');
    const stop = state.exit;
    if (stop?.code !== 0)
      throw await failure(`the recovered server stopped with ${stop?.code ?? stop?.signal}`);
  } finally {
    if (!state.exit) {
      child.kill('SIGQUIT');
      await Promise.race([exited, sleep(10_000)]);
      if (!state.exit) child.kill('SIGKILL');
      await exited;
    }
    await log.close();
  }
};
