import type { Engine } from '../schemas/catalog.ts';
import {
  engineHasMetric,
  METRIC_NAMES,
  type MetricName,
  type MetricUnit,
  metricDefinition,
} from './catalog.ts';

/**
 * What an alert rule can watch: every series of the metric catalog, plus three derived from them
 * (a rule on "storage above 85 %" needs a ratio the catalog does not publish as such).
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
} as const satisfies Record<string, { unit: MetricUnit; inputs: MetricName[]; description: string }>;

export type DerivedAlertMetric = keyof typeof DERIVED_ALERT_METRICS;
export type AlertMetricName = MetricName | DerivedAlertMetric;
export const ALERT_METRIC_NAMES = [
  ...METRIC_NAMES,
  ...(Object.keys(DERIVED_ALERT_METRICS) as DerivedAlertMetric[]),
] as [AlertMetricName, ...AlertMetricName[]];

const isDerived = (name: AlertMetricName): name is DerivedAlertMetric => name in DERIVED_ALERT_METRICS;

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
