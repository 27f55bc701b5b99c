import { resourceIdFor } from '../../ports/engine-provider.ts';
import type { Addon } from '../../schemas/addon.ts';
import type { StorageUsage } from '../../schemas/scaling.ts';
import { type CloudWatchMetrics, storageUsageSource } from './cloudwatch-metrics.ts';

const GIB = 1024 ** 3;
/** Periods of 5 minutes over the last 6 hours: RDS and ElastiCache publish every minute, DocumentDB's volume size less often. */
const STEP_SECONDS = 300;
const LOOKBACK_SECONDS = 6 * 3600;

export interface CloudWatchStorageUsageProps {
  /** The metrics API's own reader: the same GetMetricData path, queries and permission. */
  metrics: Pick<CloudWatchMetrics, 'query'>;
  /** Epoch milliseconds. */
  now?: () => number;
}

/**
 * The storage a GET of one addon shows on AWS: its allocated size and the bytes its data takes,
 * from the latest CloudWatch datapoint of the engine's series (`storageUsageSource`): the
 * allocated storage less the free space where the service publishes only what is left (RDS
 * `FreeStorageSpace`; the allocated size is the addon's `storageGiB`, which the platform keeps
 * equal to the instance's `AllocatedStorage`, as the storage alarm does), the used bytes where it
 * publishes them. No datapoint (a new addon, a resource CloudWatch has not heard of yet) or a
 * CloudWatch error: `usedBytes` null and `usedBytesNote` saying why, never 0.
 */
export class CloudWatchStorageUsage {
  private readonly now: () => number;

  constructor(private readonly props: CloudWatchStorageUsageProps) {
    this.now = props.now ?? Date.now;
  }

  /** The addon's resource is named after its id (restores swap by rename and keep the name). */
  async of(addon: Pick<Addon, 'id' | 'engine' | 'storageGiB'>): Promise<StorageUsage> {
    const allocated = { allocatedGiB: addon.storageGiB, readOnly: null };
    const { series, measures } = storageUsageSource(addon.engine);
    const metric = `CloudWatch ${series}`;
    const nowSeconds = Math.floor(this.now() / 1000);
    const end = nowSeconds - (nowSeconds % STEP_SECONDS) + STEP_SECONDS;
    const window = {
      from: end - LOOKBACK_SECONDS,
      step: STEP_SECONDS,
      points: LOOKBACK_SECONDS / STEP_SECONDS,
    };
    let values: (number | null)[];
    try {
      const read = await this.props.metrics.query(
        { addonId: addon.id, resourceId: resourceIdFor(addon.id), engine: addon.engine },
        [series],
        window,
      );
      values = read.get(series) ?? [];
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return unmeasured(allocated, `${metric} could not be read: ${message}`.slice(0, 300));
    }
    const index = values.findLastIndex((value) => value !== null);
    const value = index >= 0 ? values[index] : null;
    if (value === null || value === undefined) {
      return unmeasured(
        allocated,
        `No ${metric} datapoint in the last 6 hours (a new addon's comes within minutes)`,
      );
    }
    const usedBytes = Math.round(measures === 'free' ? Math.max(0, addon.storageGiB * GIB - value) : value);
    return {
      ...allocated,
      usedBytes,
      usedBytesAt: new Date((window.from + index * STEP_SECONDS) * 1000).toISOString(),
    };
  }
}

const unmeasured = (allocated: { allocatedGiB: number; readOnly: null }, note: string): StorageUsage => ({
  ...allocated,
  usedBytes: null,
  usedBytesAt: null,
  usedBytesNote: note,
});
