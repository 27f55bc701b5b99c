/**
 * Peak memory of the job processes a local platform runs in this process: the job's Node.js
 * process (its bundle or its sources) and everything it starts (pg_dump, zstd, pg_restore, psql).
 * Sampled from /proc: each process's VmHWM is its own high-water mark, so a sample taken any time
 * before it exits sees its peak; the tree's peak is bounded by the sum of those.
 */
import { readdir, readFile } from 'node:fs/promises';

const JOB_ENTRY = /addons-jobs\/main-|functions\/jobs\/main\.ts/;

const readProc = (pid: string, file: string) => readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => '');

export class JobRssSampler {
  /** Peak RSS by pid, and which pid is a job's Node.js process. */
  private readonly peaks = new Map<string, number>();
  private readonly jobPids = new Set<string>();

  /** One look at every process below this one; call it often while a job runs. */
  async sample(): Promise<void> {
    const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
    const parents = new Map<string, string>();
    await Promise.all(
      pids.map(async (pid) => {
        const stat = await readProc(pid, 'stat');
        const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
        if (ppid) parents.set(pid, ppid);
      }),
    );
    const self = String(process.pid);
    const inJob = async (pid: string): Promise<boolean> => {
      for (let current = pid; current !== self; ) {
        if (this.jobPids.has(current)) return true;
        const parent = parents.get(current);
        if (!parent) return false;
        if (parent === self) {
          if (!JOB_ENTRY.test(await readProc(current, 'cmdline'))) return false;
          this.jobPids.add(current);
          return true;
        }
        current = parent;
      }
      return false;
    };
    for (const pid of parents.keys()) {
      if (!(await inJob(pid))) continue;
      const hwm = /VmHWM:\s+(\d+) kB/.exec(await readProc(pid, 'status'))?.[1];
      if (hwm) this.peaks.set(pid, Math.max(this.peaks.get(pid) ?? 0, Number(hwm) * 1024));
    }
  }

  /** Peaks since the last reset: the job's Node.js process, and the sum over its whole tree. */
  take(): { nodeBytes: number; treeBytes: number } {
    let nodeBytes = 0;
    let treeBytes = 0;
    for (const [pid, bytes] of this.peaks) {
      if (this.jobPids.has(pid)) nodeBytes = Math.max(nodeBytes, bytes);
      treeBytes += bytes;
    }
    this.peaks.clear();
    this.jobPids.clear();
    return { nodeBytes, treeBytes };
  }
}
