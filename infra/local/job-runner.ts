import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobCommand } from './job-bundle.ts';
import { BACKGROUND_NICENESS, lowerSession, niced } from './priority.ts';

/** Named like the Step Functions error of a failed ECS task, so the ASL Catch is the same on both targets. */
export class TaskFailedError extends Error {
  override name = 'States.TaskFailed';
}

interface RunTaskParameters {
  Overrides?: { ContainerOverrides?: Array<{ Environment?: Array<{ Name: string; Value: string }> }> };
}

/** Set in the environment of a job process started ahead of its job (shared/jobs/job-process.ts). */
export const STANDBY_ENV = 'ADDONS_JOB_STANDBY';

const JOB_ENTRY = fileURLToPath(new URL('../../functions/jobs/main.ts', import.meta.url));

/**
 * The local stand-in for `ecs:runTask.sync`: runs the job entry point as a child process with
 * the environment the state machine put in the container overrides, and waits for it to exit.
 */
export class LocalJobRunner {
  private readonly children = new Set<ChildProcess>();
  private readonly byOperation = new Map<string, ChildProcess>();
  /** Jobs waiting for their command, and those of them cancelled meanwhile. */
  private readonly starting = new Set<string>();
  private readonly cancelled = new Set<string>();
  private standby: ChildProcess | undefined;
  private stopping = false;

  /**
   * `command` is how to start a job (infra/local/job-bundle.ts builds it); without one, the job
   * runs from its TypeScript sources through tsx. With `logDir`, each job's output (its JSON log
   * lines: start, progress, the end with its peak RSS) is appended to `<logDir>/<operationId>.log`,
   * as the job's log stream in CloudWatch on AWS.
   */
  constructor(
    private readonly env: Record<string, string>,
    private readonly command: Promise<JobCommand> = Promise.resolve({ args: ['--import', 'tsx', JOB_ENTRY] }),
    private readonly logDir?: string,
    /** While a job runs: given the addons it works on, what else runs with it until `signal`. */
    private readonly whileRunning?: (addonIds: string[], signal: AbortSignal) => Promise<void>,
  ) {}

