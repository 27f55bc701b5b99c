import { spawn } from 'node:child_process';
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, MissingToolError, ProviderError } from '#shared/errors.ts';
import { BACKGROUND_NICENESS, niced } from '../priority.ts';

/**
 * Operating-system helpers for the local engine supervisor: who engines run as (`os-users.ts`
 * creates them), TCP ports, process liveness, and small file utilities. Linux-first (reads /proc), like the
 * engine binaries the local target runs.
 */

/** Who an engine process runs as. `undefined` everywhere means "as the platform's own user". */
export interface RunAs {
  user: string;
  uid: number;
  gid: number;
}

/** Engine processes get a minimal environment: none of the platform's tokens or AWS credentials. */
export const engineEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  LC_ALL: 'C',
  ...(process.env.TZ ? { TZ: process.env.TZ } : {}),
});

export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

export const chownTo = async (target: string, runAs: RunAs | undefined): Promise<void> => {
  if (runAs) await fs.chown(target, runAs.uid, runAs.gid);
};

const canTraverse = (stat: Stats, runAs: RunAs): boolean => {
  if (stat.uid === runAs.uid) return (stat.mode & 0o100) !== 0;
  if (stat.gid === runAs.gid) return (stat.mode & 0o010) !== 0;
  return (stat.mode & 0o001) !== 0;
};

/**
 * The engine user must be able to walk down to its instance directory. Directories the platform
 * owns (`ownDirs`: the data dir and its `engines/` folder) get the search bit for others (no read:
 * nothing can be listed); an unreachable ancestor outside them is reported, not changed.
 */
export const ensureReachable = async (
  target: string,
  runAs: RunAs | undefined,
  ownDirs: string[],
): Promise<void> => {
  if (!runAs) return;
  const own = new Set(ownDirs.map((dir) => path.resolve(dir)));
  for (let dir = path.dirname(path.resolve(target)); ; dir = path.dirname(dir)) {
    const stat = await fs.stat(dir);
    if (!canTraverse(stat, runAs)) {
      if (!own.has(dir)) {
        throw new ProviderError(
          `Database engines run as the system user '${runAs.user}', which cannot enter ${dir}: ` +
            `make it searchable (chmod o+x ${dir}) or put the platform's data directory elsewhere`,
          'DataDirUnreachable',
        );
      }
      await fs.chmod(dir, (stat.mode & 0o7777) | 0o001);
    }
    if (dir === path.dirname(dir)) return;
  }
};

/**
 * Run a short-lived command (an engine's initialisation or backup tool) as `runAs`, below the
 * platform's CPU priority (`BACKGROUND_NICENESS`), appending its output to `logFile`. Rejects with
 * a ProviderError quoting the end of that output when it fails.
 */
export const runLogged = async (
  command: string,
  args: string[],
  options: {
    runAs: RunAs | undefined;
    env: NodeJS.ProcessEnv;
    cwd: string;
    logFile: string;
    what: string;
    /** Aborting kills the command (SIGTERM); the rejection then says it was interrupted. */
    signal?: AbortSignal;
  },
): Promise<void> => {
  const log = await fs.open(options.logFile, 'a', 0o600);
  const start = (await log.stat()).size;
  try {
    options.signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const tool = niced(BACKGROUND_NICENESS, command, args);
      const child = spawn(tool.command, tool.args, {
        cwd: options.cwd,
        env: options.env,
        stdio: ['ignore', log.fd, log.fd],
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
      });
      // With a signal, an abort emits 'error' and then 'exit': the first one settles.
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        if (code === 0) resolve();
        else reject(new Error(signal ? `killed by ${signal}` : `exit code ${code}`));
      });
    });
  } catch (error) {
    const output = await readTail(options.logFile, { from: start });
    const why = options.signal?.aborted ? 'interrupted' : errorMessage(error);
    throw new ProviderError(`${options.what} failed (${why}): ${output || 'no output'}`);
  } finally {
    await log.close();
  }
};

