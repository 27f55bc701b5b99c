import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseInfo, redisMetrics } from '#infra/local/engines/redis/metrics.ts';
import { counterDeltas, RateTracker, ratesOf } from '#infra/local/metrics/counters.ts';
import { startLocalMetrics } from '#infra/local/metrics/local-metrics.ts';
import { cpuTicksOf, sumByKind } from '#infra/local/metrics/process-stats.ts';
import { MetricRing, RingFile } from '#infra/local/metrics/ring.ts';
import { LocalMetricsSampler, localFields } from '#infra/local/metrics/sampler.ts';
import type { MetricName } from '#shared/metrics/catalog.ts';

const average = () => 'average' as const;

describe('counters become rates per second', () => {
  it('divides the increase of each counter by the seconds between the samples', () => {
    // Prepare / Act
    const rates = ratesOf(
      counterDeltas({ transactions: 100, bytes: 10 }, { transactions: 400, bytes: 10 }),
      10,
    );
    // Assess
    expect(rates).toEqual({ transactions: 30, bytes: 0 });
  });

  it('gives no rate for a counter that went down (a restart), nor for one seen once', () => {
    expect(counterDeltas({ a: 500, b: 1 }, { a: 20, b: 3, c: 7 })).toEqual({ b: 2 });
  });

  it('has no rate on the first sample of a key, then rates since the previous one', () => {
    const tracker = new RateTracker();
    expect(tracker.rates('adn', 100, { x: 5 })).toEqual({});
    expect(tracker.rates('adn', 102, { x: 25 })).toEqual({ x: 10 });
    expect(tracker.rates('adn', 102, { x: 30 })).toEqual({});
  });

  it('sums per-process rates by kind, so a process that exits does not make CPU negative', () => {
    const tracker = new RateTracker();
    tracker.rates('tree', 0, { '10:cpu': 100, '11:cpu': 50, '10:read': 0 });
    // 11 exited, 12 appeared: only 10 has two samples.
    const rates = tracker.rates('tree', 2, { '10:cpu': 160, '12:cpu': 3, '10:read': 4096 });
    expect(sumByKind(rates)).toEqual({ cpu: 30, read: 2048, write: undefined });
  });

  it('reads utime + stime from /proc/<pid>/stat, whatever the command name holds', () => {
    const stat = '1234 (post gres) S 1 1234 1234 0 -1 4194560 1000 0 0 0 70 30 0 0 20 0 1 0 100 0 0';
    expect(cpuTicksOf(stat)).toBe(100);
  });
});