  async run(input: unknown): Promise<unknown> {
    const parameters = input as RunTaskParameters;
    const overrides = parameters.Overrides?.ContainerOverrides?.[0]?.Environment ?? [];
    const env: Record<string, string> = { ...this.env };
    for (const { Name, Value } of overrides) env[Name] = Value;
    const { operationId, addonIds } = specOf(env.JOB_SPEC);
    if (operationId) this.starting.add(operationId);
    const { args } = await this.command.finally(() => operationId && this.starting.delete(operationId));
    // Cancelled (or shut down) while the job bundle was being built: the job never starts.
    if ((operationId && this.cancelled.delete(operationId)) || this.stopping) {
      throw new TaskFailedError('The job was killed (SIGTERM) before it started');
    }
    const log = await this.openLog(operationId);
    const child = this.takeStandby(args, overrides) ?? this.spawnJob(args, env, false);
    this.children.add(child);
    if (operationId) this.byOperation.set(operationId, child);
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
      log?.write(chunk);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('close', () => log?.end());
    const running = new AbortController();
    void this.whileRunning?.(addonIds, running.signal).catch(() => undefined);
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve) =>
        child.once('exit', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal })),
    );
    running.abort();
    this.children.delete(child);
    if (operationId) this.byOperation.delete(operationId);
    this.prepareStandby(args);
    if (code === 0) return { StopCode: 'EssentialContainerExited', Containers: [{ ExitCode: 0 }] };
    throw new TaskFailedError(
      `The job ${signal ? `was killed (${signal})` : `exited with ${code}`}: ${lastError(tail)}`,
    );
  }

  private spawnJob(args: string[], env: Record<string, string>, standby: boolean): ChildProcess {
    const job = jobCommandLine(args);
    const child = spawn(job.command, job.args, {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        ...env,
        ...(standby ? { [STANDBY_ENV]: '1' } : {}),
      },
      stdio: [standby ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      // A session of its own, whose scheduling group is lowered too (lowerSession): in the
      // platform's session it would share the platform's group. It still stops with the platform:
      // `shutdown` ends it, and it exits by itself when orphaned (shared/jobs/job-process.ts).
      detached: true,
    });
    if (child.pid !== undefined) void lowerSession(child.pid);
    return child;
  }

  /**
   * A job process started ahead, once a job has run (a platform that ran one tends to run more):
   * it loads its code (about 1 s of CPU) and waits on stdin for the next job's environment, so
   * that job starts without that wait, as a warm task would. Without one, a job starts afresh.
   */
  private prepareStandby(args: string[]) {
    if (this.stopping || this.standby) return;
    const standby = this.spawnJob(args, this.env, true);
    standby.on('error', () => undefined);
    standby.stdin?.on('error', () => undefined);
    standby.once('exit', () => {
      if (this.standby === standby) this.standby = undefined;
      this.children.delete(standby);
    });
    this.standby = standby;
    this.children.add(standby);
  }

  /** The standby, given the job's container overrides, if there is a live one. */
  private takeStandby(args: string[], overrides: Array<{ Name: string; Value: string }>) {
    const standby = this.standby;
    this.standby = undefined;
    if (!standby?.stdin?.writable || standby.exitCode !== null || standby.signalCode !== null)
      return undefined;
    if (standby.spawnargs.slice(1).join('\0') !== jobCommandLine(args).args.join('\0')) {
      standby.kill('SIGTERM');
      return undefined;
    }
    standby.stdin.end(
      `${JSON.stringify(Object.fromEntries(overrides.map(({ Name, Value }) => [Name, Value])))}\n`,
    );
    return standby;
  }

  /** The pid of the job process waiting for the next job, if any (tests). */
  get standbyPid(): number | undefined {
    return this.standby?.pid;
  }

  /** The job's log file, when the runner keeps them; a log that cannot be opened never fails the job. */
  private async openLog(operationId: string | undefined): Promise<WriteStream | undefined> {
    if (!this.logDir || !operationId || !/^[\w.-]+$/.test(operationId)) return undefined;
    try {
      await mkdir(this.logDir, { recursive: true, mode: 0o700 });
      const stream = createWriteStream(join(this.logDir, `${operationId}.log`), { flags: 'a', mode: 0o600 });
      stream.on('error', () => undefined);
      return stream;
    } catch {
      return undefined;
    }
  }

  /** Stop the job of one operation (an abort), as Step Functions stops the ECS task of a stopped execution. */
  async cancel(operationId: string): Promise<void> {
    if (this.starting.has(operationId)) this.cancelled.add(operationId);
    const child = this.byOperation.get(operationId);
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  }

  /** Stop every job (Ctrl-C): their operations resume at the next start. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    const exits = [...this.children].map(
      (child) =>
        new Promise<void>((resolve) =>
          child.exitCode !== null ? resolve() : child.once('exit', () => resolve()),
        ),
    );
    for (const child of this.children) child.kill('SIGTERM');
    await Promise.all(exits);
  }
}

/** A job's command line: below the platform's CPU priority from its start, its threads and the tools it runs too. */
const jobCommandLine = (args: string[]) => niced(BACKGROUND_NICENESS, process.execPath, args);

/** The job logs JSON lines; the last error message is what a user needs to read. */
const lastError = (tail: string): string => {
  const lines = tail.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      const entry = JSON.parse(line) as { level?: string; message?: string; error?: string };
      if (entry.level === 'error' || entry.error) return entry.error ?? entry.message ?? line;
    } catch {
      // not a JSON line
    }
  }
  return lines[0] ?? 'no output';
};

/** What the runner reads of a job's spec: its operation, and the addons it works on (its own, and a live import's source). */
const specOf = (spec: string | undefined): { operationId?: string; addonIds: string[] } => {
  try {
    const { operationId, addonId, sourceSecret } = JSON.parse(spec ?? '{}') as {
      operationId?: unknown;
      addonId?: unknown;
      sourceSecret?: { addonId?: unknown };
    };
    return {
      ...(typeof operationId === 'string' ? { operationId } : {}),
      addonIds: [addonId, sourceSecret?.addonId].filter((id): id is string => typeof id === 'string'),
    };
  } catch {
    return { addonIds: [] };
  }
};
