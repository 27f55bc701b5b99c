import type { MetricName } from '../metrics/catalog.ts';
import type { Engine } from '../schemas/catalog.ts';

/** A grid of `points` steps of `step` seconds from `from` (epoch seconds): step i covers [from + i*step, from + (i+1)*step). */
export interface MetricsWindow {
  from: number;
  step: number;
  points: number;
}

/** What a source needs to know of an addon. */
export interface MetricsTarget {
  addonId: string;
  resourceId: string;
  engine: Engine;
  /** The storage allocated to the addon now, where series are derived from it (RDS's used space). */
  storageGiB?: number;
}

/**
 * Where series come from: the local sampler's rings, or CloudWatch. This is also the internal
 * query API that alert evaluation calls (`MetricsService.series`).
 */
export interface MetricsSource {
  /** Steps must be a multiple of this (CloudWatch periods of standard metrics: 60 s). */
  readonly stepMultiple: number;
  /** Why this source cannot serve `name` for `engine` (a 422), or undefined when it can. */
  unavailable(engine: Engine, name: MetricName): string | undefined;
  /** One value per step for each name (null: no sample in that step). */
  query(
    target: MetricsTarget,
    names: readonly MetricName[],
    window: MetricsWindow,
  ): Promise<Map<MetricName, (number | null)[]>>;
}
