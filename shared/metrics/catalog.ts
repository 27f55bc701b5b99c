import type { Engine } from '../schemas/catalog.ts';

/**
 * The metric catalog: every series the metrics API serves, its unit, and the engines that have
 * it. The names are the schema-level enum of `?names=` (OpenAPI lists them); which target can
 * serve a name for an engine is the source's to say (`MetricsSource.unavailable`).
 */
export const METRIC_UNITS = [
  'percent',
  'bytes',
  'count',
  'per-second',
  'bytes-per-second',
  'seconds',
] as const;
export type MetricUnit = (typeof METRIC_UNITS)[number];

/** How the samples inside one step become its value. */
export type MetricAggregate = 'average' | 'maximum';

export interface MetricDefinition {
  unit: MetricUnit;
  aggregate: MetricAggregate;
  /** Engines with this series; absent: every engine. */
  engines?: readonly Engine[];
  description: string;
}

const ALL = undefined;

export const METRICS = {
  cpu: {
    unit: 'percent',
    aggregate: 'average',
    engines: ALL,
    description:
      'CPU used by the database server. Locally: its processes, in percent of one core (can exceed 100); AWS: CPUUtilization of the instance or node',
  },
  memory: {
    unit: 'bytes',
    aggregate: 'average',
    engines: ALL,
    description:
      'Memory used by the server. Locally: proportional set size (PSS) of its processes; ElastiCache: BytesUsedForCache. RDS and DocumentDB publish only what is left (`memory.free`)',
  },
  'memory.free': {
    unit: 'bytes',
    aggregate: 'average',
    engines: ALL,
    description: 'Memory the host can still give the server (AWS FreeableMemory); not sampled locally',
  },
  'storage.used': {
    unit: 'bytes',
    aggregate: 'maximum',
    engines: ALL,
    description:
      'Bytes on disk of the data directory (locally), of the cluster volume (DocumentDB VolumeBytesUsed), or the allocated storage less FreeStorageSpace (RDS; against the allocation of now, so points from before a storage increase read high by the increase)',
  },
  'storage.free': {
    unit: 'bytes',
    aggregate: 'average',
    engines: ALL,
    description:
      'Free space where the data lives: the file system of the data directory locally, FreeStorageSpace on RDS',
  },
  connections: {
    unit: 'count',
    aggregate: 'average',
    engines: ALL,
    description:
      "Client connections (Redis: connected clients; MongoDB: current connections), not counting the platform's own sampling connection",
  },
  'connections.limit': {
    unit: 'count',
    aggregate: 'maximum',
    engines: ALL,
    description:
      'The most connections the engine accepts (max_connections, maxclients, current + available); not in CloudWatch',
  },
  'read.throughput': {
    unit: 'bytes-per-second',
    aggregate: 'average',
    engines: ALL,
    description:
      "Bytes read from storage per second (locally the server processes' read_bytes; AWS ReadThroughput)",
  },
  'write.throughput': {
    unit: 'bytes-per-second',
    aggregate: 'average',
    engines: ALL,
    description:
      "Bytes written to storage per second (locally the server processes' write_bytes; AWS WriteThroughput)",
  },
  'postgresql.transactions': {
    unit: 'per-second',
    aggregate: 'average',
    engines: ['postgresql'],
    description: 'Transactions committed and rolled back per second, all databases (pg_stat_database)',
  },
  'postgresql.replication-lag': {
    unit: 'seconds',
    aggregate: 'maximum',
    engines: ['postgresql'],
    description:
      'Replay lag of the slowest replica (pg_stat_replication; AWS ReplicaLag); no value without replicas',
  },
  'postgresql.oldest-transaction-age': {
    unit: 'seconds',
    aggregate: 'maximum',
    engines: ['postgresql'],
    description:
      'Age of the oldest open transaction (pg_stat_activity.xact_start); blocks vacuum when it grows',
  },
  'mysql.queries': {
    unit: 'per-second',
    aggregate: 'average',
    engines: ['mysql'],
    description: 'Statements sent by clients per second (SHOW GLOBAL STATUS `Questions`)',
  },
  'mysql.threads-running': {
    unit: 'count',
    aggregate: 'average',
    engines: ['mysql'],
    description: 'Threads executing a statement (`Threads_running`)',
  },
  'mysql.replication-lag': {
    unit: 'seconds',
    aggregate: 'maximum',
    engines: ['mysql'],
    description:
      'Seconds behind the primary (`Seconds_Behind_Master`; AWS ReplicaLag); no value without replicas',
  },
  'redis.memory': {
    unit: 'bytes',
    aggregate: 'average',
    engines: ['redis'],
    description: 'Memory Redis allocated for its data (INFO `used_memory`; AWS BytesUsedForCache)',
  },
  'redis.evictions': {
    unit: 'per-second',
    aggregate: 'average',
    engines: ['redis'],
    description: 'Keys evicted per second because of maxmemory (INFO `evicted_keys`; AWS Evictions)',
  },
  'redis.hit-ratio': {
    unit: 'percent',
    aggregate: 'average',
    engines: ['redis'],
    description:
      'Key lookups that found their key, in percent (keyspace hits / lookups; AWS CacheHitRate); no value without lookups',
  },
  'mongodb.operations': {
    unit: 'per-second',
    aggregate: 'average',
    engines: ['mongodb'],
    description:
      'Inserts, queries, updates, deletes, getMores and commands per second (serverStatus opcounters; AWS Opcounters*)',
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as [MetricName, ...MetricName[]];

export const metricDefinition = (name: MetricName): MetricDefinition => METRICS[name];

/** Whether `engine` has the series at all (on any target). */
export const engineHasMetric = (engine: Engine, name: MetricName): boolean => {
  const engines: readonly Engine[] | undefined = METRICS[name].engines;
  return engines === undefined || engines.includes(engine);
};

/** The catalog's names for `engine`, in catalog order. */
export const metricsOfEngine = (engine: Engine): MetricName[] =>
  METRIC_NAMES.filter((name) => engineHasMetric(engine, name));
