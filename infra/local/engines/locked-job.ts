import { errorMessage } from '#shared/errors.ts';
import type { Log } from './instance-files.ts';
import type { Activity, InstanceLocks } from './instance-locks.ts';

/** Work this process runs in the background on an instance (a snapshot or a restore). */
export interface LockedJob {
  abort: AbortController;
  /** Settles (never rejects) once the attempt is over and its outcome is on disk. */
  done: Promise<void>;
}

export interface LockedJobStart<J extends LockedJob> {
  jobs: Map<string, J>;
  key: string;
  job: J;
  resourceId: string;
  snapshotId: string;
  activity: Activity;
  /** Logged with the error; the outcome itself is what `work` wrote on disk. */
  failure: string;
  work: (signal: AbortSignal) => Promise<void>;
}

/**
 * Runs `work` under the instance's lock, abortable by the job or by shutdown, listed in `jobs`
 * under `key` until it settles.
 */
export const startLockedJob = <J extends LockedJob>(
  deps: { locks: InstanceLocks; log: Log; shutdownSignal: () => AbortSignal },
  { jobs, key, job, resourceId, snapshotId, activity, failure, work }: LockedJobStart<J>,
): void => {
  jobs.set(key, job);
  const signal = AbortSignal.any([job.abort.signal, deps.shutdownSignal()]);
  job.done = deps.locks
    .exclusive(resourceId, activity, () => work(signal))
    .catch((error: unknown) => {
      deps.log(failure, { resourceId, snapshotId, error: errorMessage(error) });
    })
    .finally(() => {
      if (jobs.get(key) === job) jobs.delete(key);
    });
};
