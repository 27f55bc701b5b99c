/**
 * S3 multipart limits: at most 10,000 parts of 5 MiB to 5 GiB each (the last may be smaller),
 * objects up to 5 TiB. https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
 */
export const MIB = 1024 ** 2;
export const GIB = 1024 ** 3;
export const MIN_PART_SIZE = 5 * MIB;
export const MAX_PART_SIZE = 5 * GIB;
export const MAX_PARTS = 10_000;

/** The artifact may outgrow the estimate (dump text is wider than binary storage for numbers, dates). */
export const ESTIMATE_HEADROOM = 2;
/** With no estimate at all, parts sized for this much (14 MiB parts: up to 136 GiB). */
export const DEFAULT_ESTIMATE_BYTES = 64 * GIB;
/** Parts in flight are held in memory: their total stays under this, whatever the part size. */
const IN_FLIGHT_BUDGET = 64 * MIB;
const MAX_QUEUE_SIZE = 4;

export interface UploadPlan {
  /** Bytes per part (every part but the last). */
  partSize: number;
  /** Parts uploaded concurrently (lib-storage `queueSize`). */
  queueSize: number;
  /** The largest artifact this plan can upload before hitting the part limit. */
  capacityBytes: number;
  /**
   * Memory held by the upload at most: the parts in flight plus the one being filled, which
   * lib-storage briefly holds twice while it concatenates the chunks into one buffer.
   */
  peakBufferBytes: number;
}

/**
 * Part size and concurrency for streaming an artifact of about `estimatedBytes` to S3. The part
 * size grows with the estimate (whole MiB, with headroom) so that the 10,000-part limit is not
 * reached; concurrency shrinks as parts grow so that memory stays bounded.
 */
export const planUpload = (estimatedBytes?: number): UploadPlan => {
  const estimate =
    estimatedBytes !== undefined && Number.isFinite(estimatedBytes) && estimatedBytes >= 0
      ? estimatedBytes
      : DEFAULT_ESTIMATE_BYTES;
  const needed = Math.ceil((estimate * ESTIMATE_HEADROOM) / MAX_PARTS / MIB) * MIB;
  const partSize = Math.min(MAX_PART_SIZE, Math.max(MIN_PART_SIZE, needed));
  const queueSize = Math.max(1, Math.min(MAX_QUEUE_SIZE, Math.floor(IN_FLIGHT_BUDGET / partSize)));
  return {
    partSize,
    queueSize,
    capacityBytes: partSize * MAX_PARTS,
    peakBufferBytes: (queueSize + 2) * partSize,
  };
};
