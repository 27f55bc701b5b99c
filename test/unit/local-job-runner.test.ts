import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildJobBundle } from '#infra/local/job-bundle.ts';
import { LocalJobRunner } from '#infra/local/job-runner.ts';
import { BACKGROUND_NICENESS } from '#infra/local/priority.ts';
import { autogroupNice, eventually, processAlive, sessionOf, threadNiceness } from '../support/processes.ts';

/** What the state machine hands `ecs:runTask.sync`: here a spec the job refuses, naming its fields. */
const runTask = (operationId: string) => ({
  Overrides: {
    ContainerOverrides: [
      { Environment: [{ Name: 'JOB_SPEC', Value: JSON.stringify({ kind: 'dump', operationId }) }] },
    ],
  },
});

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

const platformGroupNice = autogroupNice(process.pid);

describe('the local job runner', () => {
  it('keeps each job log, runs the next job in a process started ahead with its environment, below the platform priority', async () => {
    const logDir = await mkdtemp(join(tmpdir(), 'addons-job-runner-'));
    dirs.push(logDir);
    const runner = new LocalJobRunner({ ADDONS_LOG_LEVEL: 'INFO' }, buildJobBundle(), logDir);
    try {
      await expect(runner.run(runTask('op-first'))).rejects.toThrow(/Invalid job spec/);
      const standby = runner.standbyPid as number;
      expect(standby).toBeGreaterThan(0);
      expect(processAlive(standby)).toBe(true);
      // Below the platform's CPU priority from its start: every thread of the job process, not
      // only the one a setpriority(pid) after spawn() would reach (the tools it runs inherit it).
      const niceness = await eventually('the standby job to start its threads', async () => {
        const threads = threadNiceness(standby);
        return threads.length > 1 ? threads : undefined;
      });
      expect(new Set(niceness)).toEqual(new Set([Math.min(19, getPriority() + BACKGROUND_NICENESS)]));
      // In a session of its own, whose scheduling group is lowered as well: under Linux autogroup
      // the platform's session would otherwise share its group with every job.
      expect(sessionOf(standby)).toBe(standby);
      await eventually('the standby session lowered', async () =>
        autogroupNice(standby) === BACKGROUND_NICENESS ? true : undefined,
      );
      expect(autogroupNice(process.pid)).toBe(platformGroupNice);

      // The spec reached the standby (no spec at all would read "No job spec"), which then ran and exited.
      await expect(runner.run(runTask('op-second'))).rejects.toThrow(/Invalid job spec/);
      expect(processAlive(standby)).toBe(false);
      const next = runner.standbyPid as number;
      expect(next).toBeGreaterThan(0);
      expect(next).not.toBe(standby);

      for (const operationId of ['op-first', 'op-second']) {
        const log = await readFile(join(logDir, `${operationId}.log`), 'utf8');
        expect(JSON.parse(log.trim().split('\n').at(-1) as string)).toMatchObject({
          level: 'error',
          message: 'job not started',
          error: expect.stringMatching(/^Invalid job spec/),
        });
      }
      await runner.shutdown();
      expect(processAlive(next)).toBe(false);
      expect(runner.standbyPid).toBeUndefined();
    } finally {
      await runner.shutdown();
    }
  }, 60_000);

  it('tells what runs beside a job the addons the job works on, until the job ends', async () => {
    const calls: Array<{ addonIds: string[]; signal: AbortSignal; abortedAtStart: boolean }> = [];
    const runner = new LocalJobRunner(
      { ADDONS_LOG_LEVEL: 'INFO' },
      buildJobBundle(),
      undefined,
      async (addonIds, signal) => {
        calls.push({ addonIds, signal, abortedAtStart: signal.aborted });
      },
    );
    const spec = {
      kind: 'live-import',
      operationId: 'op-beside',
      addonId: 'adn-target',
      sourceSecret: { addonId: 'adn-source' },
    };
    try {
      await expect(
        runner.run({
          Overrides: {
            ContainerOverrides: [{ Environment: [{ Name: 'JOB_SPEC', Value: JSON.stringify(spec) }] }],
          },
        }),
      ).rejects.toThrow(/Invalid job spec/);
      expect(calls).toHaveLength(1);
      expect(calls[0]?.addonIds).toEqual(['adn-target', 'adn-source']);
      expect(calls[0]?.abortedAtStart).toBe(false);
      expect(calls[0]?.signal.aborted).toBe(true);
    } finally {
      await runner.shutdown();
    }
  }, 60_000);
});
