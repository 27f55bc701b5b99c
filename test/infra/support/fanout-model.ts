import type { Context } from 'aws-lambda';

/**
 * Pieces of the scheduled fan-out simulation (test/infra/scheduled-fanout.test.ts), all in
 * virtual time: they read `Date.now()` and wait with `setTimeout`, which the test fakes.
 */

/**
 * A virtual clock for simulations with tens of thousands of pending timers (vitest's fake
 * timers scan every pending timer at each step, which is quadratic here): `install` replaces
 * the global setTimeout/clearTimeout with a heap; `run` fires them in time order, setting the
 * (faked) system time to each one's moment, and lets all promise work settle in between.
 */
export class VirtualClock {
  private heap: Array<{ at: number; seq: number; fn: () => void; cancelled: boolean }> = [];
  private seq = 0;
  private saved: { setTimeout: typeof setTimeout; clearTimeout: typeof clearTimeout } | undefined;
  steps = 0;

  constructor(
    public now: number,
    private readonly setSystemTime: (ms: number) => void,
  ) {}

  install() {
    this.saved = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };
    const add = (fn: () => void, ms = 0) => {
      const timer = { at: this.now + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
      this.push(timer);
      return timer;
    };
    Object.assign(globalThis, {
      setTimeout: add,
      clearTimeout: (timer: { cancelled: boolean } | undefined) => {
        if (timer) timer.cancelled = true;
      },
    });
  }

  uninstall() {
    if (this.saved) Object.assign(globalThis, this.saved);
  }

  private less = (a: number, b: number) => {
    const x = this.heap[a] as { at: number; seq: number };
    const y = this.heap[b] as { at: number; seq: number };
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  };

  private swap(a: number, b: number) {
    const t = this.heap[a] as (typeof this.heap)[number];
    this.heap[a] = this.heap[b] as (typeof this.heap)[number];
    this.heap[b] = t;
  }

  private push(timer: (typeof this.heap)[number]) {
    this.heap.push(timer);
    let i = this.heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private pop() {
    const top = this.heap[0];
    const last = this.heap.pop();
    if (this.heap.length > 0 && last) {
      this.heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.heap.length && this.less(l, m)) m = l;
        if (r < this.heap.length && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }

  /** Fire timers in order until `done` (checked whenever all promise work has settled). */
  async run(done: () => boolean): Promise<void> {
    const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
    for (;;) {
      await settle();
      if (done()) return;
      let next = this.pop();
      while (next?.cancelled) next = this.pop();
      if (!next) throw new Error('the simulation is stuck: nothing pending and not done');
      if (next.at !== this.now) {
        this.now = next.at;
        this.setSystemTime(this.now);
      }
      this.steps += 1;
      next.fn();
      // Timers due at the same moment fire before settling, as a timer phase would.
      while (this.heap[0] && (this.heap[0] as { at: number }).at === this.now) {
        const same = this.pop();
        if (same && !same.cancelled) same.fn();
      }
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A seeded PRNG (mulberry32), so a run is reproducible. */
export const seededRandom = (seed: number) => {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/**
 * An AWS throttling token bucket: `size` tokens to start with and at most, `refillPerSecond`
 * added continuously. A call takes a token or is throttled; a throttled call takes nothing.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly admitted: number[] = [];
  throttled = 0;

  constructor(
    readonly name: string,
    readonly size: number,
    readonly refillPerSecond: number,
  ) {
    this.tokens = size;
    this.last = Date.now();
  }

  private refill() {
    const now = Date.now();
    this.tokens = Math.min(this.size, this.tokens + ((now - this.last) / 1000) * this.refillPerSecond);
    this.last = now;
  }

  /** True when a token was there; counts the admission or the throttle. */
  take(): boolean {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.admitted.push(Date.now());
      return true;
    }
    this.throttled += 1;
    return false;
  }

  /** Whether two buckets both have a token; takes from both only then. */
  static takeBoth(a: TokenBucket, b: TokenBucket): boolean {
    a.refill();
    b.refill();
    if (a.tokens >= 1 && b.tokens >= 1) return a.take() && b.take();
    a.throttled += 1;
    return false;
  }

  /**
   * The most admissions any window of `windowMs` holds, against what the bucket allows in it
   * (`size + refill × window`): checked from the admission times, independently of `take`.
   */
  worstWindow(windowMs: number): { most: number; allowed: number } {
    const times = this.admitted;
    let most = 0;
    let start = 0;
    for (let end = 0; end < times.length; end++) {
      while ((times[end] as number) - (times[start] as number) > windowMs) start++;
      most = Math.max(most, end - start + 1);
    }
    return { most, allowed: Math.floor(this.size + (this.refillPerSecond * windowMs) / 1000) };
  }
}

/** An ASL Retry element (JSONPath), as written in state-machines/*.asl.json. */
export interface AslRetrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE';
}

/**
 * Step Functions' Retry semantics for one Task state: the first retrier whose ErrorEquals
 * names the error (or States.ALL) applies; each retrier counts its own attempts; the wait
 * before retry n is IntervalSeconds × BackoffRate^(n-1), capped by MaxDelaySeconds, and with
 * JitterStrategy FULL a random value between 0 and that. Undefined once MaxAttempts is used up
 * (the error goes to the Catch).
 */
export class AslRetry {
  private readonly attempts = new Map<AslRetrier, number>();

  constructor(
    private readonly retriers: AslRetrier[],
    private readonly random: () => number,
  ) {}

  nextDelayMs(error: string): number | undefined {
    const retrier = this.retriers.find(
      (r) => r.ErrorEquals.includes(error) || r.ErrorEquals.includes('States.ALL'),
    );
    if (!retrier) return undefined;
    const done = this.attempts.get(retrier) ?? 0;
    if (done >= (retrier.MaxAttempts ?? 3)) return undefined;
    this.attempts.set(retrier, done + 1);
    let seconds = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** done;
    if (retrier.MaxDelaySeconds !== undefined) seconds = Math.min(seconds, retrier.MaxDelaySeconds);
    if (retrier.JitterStrategy === 'FULL') seconds *= this.random();
    return seconds * 1000;
  }
}

/** How the function is configured (from the construct) and how Lambda treats it. */
export interface AsyncFunctionModel {
  /** Reserved concurrency, or the account's unreserved concurrency when none is reserved. */
  concurrency: number;
  timeoutMs: number;
  /** Retries of an invocation that returned an error (configureAsyncInvoke). */
  retryAttempts: number;
  maxEventAgeMs: number;
  /** Init of a new execution environment before its first invocation. */
  coldStartMs: number;
  /** Per invocation, besides the handler's own awaits. */
  overheadMs: number;
}

export interface Invocation<E> {
  event: E;
  enqueuedAt: number;
  throttles: number;
  errors: number;
}

type Handler<E, R> = (event: E, context: Context) => Promise<R>;

/**
 * Lambda's asynchronous invocation of one function (EventBridge Scheduler invokes its Lambda
 * targets asynchronously): events wait in the function's queue; an event finding no free
 * concurrency is throttled and returned to the queue, retried after 1 s, 2 s, 4 s... up to 5
 * minutes; an invocation that fails is retried `retryAttempts` times, 1 then 2 minutes later;
 * an event older than the maximum age, or out of retries, goes to the on-failure destination.
 * Each execution environment builds its own handler (its own SDK clients) and serves one
 * invocation at a time; one whose invocation timed out is thrown away.
 */
export class AsyncLambda<E, R> {
  private running = 0;
  private readonly idle: Array<{ handler: Handler<E, R>; alive: { value: boolean } }> = [];
  peakConcurrency = 0;
  environments = 0;
  throttles = 0;
  functionErrors = 0;
  timeouts = 0;
  readonly results: Array<{ event: E; result: R; at: number }> = [];
  readonly failed: Array<Invocation<E> & { reason: string }> = [];
  private pending = 0;
  private settled: (() => void) | undefined;

  constructor(
    private readonly model: AsyncFunctionModel,
    private readonly environment: (alive: { value: boolean }) => Handler<E, R>,
  ) {}

  /** An asynchronous invocation `afterMs` from now (when the invoker gets to it). */
  invokeAsync(event: E, afterMs = 0): void {
    this.pending += 1;
    setTimeout(() => {
      void this.deliver({ event, enqueuedAt: Date.now(), throttles: 0, errors: 0 });
    }, afterMs);
  }

  /** Resolves once every event has a result or went to the on-failure destination. */
  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.settled = resolve;
    });
  }

