import {
  type CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandOutput,
  type MetricDataQuery,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import type { MetricName } from '../../metrics/catalog.ts';
import { stepIndex } from '../../metrics/grid.ts';
import type { MetricsSource, MetricsTarget, MetricsWindow } from '../../ports/metrics-source.ts';
import type { Engine } from '../../schemas/catalog.ts';
import { toPlatformError } from './aws-errors.ts';
import { baseIdOf } from './redis/names.ts';

/** One CloudWatch metric of the addon's resource. */
interface Stat {
  metric: string;
  stat: 'Average' | 'Maximum' | 'Sum';
}

/**
 * How a catalog series is read: one metric as it is, or the per-second rate of the sum of
 * counters published per period (`(m0 + m1 ...) / PERIOD(m0)`).
 */
type Source =
  | { kind: 'stat'; stat: Stat }
  | { kind: 'rate'; stats: Stat[] }
  | { kind: 'allocated-less'; stat: Stat }
  | { kind: 'none'; reason: string };

const stat = (metric: string, statistic: Stat['stat'] = 'Average'): Source => ({
  kind: 'stat',
  stat: { metric, stat: statistic },
});
const none = (reason: string): Source => ({ kind: 'none', reason });
const GIB = 1024 ** 3;

const NO_LIMIT = none(
  'CloudWatch does not publish the connection limit (it follows the instance class and the parameter group)',
);

/** AWS/RDS, dimension DBInstanceIdentifier (the addon's resource id: restores swap by rename and keep it). */
const RDS: Partial<Record<MetricName, Source>> = {
  cpu: stat('CPUUtilization'),
  memory: none('RDS publishes only the memory left (`memory.free`, FreeableMemory)'),
  'memory.free': stat('FreeableMemory'),
  // RDS publishes only the space left: used is the allocation less it. Against the allocation of
  // now, so points from before a storage increase read high by the increase.
  'storage.used': { kind: 'allocated-less', stat: { metric: 'FreeStorageSpace', stat: 'Average' } },
  'storage.free': stat('FreeStorageSpace'),
  connections: stat('DatabaseConnections'),
  'connections.limit': NO_LIMIT,
  'read.throughput': stat('ReadThroughput'),
  'write.throughput': stat('WriteThroughput'),
  'postgresql.transactions': none('RDS for PostgreSQL publishes no transaction rate to CloudWatch'),
  'postgresql.replication-lag': stat('ReplicaLag', 'Maximum'),
  'postgresql.oldest-transaction-age': none('RDS publishes no transaction age to CloudWatch'),
  'mysql.queries': none('RDS for MySQL publishes no query rate to CloudWatch'),
  'mysql.threads-running': none('RDS for MySQL publishes no thread count to CloudWatch'),
  'mysql.replication-lag': stat('ReplicaLag', 'Maximum'),
};

/** AWS/ElastiCache, dimension CacheClusterId: the primary node of the addon's replication group. */
const ELASTICACHE: Partial<Record<MetricName, Source>> = {
  cpu: stat('EngineCPUUtilization'),
  memory: stat('BytesUsedForCache'),
  'memory.free': stat('FreeableMemory'),
  'storage.used': none('an ElastiCache node keeps its data in memory: see `memory` and `redis.memory`'),
  'storage.free': none('an ElastiCache node keeps its data in memory: see `memory.free`'),
  connections: stat('CurrConnections'),
  'connections.limit': NO_LIMIT,
  'read.throughput': none('an ElastiCache node has no storage I/O to publish'),
  'write.throughput': none('an ElastiCache node has no storage I/O to publish'),
  'redis.memory': stat('BytesUsedForCache'),
  'redis.evictions': { kind: 'rate', stats: [{ metric: 'Evictions', stat: 'Sum' }] },
  'redis.hit-ratio': stat('CacheHitRate'),
};

const OPCOUNTERS = ['Insert', 'Query', 'Update', 'Delete', 'Getmore', 'Command'];

/** AWS/DocDB, dimension DBClusterIdentifier (the addon's resource id). */
const DOCDB: Partial<Record<MetricName, Source>> = {
  cpu: stat('CPUUtilization'),
  memory: none('DocumentDB publishes only the memory left (`memory.free`, FreeableMemory)'),
  'memory.free': stat('FreeableMemory'),
  'storage.used': stat('VolumeBytesUsed', 'Maximum'),
  'storage.free': none('a DocumentDB cluster volume grows by itself: it has no free space to run out of'),
  connections: stat('DatabaseConnections'),
  'connections.limit': NO_LIMIT,
  'read.throughput': stat('ReadThroughput'),
  'write.throughput': stat('WriteThroughput'),
  'mongodb.operations': {
    kind: 'rate',
    stats: OPCOUNTERS.map((name) => ({ metric: `Opcounters${name}`, stat: 'Sum' as const })),
  },
};

/**
 * How the storage an addon's data takes is read (`storage.usedBytes` of a GET of one addon,
 * cloudwatch-storage.ts): a series of used bytes as it is, or the allocated size less a series of
 * free bytes.
 */
export interface StorageUsageSource {
  series: MetricName;
  measures: 'used' | 'free';
}

interface Namespace {
  namespace: string;
  dimension: (resourceId: string) => { Name: string; Value: string };
  sources: Partial<Record<MetricName, Source>>;
  /** The series `storageUsageSource` names (read through `query`, like the metrics API's). */
  usage: StorageUsageSource;
}

/**
 * The primary node of the replication group named after the addon (`<group>-001`, the node
 * ElastiCache creates first). A restore moves a Redis addon to another group, and a failover
 * makes another node primary: see docs/metrics.md for that gap.
 */
export const redisPrimaryNode = (resourceId: string): string => `${baseIdOf(resourceId)}-001`;

const NAMESPACES: Record<Engine, Namespace> = {
  postgresql: {
    namespace: 'AWS/RDS',
    dimension: (id) => ({ Name: 'DBInstanceIdentifier', Value: id }),
    sources: RDS,
    usage: { series: 'storage.free', measures: 'free' },
  },
  mysql: {
    namespace: 'AWS/RDS',
    dimension: (id) => ({ Name: 'DBInstanceIdentifier', Value: id }),
    sources: RDS,
    usage: { series: 'storage.free', measures: 'free' },
  },
  redis: {
    namespace: 'AWS/ElastiCache',
    dimension: (id) => ({ Name: 'CacheClusterId', Value: redisPrimaryNode(id) }),
    sources: ELASTICACHE,
    // The data of a node is in memory: what it uses for its cache is the data's size.
    usage: { series: 'memory', measures: 'used' },
  },
  mongodb: {
    namespace: 'AWS/DocDB',
    dimension: (id) => ({ Name: 'DBClusterIdentifier', Value: id }),
    sources: DOCDB,
    usage: { series: 'storage.used', measures: 'used' },
  },
};

/** Which series gives the used storage of an engine's resource, and how. */
export const storageUsageSource = (engine: Engine): StorageUsageSource => NAMESPACES[engine].usage;

/** The GetMetricData queries of `names` over `window`: series `s<i>` is `names[i]`. */
export const metricDataQueries = (
  target: MetricsTarget,
  names: readonly MetricName[],
  window: MetricsWindow,
): MetricDataQuery[] => {
  const { namespace, dimension, sources } = NAMESPACES[target.engine];
  const metricStat = (
    id: string,
    { metric, stat: statistic }: Stat,
    returnData: boolean,
  ): MetricDataQuery => ({
    Id: id,
    MetricStat: {
      Metric: { Namespace: namespace, MetricName: metric, Dimensions: [dimension(target.resourceId)] },
      Period: window.step,
      Stat: statistic,
    },
    ReturnData: returnData,
  });
  return names.flatMap((name, index): MetricDataQuery[] => {
    const source = sources[name];
    if (!source || source.kind === 'none') return [];
    if (source.kind === 'stat') return [metricStat(`s${index}`, source.stat, true)];
    if (source.kind === 'allocated-less') {
      if (target.storageGiB === undefined) return [];
      const free = metricStat(`m${index}_0`, source.stat, false);
      return [
        free,
        {
          Id: `s${index}`,
          Expression: `${target.storageGiB * GIB} - ${free.Id}`,
          Label: name,
          ReturnData: true,
        },
      ];
    }
    const parts = source.stats.map((each, part) => metricStat(`m${index}_${part}`, each, false));
    const ids = parts.map((part) => part.Id as string);
    return [
      ...parts,
      {
        Id: `s${index}`,
        Expression: `(${ids.join(' + ')}) / PERIOD(${ids[0]})`,
        Label: name,
        ReturnData: true,
      },
    ];
  });
};

/** At most this many GetMetricData pages per request (each holds up to 100,800 points). */
const MAX_PAGES = 10;

/**
 * Metrics on AWS: read from CloudWatch when asked, never copied into the table. GetMetricData
 * has no resource-level permissions (the IAM grant is `*`; see infra/aws/constructs/api.ts).
 */
export class CloudWatchMetrics implements MetricsSource {
  /** Standard-resolution metrics have 60-second periods. */
  readonly stepMultiple = 60;

  constructor(private readonly props: { client: CloudWatchClient }) {}

  unavailable(engine: Engine, name: MetricName): string | undefined {
    const source = NAMESPACES[engine].sources[name];
    if (!source) return `not published by ${NAMESPACES[engine].namespace}`;
    return source.kind === 'none' ? source.reason : undefined;
  }

  async query(
    target: MetricsTarget,
    names: readonly MetricName[],
    window: MetricsWindow,
  ): Promise<Map<MetricName, (number | null)[]>> {
    const queries = metricDataQueries(target, names, window);
    const results: MetricDataResult[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_PAGES && queries.length > 0; page += 1) {
      let response: GetMetricDataCommandOutput;
      try {
        response = await this.props.client.send(
          new GetMetricDataCommand({
            MetricDataQueries: queries,
            StartTime: new Date(window.from * 1000),
            EndTime: new Date((window.from + window.points * window.step) * 1000),
            ScanBy: 'TimestampAscending',
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        );
      } catch (error) {
        throw toPlatformError(error, 'reading metrics from CloudWatch');
      }
      results.push(...(response.MetricDataResults ?? []));
      nextToken = response.NextToken;
      if (!nextToken) break;
    }
    const series = new Map<MetricName, (number | null)[]>(
      names.map((name) => [name, Array.from({ length: window.points }, () => null)]),
    );
    for (const result of results) {
      const name = names[Number(result.Id?.slice(1))];
      const values = name ? series.get(name) : undefined;
      if (!values || !result.Id?.startsWith('s')) continue;
      (result.Timestamps ?? []).forEach((timestamp, index) => {
        const step = stepIndex(window, Math.floor(timestamp.getTime() / 1000));
        const value = result.Values?.[index];
        if (step >= 0 && value !== undefined && Number.isFinite(value)) values[step] = value;
      });
    }
    return series;
  }
}
