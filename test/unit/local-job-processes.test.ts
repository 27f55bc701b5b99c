import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type JobProcess, JobProcesses } from '#infra/local/job-processes.ts';
import { eventually, processAlive, sessionOf } from '../support/processes.ts';

/**
 * The job processes start from a thread of their own (job-processes.ts): a spawn, which waits for
 * the child's exec, never holds the platform's event loop. They are still the platform process's
 * children, each in a session of its own, and the job runner hears their output and their end.
 */
// On this thread spawning fails: every process below is started by the module's own thread, which
// loads the real node:child_process (a worker thread does not share this thread's modules).
vi.mock('node:child_process', () => ({
  spawn: () => {
    throw new Error('spawn() called on the calling thread');
  },
}));

let processes: JobProcesses | undefined;
afterEach(async () => {
  await processes?.stop();
  processes = undefined;
});

const start = (command: string, args: string[], stdin = false) => {
  processes ??= new JobProcesses();
  return processes.start(command, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdin });
};

const outputOf = (job: JobProcess) => {
  const chunks: Buffer[] = [];
  job.onOutput((chunk) => chunks.push(chunk));
  return () => Buffer.concat(chunks).toString();
};

/** This process's children whose command line includes `marker`, read from /proc. */
const childrenWith = (marker: string): number[] =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return parent === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);

describe('job processes', () => {
  it('are started by another thread, even while the calling one is busy: a spawn is not on its event loop', async () => {
    const marker = `job-processes-${process.pid}-${Date.now()}`;
    const job = start('sh', ['-c', `sleep 30 # ${marker}`]);
    // Busy, without yielding: only another thread can start the process meanwhile.
    const deadline = Date.now() + 10_000;
    let found: number[] = [];
    while (found.length === 0 && Date.now() < deadline) found = childrenWith(marker);

    expect(found).toHaveLength(1);
    const pid = await eventually('its pid reported', async () => job.pid);
    expect(pid).toBe(found[0]);
    expect(sessionOf(pid)).toBe(pid);
    job.kill('SIGTERM');
    expect(await job.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(processAlive(pid)).toBe(false);
    expect(job.running).toBe(false);
  }, 30_000);

  it('hands over its output in order, then its exit code', async () => {
    const job = start('sh', ['-c', 'echo one; echo two >&2; sleep 0.1; echo three; exit 3']);
    const output = outputOf(job);

    expect(await job.exited).toEqual({ code: 3, signal: null });
    await job.closed;
    expect(output()).toBe('one\ntwo\nthree\n');
  });

  it('writes to the stdin of a process started with one', async () => {
    const job = start('sh', ['-c', 'read line; echo "got $line"'], true);
    const output = outputOf(job);
    job.send('the job environment\n');

    expect(await job.exited).toEqual({ code: 0, signal: null });
    await job.closed;
    expect(output()).toBe('got the job environment\n');
  });

  it('ends one that cannot be started, saying why', async () => {
    const job = start('/nonexistent/job', []);

    expect(await job.exited).toMatchObject({
      code: null,
      signal: null,
      error: expect.stringMatching(/ENOENT/),
    });
    await job.closed;
    expect(job.pid).toBeUndefined();
  });
});