  private finish() {
    this.pending -= 1;
    if (this.pending === 0) this.settled?.();
  }

  private async deliver(invocation: Invocation<E>): Promise<void> {
    if (Date.now() - invocation.enqueuedAt > this.model.maxEventAgeMs) {
      this.failed.push({ ...invocation, reason: 'maximum event age' });
      return this.finish();
    }
    if (this.running >= this.model.concurrency) {
      this.throttles += 1;
      invocation.throttles += 1;
      const backoff = Math.min(300_000, 1000 * 2 ** (invocation.throttles - 1));
      setTimeout(() => void this.deliver(invocation), backoff);
      return;
    }
    this.running += 1;
    this.peakConcurrency = Math.max(this.peakConcurrency, this.running);
    let env = this.idle.pop();
    if (!env) {
      const alive = { value: true };
      this.environments += 1;
      env = { handler: this.environment(alive), alive };
      await sleep(this.model.coldStartMs);
    }
    const outcome = await this.invoke(env.handler, invocation.event);
    this.running -= 1;
    if (outcome.timedOut) {
      this.timeouts += 1;
      env.alive.value = false;
    } else {
      this.idle.push(env);
    }
    if (outcome.ok) {
      this.results.push({ event: invocation.event, result: outcome.result as R, at: Date.now() });
      return this.finish();
    }
    this.functionErrors += 1;
    invocation.errors += 1;
    if (invocation.errors > this.model.retryAttempts) {
      this.failed.push({ ...invocation, reason: outcome.reason });
      return this.finish();
    }
    setTimeout(() => void this.deliver(invocation), invocation.errors === 1 ? 60_000 : 120_000);
  }

  private async invoke(
    handler: Handler<E, R>,
    event: E,
  ): Promise<{ ok: boolean; result?: R; reason: string; timedOut: boolean }> {
    await sleep(this.model.overheadMs);
    const deadline = Date.now() + this.model.timeoutMs;
    const context = {
      functionName: 'run-backup',
      awsRequestId: `req-${Date.now()}-${Math.random()}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    } as unknown as Context;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.model.timeoutMs);
    });
    try {
      const result = await Promise.race([handler(event, context), timeout]);
      if (result === 'timeout') return { ok: false, reason: 'timeout', timedOut: true };
      return { ok: true, result, reason: '', timedOut: false };
    } catch (error) {
      // middy ends the invocation just before the deadline with a TimeoutError.
      const timedOut = (error as Error).name === 'TimeoutError';
      return { ok: false, reason: (error as Error).message, timedOut };
    } finally {
      clearTimeout(timer);
    }
  }
}
