import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ProviderError } from '#shared/errors.ts';
import type { SnapshotExport } from '#shared/ports/engine-provider.ts';
import type { Engine } from '#shared/schemas/catalog.ts';
import { chownTo, exists, fsyncPath, type RunAs, readJson, writeJsonAtomic } from './system.ts';

/**
 * What `${dataDir}/snapshots/${snapshotId}/snapshot.json` holds. The instance's fields are all
 * there when `available`; a snapshot that failed early may lack some.
 */
export interface SnapshotRecord {
  snapshotId: string;
  /** The instance it was taken from (which may have been deleted since). */
  resourceId: string;
  engine?: Engine;
  /** The instance's version as it was created (e.g. "15"). */
  version?: string;
  /** The engine major version of the data (as the data directory records it); a restore needs the same. */
  engineMajor?: string;
  /** What wrote the files in `backup/` (the engine driver's `format`). */
  format?: string;
  /** The instance's database and user: the connection details a restore keeps valid. */
  database?: string;
  username?: string;
  state: 'available' | 'failed';
  /** Bytes of `backup/` (compressed), when available. */
  sizeBytes?: number;
  /** The downloadable copy uploaded before the snapshot was committed, when one was asked for. */
  exported?: SnapshotExport;
  reason?: string;
  /** When the snapshot began. */
  createdAt: string;
  completedAt: string;
}

// No dots (see SnapshotStore); at most 236 characters, so `.deleting.<id>.<8 hex>` fits a 255-byte name.
const SNAPSHOT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,235}$/;
const RECORD_FILE = 'snapshot.json';
const PARTIAL = '.partial.';
const DELETING = '.deleting.';

export const checkSnapshotId = (snapshotId: string): string => {
  if (!SNAPSHOT_ID.test(snapshotId)) {
    throw new ProviderError(`Invalid snapshot id '${snapshotId}'`, 'InvalidSnapshotId');
  }
  return snapshotId;
};

const suffix = (): string => randomBytes(4).toString('hex');

/**
 * Snapshots on disk, outside the instances' directories so they outlive a deleted instance:
 *
 *   snapshots/<snapshotId>/snapshot.json   complete: `available` or `failed` (root-owned)
 *   snapshots/<snapshotId>/backup/         the engine's files (owned by the engine user)
 *   snapshots/.partial.<snapshotId>.<rand>/   being taken (or left by a crash mid-way)
 *   snapshots/.deleting.<snapshotId>.<rand>/  being deleted
 *
 * A snapshot is taken in a `.partial` directory and renamed to its id once snapshot.json is
 * written, so `<snapshotId>/` never holds half a snapshot; a deletion renames it away first for
 * the same reason. Snapshot ids cannot contain dots, so these names never collide with one.
 */
export class SnapshotStore {
  constructor(readonly dir: string) {}

  pathOf(snapshotId: string): string {
    return path.join(this.dir, snapshotId);
  }

  backupDirOf(snapshotId: string): string {
    return path.join(this.dir, snapshotId, 'backup');
  }

  async read(snapshotId: string): Promise<SnapshotRecord | undefined> {
    return readJson<SnapshotRecord>(path.join(this.pathOf(snapshotId), RECORD_FILE));
  }

  /** Whether `<snapshotId>/` exists at all (with or without its snapshot.json). */
  completed(snapshotId: string): Promise<boolean> {
    return exists(this.pathOf(snapshotId));
  }

  /** `.partial` directories of this snapshot: attempts in progress or interrupted by a crash. */
  async partials(snapshotId: string): Promise<string[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    return names
      .filter((name) => name.startsWith(`${PARTIAL}${snapshotId}.`))
      .map((name) => path.join(this.dir, name));
  }

  /**
   * A fresh attempt: drops what an earlier failed or interrupted attempt left, and returns a new
   * `.partial` directory with an empty `backup/` owned by the engine user.
   */
  async begin(snapshotId: string, runAs: RunAs | undefined): Promise<{ dir: string; backupDir: string }> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o711 });
    await fs.chmod(this.dir, runAs ? 0o711 : 0o700); // whatever the umask
    await this.remove(snapshotId);
    const dir = path.join(this.dir, `${PARTIAL}${snapshotId}.${suffix()}`);
    // The engine user walks through (no listing) to backup/, which it owns; snapshot.json stays root's.
    await fs.mkdir(dir, { mode: runAs ? 0o711 : 0o700 });
    await fs.chmod(dir, runAs ? 0o711 : 0o700); // whatever the umask
    const backupDir = path.join(dir, 'backup');
    await fs.mkdir(backupDir, { mode: 0o700 });
    await chownTo(backupDir, runAs);
    return { dir, backupDir };
  }

  /** Write snapshot.json into the attempt's directory and publish it under its id (atomic rename). */
  async commit(partialDir: string, record: SnapshotRecord): Promise<void> {
    const backupDir = path.join(partialDir, 'backup');
    if (record.state === 'available') {
      for (const name of await fs.readdir(backupDir)) await fsyncPath(path.join(backupDir, name));
      await fsyncPath(backupDir);
    } else {
      await fs.rm(backupDir, { recursive: true, force: true }); // a failed snapshot keeps its reason only
    }
    await writeJsonAtomic(path.join(partialDir, RECORD_FILE), record);
    await fsyncPath(path.join(partialDir, RECORD_FILE));
    await fsyncPath(partialDir);
    await fs.rm(this.pathOf(record.snapshotId), { recursive: true, force: true });
    await fs.rename(partialDir, this.pathOf(record.snapshotId));
    await fsyncPath(this.dir);
  }

  /** Record a failed attempt under its id, with its reason (from its partial directory, if it got one). */
  async fail(partialDir: string | undefined, record: SnapshotRecord): Promise<void> {
    let dir = partialDir;
    if (!dir || !(await exists(dir))) {
      await fs.mkdir(this.dir, { recursive: true, mode: 0o711 });
      dir = path.join(this.dir, `${PARTIAL}${record.snapshotId}.${suffix()}`);
      await fs.mkdir(dir, { mode: 0o700 });
    }
    await this.commit(dir, record);
  }

  /** Remove the snapshot and any attempt at it; nothing there is fine. */
  async remove(snapshotId: string): Promise<void> {
    const doomed = path.join(this.dir, `${DELETING}${snapshotId}.${suffix()}`);
    try {
      await fs.rename(this.pathOf(snapshotId), doomed);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    for (const partial of await this.partials(snapshotId))
      await fs.rm(partial, { recursive: true, force: true });
    await fs.rm(doomed, { recursive: true, force: true });
  }

  /** The `backup/` directories of the available snapshots of one instance. */
  async backupDirsOf(resourceId: string): Promise<string[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const dirs: string[] = [];
    for (const name of names.filter((each) => !each.startsWith('.'))) {
      const record = await this.read(name).catch(() => undefined);
      if (record?.resourceId === resourceId && (await exists(this.backupDirOf(name)))) {
        dirs.push(this.backupDirOf(name));
      }
    }
    return dirs;
  }

  /** Finish deletions a crash interrupted. */
  async sweep(): Promise<void> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    for (const name of names.filter((each) => each.startsWith(DELETING))) {
      await fs.rm(path.join(this.dir, name), { recursive: true, force: true });
    }
  }
}
