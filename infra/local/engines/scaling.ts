import fs from 'node:fs/promises';
import path from 'node:path';
import { ProviderError } from '#shared/errors.ts';
import type { ResizeRequest } from '#shared/ports/engine-provider.ts';
import type { InstanceRecord } from './driver.ts';
import { checkId } from './instance-files.ts';
import { LocalEngineSupervisor } from './supervisor.ts';

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
 * Storage is recorded (`storageGiB`) and measured (`storageUsage`), not enforced: see
 * docs/scaling.md. Multi-AZ has no local meaning (one process on one machine) and is refused.
 */
export class LocalScalingSupervisor extends LocalEngineSupervisor {
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

  /** Bytes the instance's data directory takes now (what `storage.usedBytes` shows). */
  async storageUsage(resourceId: string): Promise<number | null> {
    const id = checkId(resourceId);
    const record = await this.files.readRecord(id).catch(() => undefined);
    if (!record) return null;
    return treeBytes(path.join(this.files.dirOf(id), record.dataDir));
  }
}
