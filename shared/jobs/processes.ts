import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Stream } from 'node:stream';
import { MissingToolError, ProviderError } from '../errors.ts';

/** A command-line tool a job runs, and what to install when it is missing. */
export interface Tool {
  /** Short name for messages: `zstd`, the engine's dump tool's name. */
  name: string;
  /** What `spawn` runs: an absolute path or a name looked up in PATH. */
  path: string;
  /** How to get it, e.g. `apt-get install zstd`. */
  install: string;
}

/** A pipe to this process, nothing, or a stream of another process (data then bypasses this one). */
export type StdioEnd = 'pipe' | 'ignore' | Stream;

export interface ToolExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  error?: Error;
}

export interface RunningTool {
  tool: Tool;
  child: ChildProcess;
  /** Settles once, when the process has exited and its stdio is closed; never rejects. */
  exited: Promise<ToolExit>;
  /** The last lines the process wrote to stderr, for error messages. */
  stderrTail(): string;
  /** SIGTERM (SIGKILL with `force`), then SIGKILL if it is still alive after a grace period. */
  kill(force?: boolean): void;
}

const STDERR_TAIL_CHARS = 2000;
const KILL_GRACE_MS = 5000;

const isMissing = (error: unknown) => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'EACCES';
};

/** Runs `tool --version` (or `args`); a tool that cannot be executed is a MissingToolError. */
export const toolVersion = (tool: Tool, args = ['--version']): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(tool.path, args, { encoding: 'utf8', timeout: 10_000 }, (error, stdout, stderr) => {
      if (error && isMissing(error)) reject(new MissingToolError(tool.name, tool.install));
      else if (error)
        reject(new ProviderError(`${tool.path} ${args.join(' ')} failed: ${stderr || error.message}`));
      // zstd prints its banner on stdout, some tools on stderr.
      else resolve((stdout || stderr).trim().split('\n')[0] ?? '');
    });
  });

/**
 * Starts a tool with stderr captured (its tail ends up in error messages). Stdin and stdout are
 * whatever `stdio` says: usually a pipe, or another tool's pipe end so that data flows from one
 * process to the next without passing through this one.
 */
export const startTool = (
  tool: Tool,
  args: string[],
  options: { env: NodeJS.ProcessEnv; stdin: StdioEnd; stdout: StdioEnd },
): RunningTool => {
  const child = spawn(tool.path, args, {
    env: options.env,
    stdio: [options.stdin, options.stdout, 'pipe'],
  });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_TAIL_CHARS);
  });
  let spawnError: Error | undefined;
  const exited = new Promise<ToolExit>((resolve) => {
    child.once('error', (error) => {
      spawnError = isMissing(error) ? new MissingToolError(tool.name, tool.install) : error;
      // A process that never started emits no 'close'.
      if (child.pid === undefined) resolve({ code: null, signal: null, error: spawnError });
    });
    child.once('close', (code, signal) =>
      resolve({ code, signal, ...(spawnError ? { error: spawnError } : {}) }),
    );
  });
  let killTimer: NodeJS.Timeout | undefined;
  void exited.then(() => clearTimeout(killTimer));
  return {
    tool,
    child,
    exited,
    stderrTail: () => tail.trim(),
    kill: (force = false) => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      child.kill(force ? 'SIGKILL' : 'SIGTERM');
      if (!force && !killTimer) {
        killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
        killTimer.unref();
      }
    },
  };
};

/** `zstd exited with code 1` / `zstd was killed by SIGTERM`, with the last stderr lines. */
export const describeExit = (running: RunningTool, exit: ToolExit): string => {
  const how = exit.error
    ? `could not be started (${exit.error.message})`
    : exit.signal
      ? `was killed by ${exit.signal}`
      : `exited with code ${exit.code}`;
  const tail = running.stderrTail();
  return `${running.tool.name} ${how}${tail ? `: ${lastLines(tail, 6)}` : ''}`;
};

const lastLines = (text: string, count: number) => text.split('\n').slice(-count).join('\n');

export const succeeded = (exit: ToolExit) => exit.code === 0 && !exit.error;

/**
 * A process that died because the next one in the pipeline went away (SIGPIPE, EPIPE) is a
 * symptom: the failure worth reporting is the other process's. Node.js connects children's stdio
 * through socket pairs, so a tool writing into another tool's stdin gets `ECONNRESET` ("Connection
 * reset by peer"), not `EPIPE`, once that reader is gone.
 */
export const diedOfBrokenPipe = (running: RunningTool, exit: ToolExit): boolean =>
  exit.signal === 'SIGPIPE' || /broken pipe|connection reset by peer/i.test(running.stderrTail());

export const isBrokenPipe = (error: unknown): boolean =>
  (error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';

/**
 * CPU seconds (user + system) of this process and, on Linux, of its children that have exited
 * (/proc/self/stat's cutime and cstime, in the kernel's 100 Hz ticks): where a job's CPU went,
 * besides the server's, for its last log line.
 */
export const cpuSeconds = async (): Promise<{ self: number; children?: number }> => {
  const { user, system } = process.cpuUsage();
  const self = Math.round((user + system) / 1e4) / 100;
  const stat = await readFile('/proc/self/stat', 'utf8').catch(() => undefined);
  // Fields 16 and 17, counted after the command name (which may hold spaces and parentheses).
  const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields?.[13]) + Number(fields?.[14]);
  return Number.isFinite(ticks) ? { self, children: ticks / 100 } : { self };
};