describe('the ring buffer', () => {
  const fields: MetricName[] = ['cpu', 'connections'];

  it('never holds more than its capacity: the oldest sample is overwritten', () => {
    const ring = new MetricRing(fields, 4);
    for (let time = 1; time <= 10; time += 1) ring.append(time, { cpu: time, connections: 1 });
    expect([...ring.times].sort((a, b) => a - b)).toEqual([7, 8, 9, 10]);
    expect(ring.values).toHaveLength(8);
    expect(ring.newest()).toBe(10);
  });

  it('averages samples per step (maximum where the metric says so), null where there is none', () => {
    const ring = new MetricRing(fields, 16);
    ring.append(100, { cpu: 10, connections: 2 });
    ring.append(105, { cpu: 30, connections: 5 });
    ring.append(125, { cpu: 50 });
    const series = ring.query(fields, { from: 100, step: 10, points: 4 }, (name) =>
      name === 'connections' ? 'maximum' : 'average',
    );
    expect(series.get('cpu')).toEqual([20, null, 50, null]);
    expect(series.get('connections')).toEqual([5, null, null, null]);
  });

  it('keeps a window across a restart in a file of fixed size, and starts afresh on another layout', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'metrics-ring-'));
    try {
      const file = path.join(dir, 'addon.ring');
      const first = await RingFile.open(file, fields, 3);
      const size = (await stat(file)).size;
      for (let time = 1; time <= 5; time += 1) await first.append(time, { cpu: time * 1.5 });
      await first.close();
      expect((await stat(file)).size).toBe(size);

      const reopened = await RingFile.open(file, fields, 3);
      expect(reopened.ring.query(['cpu'], { from: 0, step: 1, points: 7 }, average).get('cpu')).toEqual([
        null,
        null,
        null,
        4.5,
        6,
        7.5,
        null,
      ]);
      // The next write goes after the newest sample, overwriting the oldest.
      await reopened.append(6, { cpu: 9 });
      expect([...reopened.ring.times].sort()).toEqual([4, 5, 6]);
      await reopened.close();

      const otherLayout = await RingFile.open(file, ['cpu', 'memory'], 3);
      expect(otherLayout.ring.newest()).toBe(0);
      await otherLayout.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the local sampler', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'metrics-sampler-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('bounds each ring: 24 h at the interval, never more than its slot cap', () => {
    const props = { dir, targets: () => [], instanceExists: async () => true };
    expect(new LocalMetricsSampler({ ...props, intervalSeconds: 10 }).capacity).toBe(8_641);
    expect(new LocalMetricsSampler({ ...props, intervalSeconds: 1 }).capacity).toBe(21_600);
  });

  it('runs rounds at the interval, and none when sampling is off (ADDONS_METRICS_INTERVAL_SECONDS=0)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const rounds = { on: 0, off: 0 };
      const start = (key: keyof typeof rounds, metricsSampling: boolean) =>
        startLocalMetrics(
          { dataDir: path.join(dir, key), metricsIntervalSeconds: 10, metricsSampling },
          {
            servingInstances: () => {
              rounds[key] += 1;
              return [];
            },
          },
          () => undefined,
        );
      const on = start('on', true);
      const off = start('off', false);

      // Each round ends with file work (real I/O) before the next one is scheduled: advance one
      // interval at a time, and wait (on the real event loop) for the next round's timer.
      const nextRoundScheduled = async () => {
        for (let turn = 0; vi.getTimerCount() === 0; turn += 1) {
          if (turn > 10_000) throw new Error('the sampler never scheduled its next round');
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      for (let interval = 0; interval < 6; interval += 1) {
        await vi.advanceTimersByTimeAsync(10_000);
        await nextRoundScheduled();
      }
      await Promise.all([on.stop(), off.stop()]);

      expect(rounds).toEqual({ on: 6, off: 0 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('turns engine counters into rates and keeps gauges as they are', async () => {
    // Prepare: a Redis server whose counters rise by 50 hits and 50 misses in 10 s.
    let now = 1_000_000_000;
    let hits = 100;
    const reader = {
      read: async () => ({ gauges: { connections: 3 }, counters: { hits, misses: hits, evicted: 0 } }),
      fromRates: redisMetrics.fromRates,
    };
    const sampler = new LocalMetricsSampler({
      dir,
      intervalSeconds: 10,
      targets: () => [],
      instanceExists: async () => true,
      readers: { postgresql: reader, mysql: reader, redis: reader, mongodb: reader },
      now: () => now,
    });
    const ctx = {
      resourceId: 'addon-r',
      dataDir: dir,
      record: { engine: 'redis' },
    } as never;
    // Act
    await sampler.sampleTarget({ ctx, pid: process.pid });
    now += 10_000;
    hits += 50;
    await sampler.sampleTarget({ ctx, pid: process.pid });
    // Assess
    const series = await sampler.query(
      { addonId: 'adn-r', resourceId: 'addon-r', engine: 'redis' },
      ['connections', 'redis.hit-ratio', 'redis.evictions', 'storage.free'],
      { from: 1_000_000, step: 10, points: 2 },
    );
    expect(series.get('connections')).toEqual([3, 3]);
    expect(series.get('redis.hit-ratio')).toEqual([null, 50]);
    expect(series.get('redis.evictions')).toEqual([null, 0]);
    expect(series.get('storage.free')?.every((value) => value !== null && value > 0)).toBe(true);
    await sampler.stop();
  });

  it("keeps the slowest replica's reading of what the engine reads on its replicas, and leaves out one that does not answer", async () => {
    // Prepare: a primary with three replicas: 2 s and 7 s behind, and one that refuses.
    const lags: Record<string, number | Error> = { r1: 2, r2: 7, r3: new Error('connection refused') };
    const reader = {
      read: async () => ({ gauges: { connections: 1 }, counters: {} }),
      fromRates: () => ({}),
      readReplica: async (replica: { resourceId: string }) => {
        const lag = lags[replica.resourceId];
        if (lag instanceof Error) throw lag;
        return { 'mysql.replication-lag': lag as number };
      },
    };
    const logged: string[] = [];
    const sampler = new LocalMetricsSampler({
      dir,
      intervalSeconds: 10,
      targets: () => [],
      instanceExists: async () => true,
      readers: { postgresql: reader, mysql: reader, redis: reader, mongodb: reader },
      replicasOf: async () => Object.keys(lags).map((resourceId) => ({ resourceId }) as never),
      log: (message) => logged.push(message),
      now: () => 2_000_000_000,
    });
    const ctx = { resourceId: 'addon-m', dataDir: dir, record: { engine: 'mysql' } } as never;
    // Act
    await sampler.sampleTarget({ ctx, pid: process.pid });
    // Assess
    const series = await sampler.query(
      { addonId: 'adn-m', resourceId: 'addon-m', engine: 'mysql' },
      ['mysql.replication-lag', 'connections'],
      { from: 2_000_000, step: 10, points: 1 },
    );
    expect(series.get('mysql.replication-lag')).toEqual([7]);
    expect(series.get('connections')).toEqual([1]);
    expect(logged).toEqual(['metrics: a replica did not answer']);
    await sampler.stop();
  });

  it('has a field for every catalog series of the engine it samples', () => {
    expect(localFields('postgresql')).toContain('postgresql.transactions');
    expect(localFields('postgresql')).not.toContain('redis.hit-ratio');
    expect(localFields('redis')).not.toContain('memory.free');
  });

  it('reads INFO fields', () => {
    expect(parseInfo('# Clients\r\nconnected_clients:4\r\nmaxclients:10000\r\n')).toEqual({
      connected_clients: '4',
      maxclients: '10000',
    });
  });
});
