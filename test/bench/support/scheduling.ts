import { readFileSync } from 'node:fs';

const read = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
};

/**
 * How the kernel shares the CPU among the processes of a run, which decides what nice values can
 * do (docs/performance.md, "Reads under load", item 8). With Linux autogroup on and the process in
 * the root CPU cgroup, every session is a scheduling group of its own, weighted by its group's
 * nice value, not by its processes'; PostgreSQL backends each start a session, so each weighs as
 * much as the whole platform process unless this session's group is raised.
 */
export const schedulingContext = (): string => {
  const autogroup = read('/proc/sys/kernel/sched_autogroup_enabled');
  if (autogroup === undefined) return 'scheduling: no Linux autogroup (nice values order every process)';
  const cgroups = read('/proc/self/cgroup') ?? '';
  const cpu = /^\d+:(?:[^:]*\bcpu\b[^:]*|):(.*)$/m.exec(cgroups)?.[1] ?? '?';
  if (autogroup !== '1' || cpu !== '/') {
    return `scheduling: autogroup ${autogroup === '1' ? `on but bypassed (cpu cgroup ${cpu})` : 'off'}: nice values order every process`;
  }
  return `scheduling: Linux autogroup in effect (each session, so each PostgreSQL backend, is a group of its own); this session's group: ${read('/proc/self/autogroup') ?? '?'}`;
};
