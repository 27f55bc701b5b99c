import type { MetricName } from '#shared/metrics/catalog.ts';
import type { InstanceContext } from '../engines/driver.ts';
import type { Counters } from './counters.ts';

export type Readings = Partial<Record<MetricName, number>>;

/** One engine's half of the sampler: what it asks the server, as the platform's own user. */
export interface EngineMetricsReader {
  /** Gauges as they are; counters (ever rising) that `fromRates` turns into series. */
  read(ctx: InstanceContext): Promise<{ gauges: Readings; counters: Counters }>;
  /** Series from the per-second rates of the counters. */
  fromRates(rates: Counters): Readings;
  /**
   * Gauges read on each running read replica, for what only a replica knows (how far behind its
   * primary it is, where the primary keeps no account of it); the sampler keeps the largest of
   * each. Absent where the primary knows it all.
   */
  readReplica?(replica: InstanceContext): Promise<Readings>;
}

/** A number from a driver's answer (text, bigint or number); undefined when absent. */
export const numberOf = (value: unknown): number | undefined => {
  if (value === null || value === undefined || value === '') return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
};

/** Keeps the defined entries. */
export const defined = <T extends Record<string, number | undefined>>(entries: T): Record<string, number> =>
  Object.fromEntries(
    Object.entries(entries).filter((entry): entry is [string, number] => entry[1] !== undefined),
  );
