import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { isMainThread, type MessagePort, parentPort, type Worker, workerData } from 'node:worker_threads';
import { platformThread } from './platform-thread.ts';
import { lowerSession } from './priority.ts';

/**
 * The job processes are started from a worker thread of the platform's process, not from its event
 * loop. `spawn()` returns only once the child has exec'd (libuv waits for an exec failure to
 * report): the fork copies the platform's page tables, and on a busy machine the child waits for a
 * CPU before it gets to exec. The gateway's loop waited with it, about 17 ms per spawn and 100
 * spawns a minute under 8 concurrent backups and restores (docs/performance.md, "Reads under
 * load"). On this thread only this thread waits.
 *
 * The jobs are still children of the platform's process: they stop with it as before (`shutdown`
 * ends them; an orphaned job exits by itself, shared/jobs/job-process.ts), and a crash of the
 * process ends the thread with it.
 */

export interface JobProcessOptions {
  env: Record<string, string>;
  /** Its stdin a pipe, for `send` (a standby job waiting for its job's environment); else none. */
  stdin: boolean;
}

/** How a job process ended: its exit code or signal; `error` when it could not be started at all. */
export interface JobExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: string;
}

/** One job process, as the job runner sees it from the platform's thread. */
export interface JobProcess {
  /** The command and its arguments, as started. */
  readonly commandLine: readonly string[];
  /** Its pid once it started (a moment after `start`), else undefined. */
  readonly pid: number | undefined;
  /** It has not exited yet, as far as this thread has heard. */
  readonly running: boolean;
  /** Resolves when it exits (or could not start). */
  readonly exited: Promise<JobExit>;
  /** Resolves once its output has all been delivered too (after `exited`). */
  readonly closed: Promise<void>;
  /** Its stdout and stderr, chunk by chunk, in order. */
  onOutput(listener: (chunk: Buffer) => void): void;
  /** Writes `text` to its stdin and closes it (a process started with `stdin`). */
  send(text: string): void;
  kill(signal?: NodeJS.Signals): void;
}

type ToThread =
  | { type: 'start'; id: number; command: string; args: string[]; options: JobProcessOptions }
  | { type: 'send'; id: number; text: string }
  | { type: 'kill'; id: number; signal: NodeJS.Signals };

type FromThread =
  | { type: 'started'; id: number; pid: number }
  | { type: 'output'; id: number; chunk: Uint8Array }
  | { type: 'exit'; id: number; exit: JobExit }
  | { type: 'close'; id: number };

const KIND = 'job-processes';
const CLOSE_WAIT_MS = 2_000;

class RemoteJobProcess implements JobProcess {
  pid: number | undefined;
  running = true;
  readonly exited: Promise<JobExit>;
  readonly closed: Promise<void>;
  private readonly listeners: Array<(chunk: Buffer) => void> = [];
  private resolveExit!: (exit: JobExit) => void;
  private resolveClose!: () => void;

  constructor(
    readonly commandLine: readonly string[],
    private readonly post: (message: ToThread) => void,
    private readonly id: number,
  ) {
    this.exited = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
    this.closed = new Promise((resolve) => {
      this.resolveClose = resolve;
    });
  }

  onOutput(listener: (chunk: Buffer) => void): void {
    this.listeners.push(listener);
  }

  send(text: string): void {
    this.post({ type: 'send', id: this.id, text });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.post({ type: 'kill', id: this.id, signal });
  }

  /** A message of its thread about it; true once it is done with (exited and closed). */
  receive(message: FromThread): boolean {
    if (message.type === 'started') this.pid = message.pid;
    else if (message.type === 'output') {
      const chunk = Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength);
      for (const listener of this.listeners) listener(chunk);
    } else if (message.type === 'exit') {
      this.running = false;
      this.resolveExit(message.exit);
    } else {
      this.resolveClose();
      return true;
    }
    return false;
  }
}

/**
 * Starts job processes from a thread of their own (above). The thread starts with the first job
 * and keeps the process alive only while a job runs.
 */
export class JobProcesses {
  private worker: Worker | undefined;
  private readonly processes = new Map<number, RemoteJobProcess>();
  private nextId = 1;

  start(command: string, args: string[], options: JobProcessOptions): JobProcess {
    const worker = this.thread();
    const id = this.nextId++;
    const job = new RemoteJobProcess([command, ...args], (message) => worker.postMessage(message), id);
    this.processes.set(id, job);
    worker.ref();
    worker.postMessage({ type: 'start', id, command, args, options } satisfies ToThread);
    return job;
  }

  /**
   * Ends the thread, once its jobs have exited (the job runner's `shutdown` waits for that) and
   * their last output is delivered (at most CLOSE_WAIT_MS more: a process a job left behind may
   * hold its output open).
   */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    const closed = Promise.all([...this.processes.values()].map((job) => job.closed));
    await Promise.race([closed, delay(CLOSE_WAIT_MS, undefined, { ref: false })]);
    await worker.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = platformThread(import.meta.url, { kind: KIND });
    worker.on('message', (message: FromThread) => {
      if (!this.processes.get(message.id)?.receive(message)) return;
      this.processes.delete(message.id);
      if (this.processes.size === 0) worker.unref();
    });
    worker.on('error', (error) => {
      // Nothing it started can be heard of any more: each ends as a job that could not run.
      for (const job of this.processes.values()) {
        job.receive({ type: 'exit', id: 0, exit: { code: null, signal: null, error: error.message } });
        job.receive({ type: 'close', id: 0 });
      }
      this.processes.clear();
      if (this.worker === worker) this.worker = undefined;
    });
    this.worker = worker;
    return worker;
  }
}

/** The thread's side: starts each process, and reports its pid, output and end. */
const serve = (port: MessagePort) => {
  const children = new Map<number, ChildProcess>();
  const post = (message: FromThread) => port.postMessage(message);
  const start = ({ id, command, args, options }: Extract<ToThread, { type: 'start' }>) => {
    const child = spawn(command, args, {
      env: options.env,
      stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      // A session of its own, whose scheduling group is lowered too (lowerSession): in the
      // platform's session it would share the platform's group. It still stops with the platform:
      // `shutdown` ends it, and it exits by itself when orphaned (shared/jobs/job-process.ts).
      detached: true,
    });
    children.set(id, child);
    child.stdin?.on('error', () => undefined);
    const output = (chunk: Buffer) => post({ type: 'output', id, chunk });
    child.stdout?.on('data', output);
    child.stderr?.on('data', output);
    let exited = false;
    const exit = (exit: JobExit) => {
      if (exited) return;
      exited = true;
      post({ type: 'exit', id, exit });
    };
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      children.delete(id);
      post({ type: 'close', id });
    };
    child.once('exit', (code, signal) => exit({ code, signal }));
    child.once('close', close);
    child.on('error', (error) => {
      if (child.pid !== undefined) return; // a signal it could not be sent: it runs on
      exit({ code: null, signal: null, error: error.message });
      close();
    });
    if (child.pid !== undefined) {
      post({ type: 'started', id, pid: child.pid });
      void lowerSession(child.pid);
    }
  };
  port.on('message', (message: ToThread) => {
    if (message.type === 'start') start(message);
    else if (message.type === 'send') children.get(message.id)?.stdin?.end(message.text);
    else children.get(message.id)?.kill(message.signal);
  });
};

if (!isMainThread && parentPort && (workerData as { kind?: string } | undefined)?.kind === KIND) {
  serve(parentPort);
}
