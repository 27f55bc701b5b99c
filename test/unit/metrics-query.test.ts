import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { UnsupportedError, ValidationError } from '#shared/errors.ts';
import { resolveWindow } from '#shared/metrics/window.ts';
import type { MetricsSource } from '#shared/ports/metrics-source.ts';
import { CloudWatchMetrics } from '#shared/providers/aws/cloudwatch-metrics.ts';
import { MetricsQuerySchema } from '#shared/schemas/metrics.ts';
import { MetricsService } from '#shared/services/metrics-service.ts';

const NOW = Date.parse('2026-12-01T12:00:00Z') / 1000;
const iso = (offsetSeconds: number) => new Date((NOW + offsetSeconds) * 1000).toISOString();

const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError || error instanceof UnsupportedError) return error.issues[0]?.path;
    throw error;
  }
  return undefined;
};

describe('the window of a metrics query', () => {
  it('defaults to the last hour at the smallest step that fits 1,440 points', () => {
    expect(resolveWindow({}, NOW)).toEqual({ from: NOW - 3600, step: 3, points: 1200 });
    expect(resolveWindow({}, NOW, 60)).toEqual({ from: NOW - 3600, step: 60, points: 60 });
    expect(resolveWindow({ from: iso(-86_400), to: iso(0) }, NOW)).toMatchObject({ step: 60, points: 1440 });
  });

  it('refuses, naming the field: from after to, a window over 14 days, too many points, a step the target cannot serve', () => {
    expect(fieldOf(() => resolveWindow({ from: iso(0), to: iso(-60) }, NOW))).toBe('from');
    expect(fieldOf(() => resolveWindow({ from: iso(-15 * 86_400), to: iso(0) }, NOW))).toBe('from');
    expect(fieldOf(() => resolveWindow({ from: iso(-86_400), to: iso(0), step: 59 }, NOW))).toBe('step');
    expect(fieldOf(() => resolveWindow({ step: 90 }, NOW, 60))).toBe('step');
    expect(resolveWindow({ from: iso(-86_400), to: iso(0), step: 60 }, NOW).points).toBe(1440);
  });

  it('parses names as a comma list of catalog names, naming the field for an unknown one', () => {
    expect(MetricsQuerySchema.parse({ names: 'cpu, connections,cpu' }).names).toEqual(['cpu', 'connections']);
    const result = MetricsQuerySchema.safeParse({ names: 'cpu,disk.magic' });
    expect(result.success ? [] : result.error.issues.map((issue) => issue.path.join('.'))).toEqual(['names']);
  });
});

describe('the metrics service', () => {
  const source: MetricsSource = {
    stepMultiple: 1,
    unavailable: (_engine, name) => (name === 'memory.free' ? 'not here' : undefined),
    query: async (_target, names, window) =>
      new Map(names.map((name) => [name, Array.from({ length: window.points }, () => 1)])),
  };
  const service = new MetricsService({
    store: { getAddon: async () => ({ id: 'adn-a', resourceId: 'addon-a', engine: 'postgresql' }) as never },
    source,
    now: () => NOW * 1000,
  });

  it('refuses a metric of another engine (400) and one the target lacks (422), naming `names`', async () => {
    await expect(service.query('p', 'adn-a', { names: ['redis.hit-ratio'] })).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [{ path: 'names' }],
    });
    await expect(service.query('p', 'adn-a', { names: ['memory.free'] })).rejects.toMatchObject({
      name: 'UnsupportedError',
      issues: [{ path: 'names', message: 'memory.free: not here' }],
    });
  });

  it('answers every series of the engine the target has when no name is given, each with its unit', async () => {
    const answer = await service.query('p', 'adn-a', { step: 600 });
    expect(answer.series.map((series) => series.name)).not.toContain('memory.free');
    expect(answer.series.find((series) => series.name === 'postgresql.transactions')?.unit).toBe(
      'per-second',
    );
    expect(answer.timestamps).toEqual([
      iso(-3600),
      iso(-3000),
      iso(-2400),
      iso(-1800),
      iso(-1200),
      iso(-600),
    ]);
    expect(answer.series.every((series) => series.values.length === 6)).toBe(true);
  });
});

