import fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import { generatePassword } from '#shared/services/credentials.ts';
import type { EngineDriver, InstanceContext, InstanceRecord, RestoreRecord } from './driver.ts';
import { chownTree, ownedBy } from './os-users.ts';
import { chownTo, ensureReachable, exists, type RunAs, readJson, writeJsonAtomic } from './system.ts';

const RESOURCE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const RECORD_FILE = 'instance.json';
/** Data directories of an instance: `data` at creation, `data-<base36 time>` after each restore. */
const DATA_DIR_NAME = /^data(-[0-9a-z]+)?$/;
/**
 * The scratch directory of the restore running on an instance (a point-in-time recovery's WAL and
 * its private server's socket), next to the data directories. The restore removes it when it
 * ends; one a crash cut short leaves it, and the next sweep (resume, or the next restore) does.
 */
export const RESTORE_SCRATCH_DIR = 'pitr-staging';

export type Log = (msg: string, extra?: object) => void;

export const checkId = (resourceId: string): string => {
  if (!RESOURCE_ID.test(resourceId))
    throw new ProviderError(`Invalid resource id '${resourceId}'`, 'InvalidResourceId');
  return resourceId;
};

/** Records written before restore ids existed name the restore by its snapshot. */
export const restoreIdOf = (restore: RestoreRecord | undefined): string | undefined =>
  restore?.restoreId ?? restore?.snapshotId;

/**
 * The instances' directories on disk: `${dataDir}/engines/${resourceId}/` holds instance.json,
 * the data directories, the socket directory and server.log.
 */
export class InstanceFiles {
  readonly dataDir: string;
  readonly enginesDir: string;
  /** The record last read of each instance, with the identity of the file it came from (`readRecord`). */
  private readonly records = new Map<string, { key: string; record: InstanceRecord }>();

  constructor(
    dataDir: string,
    private readonly log: Log,
  ) {
    this.dataDir = dataDir;
    this.enginesDir = path.join(dataDir, 'engines');
  }

  dirOf(id: string): string {
    return path.join(this.enginesDir, id);
  }

  context(id: string, record: InstanceRecord, runAs: RunAs | undefined): InstanceContext {
    const dir = this.dirOf(id);
    return {
      resourceId: id,
      dir,
      dataDir: path.join(dir, path.basename(record.dataDir || 'data')),
      socketDir: path.join(dir, 'run'),
      logFile: path.join(dir, 'server.log'),
      record,
      runAs,
    };
  }

  /**
   * The instance's record, or undefined when it has none. Every GET of an addon reads it: one
   * `stat` tells whether the file is the one read last time (inode, times and size; a write
   * replaces the file), instead of the four calls of reading it again. Each caller gets a copy.
   */
  async readRecord(id: string): Promise<InstanceRecord | undefined> {
    const file = path.join(this.dirOf(id), RECORD_FILE);
    try {
      const stat = await fs.stat(file).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (!stat) {
        this.records.delete(id);
        return undefined;
      }
      const key = `${stat.ino}:${stat.mtimeMs}:${stat.ctimeMs}:${stat.size}`;
      const known = this.records.get(id);
      if (known?.key === key) return structuredClone(known.record);
      const record = await readJson<InstanceRecord>(file);
      if (record) this.records.set(id, { key, record: structuredClone(record) });
      return record;
    } catch (error) {
      // Written atomically, so never half-written; not something to wipe data over either.
      throw new ProviderError(`Cannot read ${file}: ${errorMessage(error)}`, 'InstanceRecordUnreadable');
    }
  }

  async writeRecord(id: string, record: InstanceRecord): Promise<void> {
    this.records.delete(id);
    await writeJsonAtomic(path.join(this.dirOf(id), RECORD_FILE), record);
    this.records.delete(id);
  }

  /** The ports recorded by every instance but `id` (stopped ones included). */
  async recordedPorts(id: string): Promise<number[]> {
    const ports: number[] = [];
    const names = await fs.readdir(this.enginesDir).catch(() => [] as string[]);
    for (const name of names) {
      if (name === id) continue;
      const other = await readJson<InstanceRecord>(path.join(this.enginesDir, name, RECORD_FILE)).catch(
        () => undefined,
      );
      if (other) ports.push(other.port);
    }
    return ports;
  }

  /**
   * Remove data directories the instance no longer uses (the previous data of a restore a crash
   * cut short) and the scratch directory of such a restore. Call under the instance's lock.
   */
  async sweepDataDirs(id: string, record: InstanceRecord): Promise<void> {
    if (record.restore?.state === 'restoring') return;
    const current = path.basename(record.dataDir || 'data');
    if (!(await exists(path.join(this.dirOf(id), current)))) return; // not sure of anything then
    const names = await fs.readdir(this.dirOf(id)).catch(() => [] as string[]);
    for (const name of names) {
      const scratch = name === RESTORE_SCRATCH_DIR;
      if (name === current || !(scratch || DATA_DIR_NAME.test(name))) continue;
      const what = scratch
        ? 'the scratch directory of an interrupted restore'
        : 'a data directory the instance no longer uses';
      this.log(`engine: removing ${what}`, { resourceId: id, dir: name });
      await fs.rm(path.join(this.dirOf(id), name), { recursive: true, force: true });
    }
  }

  /**
   * As root, the engine's files belong to the instance's own OS user, 0700: instances that ran as
   * one shared system user before per-instance users existed are handed over at their next start.
   */
  async adoptFiles(ctx: InstanceContext): Promise<void> {
    const { runAs } = ctx;
    if (!runAs) return;
    await fs.chmod(ctx.dir, 0o711);
    for (const owned of [ctx.dataDir, ctx.socketDir]) {
      if (!(await exists(owned))) {
        await fs.mkdir(owned, { mode: 0o700 });
        await chownTo(owned, runAs);
      }
      if (!(await ownedBy(owned, runAs))) await chownTree(owned, runAs);
      await fs.chmod(owned, 0o700);
    }
    await ensureReachable(ctx.dataDir, runAs, [this.dataDir, this.enginesDir]);
  }

  /**
   * Records from before customer roles have no platform role: give them one (written before the
   * driver migrates, so a crash midway finds the same password next time).
   */
  async withPlatformRole(id: string, record: InstanceRecord, driver: EngineDriver): Promise<InstanceRecord> {
    if (record.admin) return record;
    const updated: InstanceRecord = {
      ...record,
      admin: { username: driver.platformRole, password: generatePassword() },
      accessSettled: false,
    };
    await this.writeRecord(id, updated);
    this.log('engine: migrating an instance to a customer role and a platform superuser', { resourceId: id });
    return updated;
  }

  /** Migrate the data of an older instance once it runs (see `InstanceRecord.accessSettled`). */
  async settleIfNeeded(ctx: InstanceContext, driver: EngineDriver): Promise<void> {
    if (ctx.record.accessSettled !== false) return;
    await driver.settleAccess(ctx);
    const { accessSettled: _settled, ...settled } = ctx.record;
    ctx.record = settled;
    await this.writeRecord(ctx.resourceId, settled);
    this.log('engine: instance migrated to a customer role and a platform superuser', {
      resourceId: ctx.resourceId,
    });
  }
}
