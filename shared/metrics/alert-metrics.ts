import type { Engine } from '../schemas/catalog.ts';
import {
  engineHasMetric,
  METRIC_NAMES,
  type MetricName,
  type MetricUnit,
  metricDefinition,
} from './catalog.ts';

/**
 * What an alert rule can watch: every series of the metric catalog, plus some derived from them
 * (a rule on "storage above 85 %" needs a ratio the catalog does not publish as such), and the
 * addon's backup health (`backup.problems`), which the platform evaluates from its own records.
 */
export const DERIVED_ALERT_METRICS = {
  'storage.used-percent': {
    unit: 'percent',
    inputs: ['storage.used', 'storage.free'],
    description:
      'Share of the space where the data lives that is used: storage.used / (storage.used + storage.free) locally; on RDS 1 - FreeStorageSpace / allocated storage',
  },
  'connections.used-percent': {
    unit: 'percent',
    inputs: ['connections', 'connections.limit'],
    description: 'Client connections in percent of the connection limit (connections / connections.limit)',
  },
  'replication-lag': {
    unit: 'seconds',
    inputs: [],
    description:
      "The engine's replication lag (postgresql.replication-lag, mysql.replication-lag); engines without replicas have none",
  },
  'backup.problems': {
    unit: 'count',
    inputs: [],
    description:
      "The addon's backup-health problems (its `backupHealth.problems`: the newest scheduled backup failed, no backup succeeded within 1.5 times the schedule's interval, the point-in-time window is shorter than the plan promises); 0 when healthy. Evaluated by the platform from its own records on each backup-health run (about every 5 minutes on AWS, every scheduler tick locally), for addons with an enabled schedule; `durationSeconds` must be 0",
  },
} as const satisfies Record<string, { unit: MetricUnit; inputs: MetricName[]; description: string }>;

export type DerivedAlertMetric = keyof typeof DERIVED_ALERT_METRICS;
export type AlertMetricName = MetricName | DerivedAlertMetric;
export const ALERT_METRIC_NAMES = [
  ...METRIC_NAMES,
  ...(Object.keys(DERIVED_ALERT_METRICS) as DerivedAlertMetric[]),
] as [AlertMetricName, ...AlertMetricName[]];

const isDerived = (name: AlertMetricName): name is DerivedAlertMetric => name in DERIVED_ALERT_METRICS;

/**
 * A metric the platform evaluates from its own records rather than from sampled series or
 * CloudWatch: no alarm, no sampler; the backup-health monitor drives the rule's state.
 */
export const PLATFORM_ALERT_METRICS: readonly AlertMetricName[] = ['backup.problems'];
export const isPlatformEvaluated = (name: AlertMetricName): boolean => PLATFORM_ALERT_METRICS.includes(name);

/** The engine's own lag series, for `replication-lag`. */
const lagOf = (engine: Engine): MetricName | undefined =>
  METRIC_NAMES.find((name) => name.endsWith('.replication-lag') && engineHasMetric(engine, name));

export const alertMetricUnit = (name: AlertMetricName): MetricUnit =>
  isDerived(name) ? DERIVED_ALERT_METRICS[name].unit : metricDefinition(name).unit;

/** The catalog series an alert metric is computed from, for `engine`; undefined: the engine has none. */
export const alertMetricInputs = (name: AlertMetricName, engine: Engine): MetricName[] | undefined => {
  if (name === 'replication-lag') {
    const lag = lagOf(engine);
    return lag ? [lag] : undefined;
  }
  if (isPlatformEvaluated(name)) return [];
  const inputs: readonly MetricName[] = isDerived(name) ? DERIVED_ALERT_METRICS[name].inputs : [name];
  return inputs.every((input) => engineHasMetric(engine, input)) ? [...inputs] : undefined;
};

/** One value of the alert metric from its inputs' values at the same step (null: not computable). */
export const combineAlertMetric = (
  name: AlertMetricName,
  inputs: readonly (number | null | undefined)[],
): number | null => {
  const [a, b] = inputs;
  if (a === null || a === undefined) return null;
  if (name === 'storage.used-percent') {
    if (b === null || b === undefined || a + b <= 0) return null;
    return (100 * a) / (a + b);
  }
  if (name === 'connections.used-percent') {
    if (b === null || b === undefined || b <= 0) return null;
    return (100 * a) / b;
  }
  return a;
};
