import { errorMessage } from '#shared/errors.ts';
import type { EngineDriver, InstanceContext, InstanceRecord } from './driver.ts';

/** One allocated GiB, in bytes (ADDONS_STORAGE_GIB_BYTES lowers it in tests and benches only). */
export const GIB_BYTES = 1024 ** 3;

/** A full instance is writable again once its data takes less than this share of its allocation. */
export const LIFT_BELOW = 0.95;

/**
 * Whether an instance is full after a measurement: at or above its allocated size; once full,
 * until its data takes less than 95 % of it (hysteresis: an instance at the limit does not flip
 * between read-only and writable with every checkpoint or vacuum).
 */
export const isFull = (usedBytes: number, allocatedBytes: number, wasFull: boolean): boolean =>
  wasFull ? usedBytes >= allocatedBytes * LIFT_BELOW : usedBytes >= allocatedBytes;

export interface StorageGuardDeps {
  /** Servers up now, with their process id. */
  serving(): Array<{ ctx: InstanceContext; pid: number }>;
  /**
   * `fn` under the instance's lock, with its driver and its record as it is now. Resolves false
   * without running it when another operation holds the lock (the next pass checks again).
   */
  underLock(
    resourceId: string,
    fn: (driver: EngineDriver, ctx: InstanceContext) => Promise<void>,
  ): Promise<boolean>;
  /** Atomically (instance-files.ts). */
  writeRecord(resourceId: string, record: InstanceRecord): Promise<void>;
  /** What the instance's data takes now (scaling.ts `treeBytes` of its data directory). */
  usedBytes(ctx: InstanceContext): Promise<number>;
  /** GIB_BYTES but in tests. */
  gibBytes: number;
}

/** A change of an instance's storage state, as one pass made it. */
export interface StorageChange {
  resourceId: string;
  readOnly: boolean;
  usedBytes: number;
  allocatedBytes: number;
}

export interface StoragePass {
  changes: StorageChange[];
  errors: Array<{ resourceId: string; error: string }>;
}

/**
 * The local storage guard (docs/scaling.md): each pass measures every serving instance whose
 * engine can be made read-only (`EngineDriver.setReadOnly`) against its allocated storage. A full
 * instance is recorded (`storageFull` in instance.json, written atomically) and then made
 * read-only; one back under 95 % is recorded writable and then opened again. The record is the
 * truth: each server process is set as it says once, the first time a pass sees that process (a
 * restart of the engine or of the platform, a crash between the record and the engine), and
 * again only when the record changes. Instances busy with another operation wait for the next pass.
 */
export class StorageGuard {
  /** What this platform process last set on each instance's server process. */
  private readonly applied = new Map<string, { pid: number; readOnly: boolean }>();

  constructor(private readonly deps: StorageGuardDeps) {}

  /** `allocatedGiB`: the allocation of instances whose record has none (created before it was recorded). */
  async check(allocatedGiB?: (resourceId: string) => Promise<number | undefined>): Promise<StoragePass> {
    const pass: StoragePass = { changes: [], errors: [] };
    const serving = this.deps.serving();
    const live = new Set(serving.map(({ ctx }) => ctx.resourceId));
    for (const id of this.applied.keys()) if (!live.has(id)) this.applied.delete(id);
    for (const {
      ctx: { resourceId },
      pid,
    } of serving) {
      try {
        await this.deps.underLock(resourceId, (driver, ctx) =>
          this.checkOne(driver, ctx, pid, pass, allocatedGiB),
        );
      } catch (error) {
        pass.errors.push({ resourceId, error: errorMessage(error) });
      }
    }
    return pass;
  }

  private async checkOne(
    driver: EngineDriver,
    ctx: InstanceContext,
    pid: number,
    pass: StoragePass,
    allocatedGiB: ((resourceId: string) => Promise<number | undefined>) | undefined,
  ): Promise<void> {
    const { resourceId, record } = ctx;
    if (!driver.setReadOnly) return;
    const gib = record.storageGiB ?? (await allocatedGiB?.(resourceId));
    if (gib === undefined) return;
    const allocatedBytes = gib * this.deps.gibBytes;
    const usedBytes = await this.deps.usedBytes(ctx);
    const wasFull = record.storageFull === true;
    const full = isFull(usedBytes, allocatedBytes, wasFull);
    let current = record;
    if (full !== wasFull) {
      const { storageFull: _, ...rest } = record;
      current = full ? { ...rest, storageFull: true } : rest;
      await this.deps.writeRecord(resourceId, current);
      pass.changes.push({ resourceId, readOnly: full, usedBytes, allocatedBytes });
    }
    const last = this.applied.get(resourceId);
    if (last?.pid === pid && last.readOnly === full) return;
    await driver.setReadOnly({ ...ctx, record: current }, full);
    this.applied.set(resourceId, { pid, readOnly: full });
  }
}
