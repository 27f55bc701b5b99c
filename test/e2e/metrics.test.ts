import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../support/http.ts';
import { localPlatformForFile } from '../support/local-platform.ts';
import { operationEnded } from '../support/operations.ts';

/**
 * Metrics on the local target, as a user meets them: a PostgreSQL addon under load (clients held
 * open, each running `SELECT 1` in a loop) shows its connections and transaction rate rise in
 * GET .../metrics; bad queries are 4xx problems naming the field. The sampler runs every second.
 */
const TOKEN = 'e2e-metrics-token-0123456789';
const PROJECT = 'metrics';
const api = localPlatformForFile('metrics', TOKEN, { ADDONS_METRICS_INTERVAL_SECONDS: '1' });
const CLIENTS = 6;

interface Series {
  name: string;
  unit: string;
  values: (number | null)[];
}
const latest = (series: Series[] | undefined, name: string): number | null => {
  const values = series?.find((each) => each.name === name)?.values ?? [];
  for (let index = values.length - 1; index >= 0; index -= 1) {
    const value = values[index];
    if (value !== null && value !== undefined) return value;
  }
  return null;
};

describe('metrics of a PostgreSQL addon on the local target', () => {
  let addonId: string;
  let metricsPath: string;

  beforeAll(async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'metrics-pg', engine: 'postgresql' },
    });
    expect(created.status).toBe(202);
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    addonId = created.body.addon.id;
    metricsPath = `/v1/projects/${PROJECT}/addons/${addonId}/metrics`;
  }, 120_000);

  it('shows connections and transactions rise under load, each series with its unit', async () => {
    // Prepare: the idle addon's connections, as sampled.
    const names = 'connections,postgresql.transactions,cpu,memory,storage.used,connections.limit';
    const query = () =>
      api('GET', `${metricsPath}?names=${names}&step=1&from=${new Date(Date.now() - 30_000).toISOString()}`);
    const idle = await pollUntil(query, (response) => latest(response.body.series, 'connections') !== null, {
      timeoutMs: 30_000,
      what: 'a first sample',
    });
    expect(latest(idle.body.series, 'connections')).toBeLessThan(CLIENTS);
    const credentials = (await api('GET', `/v1/projects/${PROJECT}/addons/${addonId}/credentials`)).body;

    // Act: clients held open, each running SELECT 1 in a loop until the test ends.
    const clients = Array.from(
      { length: CLIENTS },
      () => new pg.Client({ connectionString: credentials.uri }),
    );
    await Promise.all(clients.map((client) => client.connect()));
    let running = true;
    const load = clients.map(async (client) => {
      while (running) await client.query('SELECT 1');
    });
    try {
      // Assess: connections reach the clients held open, transactions well above the sampler's own.
      const busy = await pollUntil(
        query,
        (response) =>
          (latest(response.body.series, 'connections') ?? 0) >= CLIENTS &&
          (latest(response.body.series, 'postgresql.transactions') ?? 0) > 50,
        { timeoutMs: 30_000, intervalMs: 500, what: 'connections and transactions to rise' },
      );
      const units = Object.fromEntries((busy.body.series as Series[]).map((each) => [each.name, each.unit]));
      expect(units).toEqual({
        connections: 'count',
        'postgresql.transactions': 'per-second',
        cpu: 'percent',
        memory: 'bytes',
        'storage.used': 'bytes',
        'connections.limit': 'count',
      });
      expect(latest(busy.body.series, 'connections.limit')).toBeGreaterThanOrEqual(CLIENTS);
      expect(latest(busy.body.series, 'memory')).toBeGreaterThan(0);
      expect(latest(busy.body.series, 'storage.used')).toBeGreaterThan(0);
      expect(busy.body.timestamps).toHaveLength(busy.body.series[0].values.length);
    } finally {
      running = false;
      await Promise.allSettled(load);
      await Promise.all(clients.map((client) => client.end()));
    }
  }, 90_000);

  it('answers bad queries with a problem naming the field', async () => {
    const now = Date.now();
    const iso = (offsetMs: number) => new Date(now + offsetMs).toISOString();
    const cases = [
      { query: 'names=cpu,disk.magic', status: 400, field: 'names' },
      { query: 'names=redis.hit-ratio', status: 400, field: 'names' },
      { query: 'names=memory.free', status: 422, field: 'names' },
      { query: `from=${iso(0)}&to=${iso(-60_000)}`, status: 400, field: 'from' },
      { query: `from=${iso(-15 * 86_400_000)}&to=${iso(0)}`, status: 400, field: 'from' },
      { query: `from=${iso(-86_400_000)}&to=${iso(0)}&step=10`, status: 400, field: 'step' },
      { query: 'step=0', status: 400, field: 'step' },
    ];
    for (const { query, status, field } of cases) {
      const response = await api('GET', `${metricsPath}?${query}`);
      expect({ query, status: response.status, type: response.headers.get('content-type') }).toEqual({
        query,
        status,
        type: expect.stringContaining('application/problem+json'),
      });
      expect(response.body.errors.map((error: { path: string }) => error.path)).toContain(field);
    }
  });
});
