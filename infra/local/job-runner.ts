import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { lowerPriority, PRIORITY } from './engines/system.ts';
import type { JobCommand } from './job-bundle.ts';

/** Named like the Step Functions error of a failed ECS task, so the ASL Catch is the same on both targets. */
export class TaskFailedError extends Error {
  override name = 'States.TaskFailed';
}

interface RunTaskParameters {
  Overrides?: { ContainerOverrides?: Array<{ Environment?: Array<{ Name: string; Value: string }> }> };
}

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
  private stopping = false;

  /**
   * `command` is how to start a job (infra/local/job-bundle.ts builds it); without one, the job
   * runs from its TypeScript sources through tsx.
   */
  constructor(
    private readonly env: Record<string, string>,
    private readonly command: Promise<JobCommand> = Promise.resolve({ args: ['--import', 'tsx', JOB_ENTRY] }),
  ) {}

  async run(input: unknown): Promise<unknown> {
    const parameters = input as RunTaskParameters;
    const overrides = parameters.Overrides?.ContainerOverrides?.[0]?.Environment ?? [];
    const env: Record<string, string> = { ...this.env };
    for (const { Name, Value } of overrides) env[Name] = Value;
    const operationId = operationOf(env.JOB_SPEC);
    if (operationId) this.starting.add(operationId);
    const { args } = await this.command.finally(() => operationId && this.starting.delete(operationId));
    // Cancelled (or shut down) while the job bundle was being built: the job never starts.
    if ((operationId && this.cancelled.delete(operationId)) || this.stopping) {
      throw new TaskFailedError('The job was killed (SIGTERM) before it started');
    }
    const child = spawn(process.execPath, args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Before the job starts its tools (pg_dump, zstd...), which inherit it.
    lowerPriority(child.pid, PRIORITY.background);
    this.children.add(child);
    if (operationId) this.byOperation.set(operationId, child);
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve) =>
        child.once('exit', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal })),
    );
    this.children.delete(child);
    if (operationId) this.byOperation.delete(operationId);
    if (code === 0) return { StopCode: 'EssentialContainerExited', Containers: [{ ExitCode: 0 }] };
    throw new TaskFailedError(
      `The job ${signal ? `was killed (${signal})` : `exited with ${code}`}: ${lastError(tail)}`,
    );
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

const operationOf = (spec: string | undefined): string | undefined => {
  try {
    return (JSON.parse(spec ?? '{}') as { operationId?: string }).operationId;
  } catch {
    return undefined;
  }
};
