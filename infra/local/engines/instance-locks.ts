export type Activity = 'creating' | 'starting' | 'deleting' | 'snapshotting' | 'restoring';

/** Operations on one instance run one at a time (a retried task may overlap the attempt it retries). */
export class InstanceLocks {
  private readonly locks = new Map<string, Promise<void>>();
  private readonly activities = new Map<string, Activity>();

  /** What the operation holding the instance's lock is doing, if it said. */
  activity(id: string): Activity | undefined {
    return this.activities.get(id);
  }

  /** Instances with an operation running or queued. */
  ids(): string[] {
    return [...this.locks.keys()];
  }

  async exclusive<T>(id: string, activity: Activity | undefined, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const current = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => current);
    this.locks.set(id, tail);
    await previous;
    if (activity) this.activities.set(id, activity);
    try {
      return await fn();
    } finally {
      if (activity) this.activities.delete(id);
      release();
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }
}