/** The last lines of a log file (from byte `from` on), trimmed to something a reason can quote. */
export const readTail = async (
  file: string,
  { from = 0, lines = 12, bytes = 4096 }: { from?: number; lines?: number; bytes?: number } = {},
): Promise<string> => {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = (await handle.stat()).size;
    const start = Math.max(from, size - bytes);
    if (size <= start) return '';
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    const text = buffer.toString('utf8').split('\n');
    if (start > from) text.shift(); // probably a partial line
    return text
      .map((line) => line.trimEnd())
      .filter(Boolean)
      .slice(-lines)
      .join('\n');
  } finally {
    await handle.close();
  }
};

export const fileSize = async (file: string): Promise<number> => {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return 0;
  }
};

export const readJson = async <T>(file: string): Promise<T | undefined> => {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
};

/** Write-then-rename, so a crash never leaves a half-written file behind. */
export const writeJsonAtomic = async (file: string, value: unknown): Promise<void> => {
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temporary, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await fs.rename(temporary, file);
};

/**
 * Read a file the engine user owns without following a symbolic link it may have put there
 * (`protected_symlinks` is often off in containers, and the platform runs as root).
 */
export const readFileNoFollow = async (file: string): Promise<string> => {
  const handle = await fs.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
};

/**
 * Replace a file in a directory the engine user owns: a new file (O_EXCL, so never through a
 * link), owned by `runAs`, renamed over the old one.
 */
export const replaceFile = async (
  file: string,
  content: string,
  runAs: RunAs | undefined,
  mode = 0o600,
): Promise<void> => {
  const temporary = `${file}.addons-${process.pid}-${Date.now().toString(36)}.tmp`;
  try {
    await fs.writeFile(temporary, content, { mode, flag: 'wx' });
    await chownTo(temporary, runAs);
    await fs.rename(temporary, file);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
};

/** fsync a file or a directory (a rename is durable once its directory is synced). */
export const fsyncPath = async (target: string): Promise<void> => {
  const handle = await fs.open(target, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};

/** Total size of the regular files under `dir` (symbolic links are not followed). */
export const treeSize = async (dir: string): Promise<number> => {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const target = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await treeSize(target);
    else if (entry.isFile()) total += (await fs.lstat(target)).size;
  }
  return total;
};

/** The first of `candidates` that is an executable file, else the first `name` found on PATH. */
export const findExecutable = async (
  name: string,
  candidates: string[] = [],
): Promise<string | undefined> => {
  const onPath = (process.env.PATH ?? '/usr/bin:/bin')
    .split(path.delimiter)
    .filter(Boolean)
    .map((dir) => path.join(dir, name));
  for (const candidate of [...candidates, ...onPath]) {
    try {
      const stat = await fs.stat(candidate);
      if (stat.isFile()) {
        await fs.access(candidate, fs.constants.X_OK);
        return candidate;
      }
    } catch {
      // not this one
    }
  }
  return undefined;
};

/** A common system tool on PATH (cp, tar, zstd...), else a MissingToolError naming the Debian package that has it. */
export const requireSystemTool = async (name: string, debianPackage: string): Promise<string> => {
  const found = await findExecutable(name);
  if (!found) throw new MissingToolError(name, `install it (Debian: apt-get install ${debianPackage})`);
  return found;
};

export const exists = async (target: string): Promise<boolean> => {
  try {
    await fs.lstat(target);
    return true;
  } catch {
    return false;
  }
};

// ---------------------------------------------------------------- ports

/** A port the OS considers free on `host` right now (bind port 0), avoiding `exclude`. */
export const allocatePort = async (host: string, exclude: ReadonlySet<number>): Promise<number> => {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.once('error', reject);
      server.listen({ host, port: 0, exclusive: true }, () => {
        const address = server.address();
        server.close(() =>
          address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port')),
        );
      });
    });
    if (!exclude.has(port)) return port;
  }
  throw new ProviderError(`Could not find a free TCP port on ${host}`);
};

/** Whether `port` on `host` can be bound right now. */
export const isPortFree = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });

/** Whether something accepts TCP connections on host:port. */
export const acceptsConnections = (host: string, port: number, timeoutMs = 500): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });

