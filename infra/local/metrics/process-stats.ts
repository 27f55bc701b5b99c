import { lstat, readdir, readFile, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Counters } from './counters.ts';

/**
 * What the kernel says about a server's processes (the server and its children: PostgreSQL's
 * backends are processes of their own). CPU and I/O are counters per process; the sampler turns
 * each process's increase into a rate, so a backend that exits between two samples does not
 * make the total go down (the part of its life since the last sample is not counted).
 */
export interface ProcessTreeSample {
  /** `<pid>:cpu` (clock ticks, user + system), `<pid>:read`, `<pid>:write` (bytes from storage). */
  counters: Counters;
  /** Proportional set size of the processes (bytes): shared memory counted once overall. */
  memoryBytes: number | undefined;
  processes: number;
}

/** Linux's USER_HZ, fixed at 100 for user space on every architecture Node runs on. */
export const CLOCK_TICKS_PER_SECOND = 100;
const MAX_PROCESSES = 4_096;

const readText = (file: string): Promise<string | undefined> => readFile(file, 'utf8').catch(() => undefined);

/** The pid and its descendants, breadth first (bounded). */
export const processTree = async (pid: number): Promise<number[]> => {
  const found = [pid];
  for (let index = 0; index < found.length && found.length < MAX_PROCESSES; index += 1) {
    const current = found[index] as number;
    const children = await readText(`/proc/${current}/task/${current}/children`);
    for (const child of children?.trim().split(/\s+/) ?? []) {
      const childPid = Number(child);
      if (Number.isInteger(childPid) && childPid > 0) found.push(childPid);
    }
  }
  return found;
};

/** utime + stime (fields 14 and 15 of /proc/<pid>/stat, after the parenthesised command). */
export const cpuTicksOf = (stat: string): number | undefined => {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : undefined;
};

const fieldOf = (text: string | undefined, name: string): number | undefined => {
  const match = text ? new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text) : null;
  return match?.[1] === undefined ? undefined : Number(match[1]);
};

export const sampleProcessTree = async (pid: number): Promise<ProcessTreeSample> => {
  const pids = await processTree(pid);
  const counters: Counters = {};
  let memoryBytes: number | undefined;
  await Promise.all(
    pids.map(async (each) => {
      const [stat, io, rollup] = await Promise.all([
        readText(`/proc/${each}/stat`),
        readText(`/proc/${each}/io`),
        readText(`/proc/${each}/smaps_rollup`),
      ]);
      const ticks = stat ? cpuTicksOf(stat) : undefined;
      if (ticks !== undefined) counters[`${each}:cpu`] = ticks;
      const read = fieldOf(io, 'read_bytes');
      const write = fieldOf(io, 'write_bytes');
      if (read !== undefined) counters[`${each}:read`] = read;
      if (write !== undefined) counters[`${each}:write`] = write;
      const pssKiB = fieldOf(rollup, 'Pss');
      if (pssKiB !== undefined) memoryBytes = (memoryBytes ?? 0) + pssKiB * 1024;
    }),
  );
  return { counters, memoryBytes, processes: pids.length };
};

/** Sums per-process rates (`<pid>:<kind>`) by kind. */
export const sumByKind = (rates: Counters): Record<'cpu' | 'read' | 'write', number | undefined> => {
  const sums: Record<'cpu' | 'read' | 'write', number | undefined> = {
    cpu: undefined,
    read: undefined,
    write: undefined,
  };
  for (const [key, rate] of Object.entries(rates)) {
    const kind = key.slice(key.indexOf(':') + 1) as 'cpu' | 'read' | 'write';
    if (kind in sums) sums[kind] = (sums[kind] ?? 0) + rate;
  }
  return sums;
};

/** Bytes allocated on disk under `dir` (blocks, so sparse files count what they use). */
export const directoryBytes = async (dir: string): Promise<number> => {
  let total = 0;
  const pending = [dir];
  for (let current = pending.pop(); current !== undefined; current = pending.pop()) {
    const entries = await readdir(current, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else {
        const info = await lstat(full).catch(() => undefined);
        if (info) total += info.blocks * 512;
      }
    }
  }
  return total;
};

/** Bytes an unprivileged writer can still use on the file system of `dir`. */
export const freeBytes = async (dir: string): Promise<number | undefined> => {
  const info = await statfs(dir).catch(() => undefined);
  return info ? info.bavail * info.bsize : undefined;
};
