/**
 * Counters to rates. Engines and the kernel count up (transactions, bytes, CPU ticks); a series
 * shows how fast they rise. A counter that went down was reset (the server restarted, the
 * process is another one): that interval has no rate rather than a negative one.
 */
export type Counters = Record<string, number>;

/** Increase of each counter present in both samples; reset counters are left out. */
export const counterDeltas = (previous: Counters, current: Counters): Counters => {
  const deltas: Counters = {};
  for (const [key, value] of Object.entries(current)) {
    const before = previous[key];
    if (before === undefined || !Number.isFinite(before) || !Number.isFinite(value) || value < before)
      continue;
    deltas[key] = value - before;
  }
  return deltas;
};

/** Per-second rate of each delta over `seconds` (none when no time passed). */
export const ratesOf = (deltas: Counters, seconds: number): Counters => {
  if (!(seconds > 0)) return {};
  return Object.fromEntries(Object.entries(deltas).map(([key, delta]) => [key, delta / seconds]));
};

/** Remembers the last counters of each key (an addon, a process) and turns the next ones into rates. */
export class RateTracker {
  private readonly last = new Map<string, { time: number; counters: Counters }>();

  /** Rates since the previous sample of `key` (empty on its first sample). `time` in seconds. */
  rates(key: string, time: number, counters: Counters): Counters {
    const previous = this.last.get(key);
    this.last.set(key, { time, counters });
    if (!previous) return {};
    return ratesOf(counterDeltas(previous.counters, counters), time - previous.time);
  }

  forget(key: string): void {
    this.last.delete(key);
  }

  keys(): string[] {
    return [...this.last.keys()];
  }
}