/** Resolves once nothing accepts connections on host:port (true), or after `timeoutMs` (false). */
export const waitUntilClosed = async (host: string, port: number, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (await acceptsConnections(host, port, 200)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
};

// ---------------------------------------------------------------- processes

/**
 * Whether `pid` is a live process. A zombie counts as gone: an orphaned engine whose parent was
 * SIGKILLed is re-parented to PID 1, which in a container may never reap it.
 */
export const isAlive = async (pid: number): Promise<boolean> => {
  if (await hasProcfs) {
    try {
      const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return state !== 'Z' && state !== 'X';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const hasProcfs: Promise<boolean> = exists('/proc/self/stat');

/** The working directory of a process (database servers chdir into their data directory). */
export const processCwd = async (pid: number): Promise<string | undefined> => {
  try {
    return await fs.readlink(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
};

/**
 * Live processes at work in `dir`: their working directory is `dir` or below it, or an argument
 * names a path there. The tools an interrupted step ran there (seed and backup tools run with
 * their target as cwd), left running by a killed platform; the arguments catch those that change
 * directory once started (a physical backup tool that moves to the server's data directory and
 * keeps writing into its target directory). Empty without /proc.
 */
export const processesUnder = async (dir: string): Promise<number[]> => {
  const real = await fs.realpath(dir).catch(() => undefined);
  if (!real || !(await hasProcfs)) return [];
  const roots = [...new Set([real, path.resolve(dir)])];
  const within = (file: string) => roots.some((root) => file === root || file.startsWith(`${root}/`));
  // `--target-dir=/…/data` names its path after the option's `=`: from the first slash on.
  const named = (arg: string) => arg.includes('/') && within(arg.slice(arg.indexOf('/')));
  const found: number[] = [];
  for (const name of await fs.readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const cwd = await processCwd(pid);
    const atWork = (cwd !== undefined && within(cwd)) || (await processArgs(pid)).some(named);
    if (atWork && (await isAlive(pid))) found.push(pid);
  }
  return found;
};

/** A process's command line, one element per argument (empty if it is gone or unreadable). */
const processArgs = async (pid: number): Promise<string[]> =>
  (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);

export const waitForExit = async (pid: number, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (await isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
};

const signal = (pid: number, name: NodeJS.Signals): void => {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
};

/**
 * Stop a process that is not our child (so no exit event): `graceful` signal, then `immediate`,
 * then SIGKILL, polling /proc until it is gone.
 */
export const stopPid = async (
  pid: number,
  signals: { graceful: NodeJS.Signals; immediate: NodeJS.Signals },
  graceMs: number,
): Promise<void> => {
  signal(pid, signals.graceful);
  if (await waitForExit(pid, graceMs)) return;
  signal(pid, signals.immediate);
  if (await waitForExit(pid, 5_000)) return;
  signal(pid, 'SIGKILL');
  if (!(await waitForExit(pid, 5_000))) throw new ProviderError(`Process ${pid} did not exit after SIGKILL`);
};

/**
 * The live server a data directory's pid file names (its first line), if any. The pid may have
 * been reused by an unrelated process since: the engines chdir into their data directory, so
 * only a process whose cwd is this data directory is the server.
 */
export const serverFromPidFile = async (dataDir: string, pidFile: string): Promise<number | undefined> => {
  let text: string;
  try {
    text = await fs.readFile(path.join(dataDir, pidFile), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !(await isAlive(pid))) return undefined;
  const [cwd, realDataDir] = await Promise.all([processCwd(pid), fs.realpath(dataDir).catch(() => dataDir)]);
  return cwd === realDataDir ? pid : undefined;
};

/** A Unix socket path must fit sockaddr_un.sun_path (108 bytes including the NUL). */
export const SUN_PATH_MAX = 107;

/**
 * `fileName` in the instance's socket directory, for an engine whose platform account is reachable
 * over its Unix socket only: a path too long for a socket is an error that says what to do.
 */
export const instanceSocketPath = (socketDir: string, fileName: string): string => {
  const socket = path.join(socketDir, fileName);
  if (Buffer.byteLength(socket) > SUN_PATH_MAX) {
    throw new ProviderError(
      `The Unix socket path of this instance (${socket}) is longer than ${SUN_PATH_MAX} bytes: ` +
        "put the platform's data directory at a shorter path",
      'SocketPathTooLong',
    );
  }
  return socket;
};
