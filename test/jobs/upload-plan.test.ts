import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ESTIMATE_BYTES,
  ESTIMATE_HEADROOM,
  GIB,
  MAX_PART_SIZE,
  MAX_PARTS,
  MIB,
  MIN_PART_SIZE,
  planUpload,
} from '#shared/jobs/upload-plan.ts';

const GB = 1000 ** 3;
const TB = 1000 ** 4;

describe('planUpload', () => {
  it.each([
    ['1 GB', 1 * GB],
    ['100 GB', 100 * GB],
    ['5 TB', 5 * TB],
  ])('keeps a %s artifact, even one twice as large as estimated, under 10,000 parts', (_, estimate) => {
    const plan = planUpload(estimate);

    expect(Math.ceil(estimate / plan.partSize)).toBeLessThanOrEqual(MAX_PARTS);
    expect(Math.ceil((estimate * ESTIMATE_HEADROOM) / plan.partSize)).toBeLessThanOrEqual(MAX_PARTS);
    expect(plan.capacityBytes).toBeGreaterThanOrEqual(estimate * ESTIMATE_HEADROOM);
    expect(plan.partSize).toBeGreaterThanOrEqual(MIN_PART_SIZE);
    expect(plan.partSize).toBeLessThanOrEqual(MAX_PART_SIZE);
    expect(plan.partSize % MIB).toBe(0);
    expect(plan.queueSize).toBeGreaterThanOrEqual(1);
  });

  it('uses the 5 MiB minimum and full concurrency for small artifacts', () => {
    expect(planUpload(1 * GB)).toEqual({
      partSize: 5 * MIB,
      queueSize: 4,
      capacityBytes: 5 * MIB * MAX_PARTS,
      peakBufferBytes: 30 * MIB,
    });
    expect(planUpload(0).partSize).toBe(MIN_PART_SIZE);
  });

  it('grows the part size with the estimate and lowers concurrency to bound memory', () => {
    const medium = planUpload(100 * GB);
    const huge = planUpload(5 * TB);

    expect(medium.partSize).toBe(20 * MIB);
    expect(medium.queueSize).toBe(3);
    expect(huge.partSize).toBe(954 * MIB);
    expect(huge.queueSize).toBe(1);
  });

  it('never goes above 5 GiB parts, even for estimates beyond what S3 can store', () => {
    expect(planUpload(100 * TB).partSize).toBe(5 * GIB);
  });

  it('plans for a default size when there is no usable estimate', () => {
    for (const estimate of [undefined, Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      expect(planUpload(estimate)).toEqual(planUpload(DEFAULT_ESTIMATE_BYTES));
    }
    expect(planUpload(undefined).partSize).toBe(14 * MIB);
  });
});
