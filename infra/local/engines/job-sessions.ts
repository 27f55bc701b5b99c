import { setTimeout as delay } from 'node:timers/promises';
import { lowerChildProcess } from '../priority.ts';
import type { InstanceContext } from './driver.ts';
import type { EngineDrivers } from './engine-drivers.ts';

/** How often the sessions of a running job are looked for: a new one runs at 0 for at most this long. */
const LOOK_EVERY_MS = 500;

/**
 * Runs the server-side sessions of the platform's jobs (a dump's, a restore's) below the
 * customers' own, while `signal` lasts, on the instances named. The jobs themselves run below the
 * platform (job-runner.ts), but the work they ask of the server runs in the server's processes:
 * where the engine runs each session as a process of its own (`EngineDriver.jobSessions`), that
 * process gets the jobs' priority too, and, under Linux autogroup, so does its session's group
 * (PostgreSQL backends each start a session: each would weigh as much as the whole platform;
 * docs/performance.md, "Reads under load"). Engines that serve sessions from threads of one server
 * process have nothing to lower here: the server is one group, at the customers' priority.
 */
export const lowerJobSessions = async (options: {
  serving: () => Array<{ ctx: InstanceContext; pid: number }>;
  drivers: EngineDrivers;
  resourceIds: readonly string[];
  signal: AbortSignal;
}): Promise<void> => {
  const { signal } = options;
  const watched = new Map<string, { reader: JobSessionReader; seen: Set<number> }>();
  try {
    while (!signal.aborted) {
      for (const { ctx, pid: serverPid } of options.serving()) {
        if (!options.resourceIds.includes(ctx.resourceId)) continue;
        let entry = watched.get(ctx.resourceId);
        if (!entry) {
          const reader = options.drivers.find(ctx.record.engine)?.jobSessions?.(ctx);
          if (!reader) continue;
          entry = { reader, seen: new Set() };
          watched.set(ctx.resourceId, entry);
        }
        // A server restarting or stopping answers nothing this time; the next look tries again.
        const pids = await entry.reader.pids().catch((): number[] => []);
        for (const pid of pids) {
          if (entry.seen.has(pid)) continue;
          entry.seen.add(pid);
          await lowerChildProcess(pid, serverPid);
        }
        for (const pid of entry.seen) if (!pids.includes(pid)) entry.seen.delete(pid);
      }
      await delay(LOOK_EVERY_MS, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    await Promise.all([...watched.values()].map(({ reader }) => reader.close()));
  }
};

/** The pids of the server processes serving the platform's jobs' sessions, on one instance. */
export interface JobSessionReader {
  pids(): Promise<number[]>;
  close(): Promise<void>;
}
