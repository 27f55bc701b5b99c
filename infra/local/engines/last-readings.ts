/** One key's reading under way and the value last read, which answers while the next one runs. */
interface Entry<T> {
  at: number;
  tag: string;
  reading: Promise<T>;
  last?: { value: T };
}

/**
 * Values that take a slow reading to know (an instance's restorable window lists its archive; its
 * storage use walks its data directory), shown by every `GET` of an addon while a console polls.
 * A value read less than `maxAgeMs` ago answers as is, concurrent callers sharing one reading; past
 * that, the value last read answers at once while it is read again: under load a reading takes
 * seconds, and a `GET` must not wait for it. Only a first reading is waited for (after a start, a
 * `forget`, a failed first reading, or a change of `tag`: what the value was read from).
 */
export class LastReadings<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly maxAgeMs: number) {}

  /** `key`'s value as above; `fresh` starts a reading and waits for it (what must not be stale). */
  get(key: string, read: () => Promise<T>, options: { tag?: string; fresh?: boolean } = {}): Promise<T> {
    const tag = options.tag ?? '';
    let entry = this.entries.get(key);
    if (entry && entry.tag !== tag) entry = undefined;
    if (options.fresh) return this.start(key, tag, read, entry?.last).reading;
    if (!entry || Date.now() - entry.at >= this.maxAgeMs) entry = this.start(key, tag, read, entry?.last);
    return entry.last ? Promise.resolve(entry.last.value) : entry.reading;
  }

  /** What `key` was read from changed in a way the last value must not outlive: the next caller waits. */
  forget(key: string): void {
    this.entries.delete(key);
  }

  /** `key` is read again at the next call, the last value answering meanwhile. */
  expire(key: string): void {
    const entry = this.entries.get(key);
    if (entry) entry.at = 0;
  }

  private start(key: string, tag: string, read: () => Promise<T>, last: Entry<T>['last']): Entry<T> {
    const reading = read();
    const entry: Entry<T> = { at: Date.now(), tag, reading, ...(last ? { last } : {}) };
    this.entries.set(key, entry);
    reading.then(
      (value) => {
        if (this.entries.get(key) === entry) entry.last = { value };
      },
      // A failure is not kept: the next caller reads again, the last value answering meanwhile.
      () => {
        if (this.entries.get(key) !== entry) return;
        if (last) this.entries.set(key, { at: 0, tag, reading: Promise.resolve(last.value), last });
        else this.entries.delete(key);
      },
    );
    return entry;
  }
}
