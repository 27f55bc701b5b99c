import { existsSync } from 'node:fs';

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
