import { existsSync, readlinkSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { getPriority, setPriority } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * The CPU priority (nice value) of the work the local platform runs in the background: jobs
 * (dumps, restores, imports) and the tools they run, base backups and snapshot copies. The platform
 * process itself (the API gateway, the workflow runner, the emulators' threads) and the engine
 * servers (the customers' queries) keep 0, so a console or a client polling the API is answered
 * while backups and restores run, and those take the CPU that is left. See docs/performance.md,
 * "Reads under load", for what was measured (engines at 5 as well bought nothing more).
 */
export const BACKGROUND_NICENESS = 10;

const NICE = ['/usr/bin/nice', '/bin/nice'].find((file) => existsSync(file));

/**
 * `command args` started through coreutils' `nice -n niceness`, which sets the niceness and then
 * execs the command in the same process: it holds from the command's first instruction, for every
 * thread and child it starts. (Lowering a pid after spawn() would change only its main thread, and
 * a Node.js child has started its other threads by then.) Without `nice`, or at 0, unchanged.
 */
export const niced = (niceness: number, command: string, args: readonly string[]) =>
  NICE && niceness > 0
    ? { command: NICE, args: ['-n', String(niceness), command, ...args] }
    : { command, args: [...args] };

/**
 * The CPU share of `pid`'s session as a scheduling group, under Linux autogroup
 * (`/proc/sys/kernel/sched_autogroup_enabled`): the kernel shares the CPU among sessions first,
 * by their groups' nice values, and only then among a session's processes by theirs. A job in a
 * session of its own, or a database backend (PostgreSQL's call `setsid()`), weighs as much as
 * the whole platform at 0, whatever its own nice value says (docs/performance.md, "Reads under
 * load"). Raising a group's value needs no privilege, but the kernel takes one change every
 * 100 ms from an unprivileged caller (EAGAIN): retried for about 2 s. Without autogroup (no such
 * file) or for a process that is gone or not ours, nothing happens.
 */
export const lowerSession = async (pid: number): Promise<void> => {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      await writeFile(`/proc/${pid}/autogroup`, String(BACKGROUND_NICENESS));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      await delay(110);
    }
  }
};

/** `BACKGROUND_NICENESS` below the platform's own priority, as `nice -n` would start a command. */
const backgroundNice = (): number => Math.min(19, getPriority() + BACKGROUND_NICENESS);

/**
 * A single-threaded process (a database backend) below the platform, and its session's group as
 * `lowerSession` does, if its parent is still `parentPid` (a pid read a moment ago may have been
 * reused since). Nothing happens to a process that is gone or not ours.
 */
export const lowerChildProcess = async (pid: number, parentPid: number): Promise<void> => {
  if ((await parentOf(pid)) !== parentPid) return;
  try {
    setPriority(pid, backgroundNice());
  } catch {
    return;
  }
  await lowerSession(pid);
};

/**
 * The calling thread below the platform's other threads (the S3 emulator's: the bytes it moves are
 * the jobs'). `/proc/thread-self` names the calling thread; on Linux a nice value is per thread.
 * Not Linux, or not allowed: the thread keeps the platform's priority.
 */
export const lowerThisThread = (): void => {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), backgroundNice());
  } catch {
    // keeps the platform's priority
  }
};

/** The parent pid of `pid` (the fourth field of /proc/<pid>/stat, after the command's parentheses). */
const parentOf = async (pid: number): Promise<number | undefined> => {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
};
