import { UnsupportedError, ValidationError } from '../errors.ts';
import type { MetricName } from '../metrics/catalog.ts';
import { engineHasMetric, metricDefinition, metricsOfEngine } from '../metrics/catalog.ts';
import { resolveWindow, windowTimestamps } from '../metrics/window.ts';
import type { MetricsSource, MetricsTarget, MetricsWindow } from '../ports/metrics-source.ts';
import type { MetricSeries, MetricsQuery, MetricsResponse } from '../schemas/metrics.ts';
import type { AddonStore } from '../store/addon-store.ts';

export interface MetricsServiceProps {
  store: Pick<AddonStore, 'getAddon'>;
  source: MetricsSource;
  /** Epoch milliseconds. */
  now?: () => number;
}

/**
 * The metrics API: checks names and window against the addon's engine and the target, then asks
 * the source. `series` is the internal query API (alert evaluation): no HTTP, no project check.
 */
export class MetricsService {
  private readonly now: () => number;

  constructor(private readonly props: MetricsServiceProps) {
    this.now = props.now ?? Date.now;
  }

  async query(projectId: string, addonId: string, query: MetricsQuery): Promise<MetricsResponse> {
    const addon = await this.props.store.getAddon(projectId, addonId);
    const target: MetricsTarget = {
      addonId: addon.id,
      resourceId: addon.resourceId,
      engine: addon.engine,
      storageGiB: addon.storageGiB,
    };
    const names = this.checkNames(target, query.names);
    const window = resolveWindow(query, Math.floor(this.now() / 1000), this.props.source.stepMultiple);
    const series = await this.series(target, names, window);
    return {
      addonId: addon.id,
      engine: addon.engine,
      from: new Date(window.from * 1000).toISOString(),
      to: new Date((window.from + window.points * window.step) * 1000).toISOString(),
      step: window.step,
      timestamps: windowTimestamps(window),
      series,
    };
  }

  /** The internal query API: series of an addon over a grid, each with its unit. */
  async series(
    target: MetricsTarget,
    names: readonly MetricName[],
    window: MetricsWindow,
  ): Promise<MetricSeries[]> {
    const values = await this.props.source.query(target, names, window);
    return names.map((name) => ({
      name,
      unit: metricDefinition(name).unit,
      values: values.get(name) ?? Array.from({ length: window.points }, () => null),
    }));
  }

  /** Names asked for, or every name the engine has here; a 400/422 naming `names` otherwise. */
  private checkNames(target: MetricsTarget, asked: readonly MetricName[] | undefined): MetricName[] {
    const { source } = this.props;
    if (!asked || asked.length === 0) {
      return metricsOfEngine(target.engine).filter((name) => !source.unavailable(target.engine, name));
    }
    const otherEngine = asked.filter((name) => !engineHasMetric(target.engine, name));
    if (otherEngine.length > 0) {
      throw new ValidationError(`Not a metric of ${target.engine} addons: ${otherEngine.join(', ')}`, [
        {
          path: 'names',
          message: `${otherEngine.join(', ')} ${otherEngine.length === 1 ? 'is' : 'are'} not a metric of ${target.engine}; it has ${metricsOfEngine(target.engine).join(', ')}`,
        },
      ]);
    }
    const missing = asked
      .map((name) => ({ name, reason: source.unavailable(target.engine, name) }))
      .filter((entry): entry is { name: MetricName; reason: string } => entry.reason !== undefined);
    if (missing.length > 0) {
      throw new UnsupportedError(
        missing.map((entry) => `${entry.name}: ${entry.reason}`).join('; '),
        missing.map((entry) => ({ path: 'names', message: `${entry.name}: ${entry.reason}` })),
      );
    }
    return [...asked];
  }
}
