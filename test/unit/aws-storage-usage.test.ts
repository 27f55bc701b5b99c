import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { resourceIdFor } from '#shared/ports/engine-provider.ts';
import { CloudWatchMetrics } from '#shared/providers/aws/cloudwatch-metrics.ts';
import { CloudWatchStorageUsage } from '#shared/providers/aws/cloudwatch-storage.ts';
import { StorageUsageSchema } from '#shared/schemas/scaling.ts';

/**
 * `storage.usedBytes` of a GET of one addon on AWS, as the addons function reads it: one
 * GetMetricData through the metrics API's reader, the latest datapoint of the engine's series.
 */
const GIB = 1024 ** 3;
const NOW = Date.parse('2026-12-01T12:02:00Z');
const cloudwatch = mockClient(CloudWatchClient);
afterAll(() => cloudwatch.restore());
beforeEach(() => cloudwatch.reset());

const usage = new CloudWatchStorageUsage({
  metrics: new CloudWatchMetrics({
    client: new CloudWatchClient({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }),
  }),
  now: () => NOW,
});

/** Answers the series `s0` with these datapoints (oldest first). */
const answer = (points: Array<[string, number]>) =>
  cloudwatch.on(GetMetricDataCommand).resolves({
    MetricDataResults: [
      {
        Id: 's0',
        Timestamps: points.map(([at]) => new Date(at)),
        Values: points.map(([, value]) => value),
        StatusCode: 'Complete',
      },
    ],
  });

const sentQuery = (): MetricDataQuery | undefined =>
  cloudwatch.commandCalls(GetMetricDataCommand)[0]?.args[0].input.MetricDataQueries?.[0];

const addon = (engine: 'postgresql' | 'mysql' | 'redis' | 'mongodb', storageGiB = 20) => ({
  id: 'adn-usage1',
  engine,
  storageGiB,
});

describe('used storage on AWS (CloudWatch)', () => {
  it('RDS: the allocated storage less the latest FreeStorageSpace of the instance', async () => {
    answer([
      ['2026-12-01T11:50:00Z', 15 * GIB],
      ['2026-12-01T11:55:00Z', 14 * GIB],
    ]);

    const storage = await usage.of(addon('postgresql'));

    expect(storage).toEqual({
      allocatedGiB: 20,
      usedBytes: 6 * GIB,
      usedBytesAt: '2026-12-01T11:55:00.000Z',
      readOnly: null,
    });
    expect(StorageUsageSchema.parse(storage)).toEqual(storage);
    expect(sentQuery()?.MetricStat).toMatchObject({
      Metric: {
        Namespace: 'AWS/RDS',
        MetricName: 'FreeStorageSpace',
        Dimensions: [{ Name: 'DBInstanceIdentifier', Value: resourceIdFor('adn-usage1') }],
      },
      Period: 300,
    });
    const input = cloudwatch.commandCalls(GetMetricDataCommand)[0]?.args[0].input;
    expect(input?.EndTime?.getTime()).toBeGreaterThanOrEqual(NOW);
    expect(input?.StartTime?.getTime()).toBeLessThanOrEqual(NOW - 6 * 3600 * 1000 + 300_000);
  });

  it('MySQL on RDS reads the same way; free space above the recorded size (a growth in flight) is not a negative use', async () => {
    answer([['2026-12-01T11:55:00Z', 25 * GIB]]);
    expect((await usage.of(addon('mysql'))).usedBytes).toBe(0);
  });

  it('DocumentDB: the cluster volume VolumeBytesUsed as it is', async () => {
    answer([['2026-12-01T11:00:00Z', 123_456_789]]);

    const storage = await usage.of(addon('mongodb', 10));

    expect(storage).toMatchObject({ allocatedGiB: 10, usedBytes: 123_456_789 });
    expect(storage.usedBytesNote).toBeUndefined();
    expect(sentQuery()?.MetricStat?.Metric).toMatchObject({
      Namespace: 'AWS/DocDB',
      MetricName: 'VolumeBytesUsed',
      Dimensions: [{ Name: 'DBClusterIdentifier', Value: resourceIdFor('adn-usage1') }],
    });
  });

  it('ElastiCache: BytesUsedForCache of the primary node', async () => {
    answer([['2026-12-01T11:58:00Z', 4_200_000]]);

    expect((await usage.of(addon('redis', 1))).usedBytes).toBe(4_200_000);
    expect(sentQuery()?.MetricStat?.Metric).toMatchObject({
      Namespace: 'AWS/ElastiCache',
      MetricName: 'BytesUsedForCache',
      Dimensions: [{ Name: 'CacheClusterId', Value: `${resourceIdFor('adn-usage1')}-001` }],
    });
  });

  it('no datapoint yet: usedBytes null with a note saying so, not 0', async () => {
    answer([]);

    const storage = await usage.of(addon('postgresql'));

    expect(storage).toMatchObject({ allocatedGiB: 20, usedBytes: null, usedBytesAt: null, readOnly: null });
    expect(storage.usedBytesNote).toMatch(/No CloudWatch storage.free datapoint in the last 6 hours/);
  });

  it('CloudWatch refusing the read: the GET still answers, usedBytes null with the reason', async () => {
    cloudwatch
      .on(GetMetricDataCommand)
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDenied' }));

    const storage = await usage.of(addon('mongodb'));

    expect(storage).toMatchObject({ usedBytes: null, usedBytesAt: null });
    expect(storage.usedBytesNote).toMatch(/CloudWatch storage.used could not be read: /);
  });
});
