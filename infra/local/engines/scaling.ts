import fs from 'node:fs/promises';
import path from 'node:path';
import { ProviderError } from '#shared/errors.ts';
import type { ResizeRequest } from '#shared/ports/engine-provider.ts';
import type { InstanceRecord } from './driver.ts';
import { checkId } from './instance-files.ts';
import { LastReadings } from './last-readings.ts';
import { GIB_BYTES, StorageGuard, type StoragePass } from './storage-guard.ts';
import { LocalEngineSupervisor, type LocalEngineSupervisorOptions } from './supervisor.ts';

export interface LocalScalingSupervisorOptions extends LocalEngineSupervisorOptions {
  /** Bytes one allocated GiB counts for the storage guard: tests and benches only (ADDONS_STORAGE_GIB_BYTES). */
  storageGiBBytes?: number;
}

/**
 * How old a measurement of an instance's data may be when `storage.usedBytes` shows it: the
 * storage guard measures every scheduler tick (15 s by default), CloudWatch's storage metrics on
 * AWS are per minute.
 */
const USAGE_MAX_AGE_MS = 10_000;

/** Bytes the files under `dir` take (apparent sizes; links are not followed). */
export const treeBytes = async (dir: string): Promise<number> => {
  let total = 0;
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const stat = await fs.lstat(path.join(entry.parentPath, entry.name)).catch(() => undefined);
    total += stat?.size ?? 0;
  }
  return total;
};

/**
 * The local engine supervisor with scaling (EngineProvider.resize): a plan is the server's memory
 * limits, which each driver derives from instance.json's `memoryMiB` at every start (see each
 * engine folder's sizing.ts, and the Redis config's maxmemory). A plan change writes the
 * record (atomically) and restarts the server, under the instance's lock: a crash at any moment
 * leaves a record with the old or the new plan, and the next start runs the server with it; the
 * workflow, started again, finds the plan applied (or applies it) and ends. If the restart with
 * the new plan fails, the old record is put back and the server started with it.
 *
 * Storage is recorded (`storageGiB`), measured (`storageUsage`) and enforced by the storage guard
 * (`checkStorage`, storage-guard.ts): a full instance is read-only until its storage grows or its
 * data shrinks. Multi-AZ has no local meaning (one process on one machine) and is refused.
 */
export class LocalScalingSupervisor extends LocalEngineSupervisor {
  private readonly guard: StorageGuard;
  /** The latest measurement of each instance's data directory (the guard's, or a GET's). */
  private readonly usage = new LastReadings<number>(USAGE_MAX_AGE_MS);

  constructor(options: LocalScalingSupervisorOptions) {
    super(options);
    this.guard = new StorageGuard({
      serving: () => this.servingInstances(),
      underLock: async (resourceId, fn) => {
        // Another operation (a snapshot, a restore, a plan change) goes first; the next pass checks.
        if (this.locks.ids().includes(resourceId)) return false;
        await this.onReady(resourceId, fn);
        return true;
      },
      writeRecord: (resourceId, record) => this.files.writeRecord(resourceId, record),
      // The guard always measures; what it found is what the next GETs show.
      usedBytes: (ctx) => this.measure(ctx.resourceId, ctx.dataDir, true),
      gibBytes: options.storageGiBBytes ?? GIB_BYTES,
    });
  }

  /**
   * One pass of the storage guard over the serving instances (the local scheduler's tick runs it).
   * `allocatedGiB`: for instances whose record predates recorded allocations, the addon's.
   */
  checkStorage(allocatedGiB?: (resourceId: string) => Promise<number | undefined>): Promise<StoragePass> {
    return this.guard.check(allocatedGiB);
  }

  resize(resourceId: string, change: ResizeRequest): Promise<void> {
    if (change.multiAz !== undefined) {
      return Promise.reject(
        new ProviderError(
          'Multi-AZ is not available on the local target: one server on one machine',
          'Unsupported',
        ),
      );
    }
    return this.onReady(resourceId, async (driver, ctx) => {
      const record: InstanceRecord = {
        ...ctx.record,
        ...(change.plan ? { memoryMiB: change.plan.memoryMiB } : {}),
        ...(change.storageGiB !== undefined ? { storageGiB: change.storageGiB } : {}),
      };
      const restart = record.memoryMiB !== ctx.record.memoryMiB;
      if (!restart && record.storageGiB === ctx.record.storageGiB) {
        // Applied already (a retried or resumed workflow): only make sure the server runs.
        await this.servers.ensureRunning(ctx, driver);
        return;
      }
      await this.files.writeRecord(ctx.resourceId, record);
      if (!restart) return;
      try {
        await this.servers.stopOurs(ctx.resourceId);
        await this.servers.ensureRunning({ ...ctx, record }, driver);
      } catch (error) {
        await this.files.writeRecord(ctx.resourceId, ctx.record);
        await this.servers.stopOurs(ctx.resourceId).catch(() => undefined);
        await this.servers.ensureRunning(ctx, driver);
        throw error;
      }
    });
  }

  /**
   * Bytes the instance's data directory takes (what `storage.usedBytes` shows: see `measure`), and
   * whether the storage guard made it read-only (null for an engine without a storage size: Redis,
   * MongoDB).
   */
  async storageUsage(resourceId: string): Promise<{ usedBytes: number | null; readOnly: boolean | null }> {
    const id = checkId(resourceId);
    const record = await this.files.readRecord(id).catch(() => undefined);
    if (!record) return { usedBytes: null, readOnly: null };
    const guarded = this.drivers.find(record.engine)?.setReadOnly !== undefined;
    return {
      usedBytes: await this.measure(id, path.join(this.files.dirOf(id), record.dataDir), false),
      readOnly: guarded ? record.storageFull === true : null,
    };
  }

  /**
   * The bytes under `dir`: a new walk waited for (`fresh`, the storage guard's), or for a `GET` the
   * walk of at most USAGE_MAX_AGE_MS ago, past that the last one while it walks again. Walking a
   * data directory stats every file (tens of milliseconds for an idle PostgreSQL, seconds on a busy
   * machine): every GET of an addon shows the figure and a console polls it.
   */
  private measure(resourceId: string, dir: string, fresh: boolean): Promise<number> {
    return this.usage.get(resourceId, () => treeBytes(dir), { tag: dir, fresh });
  }
}