describe('metrics on AWS, from CloudWatch GetMetricData', () => {
  const cloudwatch = mockClient(CloudWatchClient);
  afterEach(() => cloudwatch.reset());
  const source = new CloudWatchMetrics({ client: new CloudWatchClient({ region: 'eu-west-1' }) });
  const window = { from: NOW - 300, step: 60, points: 5 };

  it('asks AWS/RDS by DBInstanceIdentifier and places each value on its step', async () => {
    // Prepare
    cloudwatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        {
          Id: 's0',
          Timestamps: [new Date((NOW - 240) * 1000), new Date((NOW - 60) * 1000)],
          Values: [12.5, 40],
        },
        { Id: 's1', Timestamps: [new Date((NOW - 300) * 1000)], Values: [3] },
      ],
    });
    // Act
    const series = await source.query(
      { addonId: 'adn-a', resourceId: 'addon-a', engine: 'postgresql' },
      ['cpu', 'connections'],
      window,
    );
    // Assess
    expect(cloudwatch.commandCalls(GetMetricDataCommand)[0]?.args[0].input).toEqual({
      StartTime: new Date((NOW - 300) * 1000),
      EndTime: new Date(NOW * 1000),
      ScanBy: 'TimestampAscending',
      MetricDataQueries: [
        {
          Id: 's0',
          MetricStat: {
            Metric: {
              Namespace: 'AWS/RDS',
              MetricName: 'CPUUtilization',
              Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'addon-a' }],
            },
            Period: 60,
            Stat: 'Average',
          },
          ReturnData: true,
        },
        {
          Id: 's1',
          MetricStat: {
            Metric: {
              Namespace: 'AWS/RDS',
              MetricName: 'DatabaseConnections',
              Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'addon-a' }],
            },
            Period: 60,
            Stat: 'Average',
          },
          ReturnData: true,
        },
      ],
    });
    expect(series.get('cpu')).toEqual([null, 12.5, null, null, 40]);
    expect(series.get('connections')).toEqual([3, null, null, null, null]);
  });

  it('asks AWS/ElastiCache for the primary node, evictions as a rate by metric math', async () => {
    cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
    await source.query(
      { addonId: 'adn-r', resourceId: 'addon-r', engine: 'redis' },
      ['redis.hit-ratio', 'redis.evictions'],
      window,
    );
    const node = [{ Name: 'CacheClusterId', Value: 'addon-r-001' }];
    expect(cloudwatch.commandCalls(GetMetricDataCommand)[0]?.args[0].input.MetricDataQueries).toEqual([
      {
        Id: 's0',
        MetricStat: {
          Metric: { Namespace: 'AWS/ElastiCache', MetricName: 'CacheHitRate', Dimensions: node },
          Period: 60,
          Stat: 'Average',
        },
        ReturnData: true,
      },
      {
        Id: 'm1_0',
        MetricStat: {
          Metric: { Namespace: 'AWS/ElastiCache', MetricName: 'Evictions', Dimensions: node },
          Period: 60,
          Stat: 'Sum',
        },
        ReturnData: false,
      },
      { Id: 's1', Expression: '(m1_0) / PERIOD(m1_0)', Label: 'redis.evictions', ReturnData: true },
    ]);
  });

  it('asks AWS/DocDB by DBClusterIdentifier, operations as the rate of the six opcounters', async () => {
    cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
    await source.query(
      { addonId: 'adn-m', resourceId: 'addon-m', engine: 'mongodb' },
      ['mongodb.operations', 'storage.used'],
      window,
    );
    const queries = cloudwatch.commandCalls(GetMetricDataCommand)[0]?.args[0].input.MetricDataQueries ?? [];
    expect(queries.map((query) => query.MetricStat?.Metric?.MetricName ?? query.Expression)).toEqual([
      'OpcountersInsert',
      'OpcountersQuery',
      'OpcountersUpdate',
      'OpcountersDelete',
      'OpcountersGetmore',
      'OpcountersCommand',
      '(m0_0 + m0_1 + m0_2 + m0_3 + m0_4 + m0_5) / PERIOD(m0_0)',
      'VolumeBytesUsed',
    ]);
    expect(queries[0]?.MetricStat?.Metric?.Dimensions).toEqual([
      { Name: 'DBClusterIdentifier', Value: 'addon-m' },
    ]);
    expect(queries.at(-1)?.MetricStat?.Stat).toBe('Maximum');
  });

  it('gives the used storage of an RDS addon as its allocation less FreeStorageSpace', async () => {
    cloudwatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [{ Id: 's0', Timestamps: [new Date((NOW - 60) * 1000)], Values: [3 * 1024 ** 3] }],
    });
    const series = await source.query(
      { addonId: 'adn-my', resourceId: 'addon-my', engine: 'mysql', storageGiB: 20 },
      ['storage.used'],
      window,
    );
    expect(cloudwatch.commandCalls(GetMetricDataCommand)[0]?.args[0].input.MetricDataQueries).toEqual([
      {
        Id: 'm0_0',
        MetricStat: {
          Metric: {
            Namespace: 'AWS/RDS',
            MetricName: 'FreeStorageSpace',
            Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'addon-my' }],
          },
          Period: 60,
          Stat: 'Average',
        },
        ReturnData: false,
      },
      { Id: 's0', Expression: `${20 * 1024 ** 3} - m0_0`, Label: 'storage.used', ReturnData: true },
    ]);
    // The series is what the expression returned, placed on its step.
    expect(series.get('storage.used')).toEqual([null, null, null, null, 3 * 1024 ** 3]);
    expect(source.unavailable('postgresql', 'storage.used')).toBeUndefined();
  });

  it('says why a series is not in CloudWatch (a 422), and steps are whole minutes', () => {
    expect(source.stepMultiple).toBe(60);
    expect(source.unavailable('postgresql', 'postgresql.transactions')).toMatch(/no transaction rate/);
    expect(source.unavailable('redis', 'storage.free')).toMatch(/in memory/);
    expect(source.unavailable('mysql', 'connections.limit')).toMatch(/does not publish the connection limit/);
    expect(source.unavailable('mongodb', 'cpu')).toBeUndefined();
  });
});
