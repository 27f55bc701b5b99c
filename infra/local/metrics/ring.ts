import { createHash } from 'node:crypto';
import { type FileHandle, open, rename } from 'node:fs/promises';
import type { MetricAggregate, MetricName } from '#shared/metrics/catalog.ts';
import { stepIndex } from '#shared/metrics/window.ts';
import type { MetricsWindow } from '#shared/ports/metrics-source.ts';

/**
 * A fixed-size ring of samples for one addon: `capacity` slots, each a time (epoch seconds) and
 * one float32 per field (NaN: no value). It never grows: the oldest slot is overwritten. The
 * same layout is mirrored slot for slot in a file (`RingFile`), so a restart keeps the window
 * and each sample costs one small positioned write.
 */
export class MetricRing {
  readonly times: Uint32Array;
  readonly values: Float32Array;
  private next = 0;

  constructor(
    readonly fields: readonly MetricName[],
    readonly capacity: number,
  ) {
    this.times = new Uint32Array(capacity);
    this.values = new Float32Array(capacity * fields.length).fill(Number.NaN);
  }

  /** Writes a sample into the next slot (overwriting the oldest); returns the slot. */
  append(time: number, readings: Partial<Record<MetricName, number>>): number {
    const slot = this.next;
    this.times[slot] = time;
    const base = slot * this.fields.length;
    this.fields.forEach((field, index) => {
      const value = readings[field];
      this.values[base + index] = value === undefined || !Number.isFinite(value) ? Number.NaN : value;
    });
    this.next = (slot + 1) % this.capacity;
    return slot;
  }

  /** Loads a slot read back from the file; the next write goes after the newest slot. */
  load(slot: number, time: number, values: ArrayLike<number>): void {
    this.times[slot] = time;
    const base = slot * this.fields.length;
    for (let index = 0; index < this.fields.length; index += 1)
      this.values[base + index] = values[index] ?? Number.NaN;
    if (time >= (this.times[(this.next + this.capacity - 1) % this.capacity] ?? 0))
      this.next = (slot + 1) % this.capacity;
  }

  /** The newest sample time (0 when empty). */
  newest(): number {
    return this.times[(this.next + this.capacity - 1) % this.capacity] ?? 0;
  }

  /** Bytes of one slot as the file stores it: u32 time, then float32 values. */
  slotBytes(slot: number): Buffer {
    const buffer = Buffer.alloc(4 + 4 * this.fields.length);
    buffer.writeUInt32LE(this.times[slot] ?? 0, 0);
    const base = slot * this.fields.length;
    for (let index = 0; index < this.fields.length; index += 1) {
      buffer.writeFloatLE(this.values[base + index] ?? Number.NaN, 4 + index * 4);
    }
    return buffer;
  }

  /**
   * One value per step for each name: the average (or maximum) of the samples in the step,
   * null where there is none. One pass over the ring, whatever the window.
   */
  query(
    names: readonly MetricName[],
    window: MetricsWindow,
    aggregateOf: (name: MetricName) => MetricAggregate,
  ): Map<MetricName, (number | null)[]> {
    const columns = names.map((name) => ({
      name,
      field: this.fields.indexOf(name),
      maximum: aggregateOf(name) === 'maximum',
      sums: new Float64Array(window.points),
      counts: new Uint32Array(window.points),
    }));
    const width = this.fields.length;
    for (let slot = 0; slot < this.capacity; slot += 1) {
      const time = this.times[slot] ?? 0;
      if (time === 0) continue;
      const step = stepIndex(window, time);
      if (step < 0) continue;
      for (const column of columns) {
        if (column.field < 0) continue;
        const value = this.values[slot * width + column.field] ?? Number.NaN;
        if (Number.isNaN(value)) continue;
        const count = column.counts[step] ?? 0;
        const sum = column.sums[step] ?? 0;
        column.sums[step] = column.maximum ? (count === 0 ? value : Math.max(sum, value)) : sum + value;
        column.counts[step] = count + 1;
      }
    }
    return new Map(
      columns.map((column) => [
        column.name,
        Array.from(column.counts, (count, step) => {
          if (count === 0) return null;
          const sum = column.sums[step] ?? 0;
          return column.maximum ? sum : sum / count;
        }),
      ]),
    );
  }
}

const MAGIC = 0x524d4441; // "ADMR"
const VERSION = 1;
const HEADER_BYTES = 16;

/** Names the layout: a file written with other fields is started afresh, not misread. */
const layoutHash = (fields: readonly MetricName[]): number =>
  createHash('sha256').update(fields.join(',')).digest().readUInt32LE(0);

/**
 * A ring's file: a 16-byte header (magic, version, field count, capacity, layout hash) and
 * `capacity` slots of `4 + 4 * fields` bytes, written in place. Its size is fixed when created
 * (about 35 bytes per slot for an engine's dozen fields: 8,640 slots of a 24 h window at 10 s is
 * 0.3 MB per addon).
 */
export class RingFile {
  private constructor(
    private readonly handle: FileHandle,
    readonly ring: MetricRing,
  ) {}

  static async open(file: string, fields: readonly MetricName[], capacity: number): Promise<RingFile> {
    const ring = new MetricRing(fields, capacity);
    const slotSize = 4 + 4 * fields.length;
    const existing = await open(file, 'r').catch(() => undefined);
    if (existing) {
      try {
        const header = Buffer.alloc(HEADER_BYTES);
        await existing.read(header, 0, HEADER_BYTES, 0);
        const matches =
          header.readUInt32LE(0) === MAGIC &&
          header.readUInt16LE(4) === VERSION &&
          header.readUInt16LE(6) === fields.length &&
          header.readUInt32LE(8) === capacity &&
          header.readUInt32LE(12) === layoutHash(fields);
        if (matches) {
          const body = Buffer.alloc(slotSize * capacity);
          const { bytesRead } = await existing.read(body, 0, body.length, HEADER_BYTES);
          const slots = Math.floor(bytesRead / slotSize);
          const values = new Float32Array(fields.length);
          for (let slot = 0; slot < slots; slot += 1) {
            const offset = slot * slotSize;
            const time = body.readUInt32LE(offset);
            if (time === 0) continue;
            for (let index = 0; index < fields.length; index += 1)
              values[index] = body.readFloatLE(offset + 4 + index * 4);
            ring.load(slot, time, values);
          }
          await existing.close();
          return new RingFile(await open(file, 'r+'), ring);
        }
      } finally {
        await existing.close().catch(() => undefined);
      }
    }
    // New, or another layout: write the header to a fresh file and move it into place.
    const fresh = `${file}.new`;
    const created = await open(fresh, 'w', 0o600);
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32LE(MAGIC, 0);
    header.writeUInt16LE(VERSION, 4);
    header.writeUInt16LE(fields.length, 6);
    header.writeUInt32LE(capacity, 8);
    header.writeUInt32LE(layoutHash(fields), 12);
    await created.write(header, 0, HEADER_BYTES, 0);
    await created.truncate(HEADER_BYTES + slotSize * capacity);
    await created.close();
    await rename(fresh, file);
    return new RingFile(await open(file, 'r+'), ring);
  }

  /** Appends to the ring and writes that slot. */
  async append(time: number, readings: Partial<Record<MetricName, number>>): Promise<void> {
    const slot = this.ring.append(time, readings);
    const bytes = this.ring.slotBytes(slot);
    await this.handle.write(bytes, 0, bytes.length, HEADER_BYTES + slot * bytes.length);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
