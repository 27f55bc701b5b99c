import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { MissingToolError, ProviderError } from '#shared/errors.ts';
import { describeWindow, partAt } from '../archive-window.ts';
import type { ArchiveWindow, InstanceContext, PitrDriver, SnapshotDriver } from '../driver.ts';
import { RESTORE_SCRATCH_DIR } from '../instance-files.ts';
import { chownTo, exists, fileSize } from '../system.ts';
import { platformConnect, platformRoleOf } from './connect.ts';
import { recoverToTime } from './recovery.ts';
import {
  deleteKeys,
  GENERATION_FILE,
  generationPrefix,
  getJson,
  listGenerations,
  listKeys,
  pitrSettings,
  readGeneration,
  segmentLastCommit,
  type WalArchiveTarget,
  waldumpTool,
  writeGeneration,
} from './wal-archive.ts';

/** What `base/<name>/backup.json` records; its presence commits the base backup. */
interface BaseBackupRecord {
  name: string;
  resourceId: string;
  generation: string;
  /** The WAL segment current when the backup began: recovery needs it and every later one. */
  startWal: string;
  startedAt: string;
  /** The backup is consistent from here on: the earliest time it can restore. */
  completedAt: string;
  engineMajor: string;
  database: string;
  username: string;
}

const BASE_FILES = ['base.tar.zst', 'pg_wal.tar.zst', 'backup_manifest'];
const WAL_SEGMENT = /^[0-9A-F]{24}$/;
const HISTORY = /^[0-9A-F]{8}\.history$/;

/** Seconds-precision ISO 8601 ("2026-12-01T00:15:02Z"). */
const isoSecond = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The latest time a recovery can stop at, given the last commit time in the archive (ISO with
 * microseconds): recovery to T stops before the first commit after T, so T must be before it.
 */
const latestBefore = (lastCommit: string): number => {
  const seconds = Date.parse(`${lastCommit.slice(0, 19)}Z`);
  return /\.0*Z$/.test(lastCommit) ? seconds - 1000 : seconds;
};

/** Microsecond ISO of a time to the second or millisecond, comparable with `last-commit` metadata. */
const microIso = (ms: number): string => new Date(ms).toISOString().replace(/Z$/, '000Z');

/**
 * Point-in-time recovery of local PostgreSQL: every WAL segment archived by archive_command
 * (wal-archive-command.ts) into the object store, base backups with pg_basebackup (the snapshot
 * driver's `take`) uploaded next to it, and recovery with `recovery_target_time` (recovery.ts).
 */
export class PostgresPitr implements PitrDriver {
  /** Immutable objects read before: backup records and segments' last commit times, by key. */
  private readonly cache = new Map<string, unknown>();

  constructor(
    private readonly target: WalArchiveTarget,
    private readonly snapshots: SnapshotDriver,
  ) {}

  async checkAvailable(): Promise<void> {
    const major = await this.snapshots.serverMajor();
    if (!(await waldumpTool(major))) {
      throw new MissingToolError(
        `pg_waldump (PostgreSQL ${major} server tools), which reads commit times of archived WAL`,
        `install it (Debian: apt-get install postgresql-${major})`,
      );
    }
  }

  /** The archive_command arguments for `serverCommand`: see wal-archive.ts. */
  async waldump(major?: string): Promise<string | undefined> {
    return waldumpTool(major ?? (await this.snapshots.serverMajor()));
  }

  generationOf(ctx: InstanceContext): Promise<string | undefined> {
    return readGeneration(ctx.dataDir);
  }

  async window(resourceId: string, current: string | undefined): Promise<ArchiveWindow | null> {
    const generations = (await listGenerations(this.target, resourceId)).filter(
      (each) => current === undefined || each <= current,
    );
    const parts: ArchiveWindow['parts'] = [];
    for (const generation of generations) {
      const part = await this.generationWindow(resourceId, generation);
      if (part)
        parts.push({ generation, earliest: isoSecond(part.earliest), latest: isoSecond(part.latest) });
    }
    const newest = parts.at(-1);
    if (!newest) return null;
    return {
      generation: newest.generation,
      earliest: (parts[0] as (typeof parts)[number]).earliest,
      latest: parts
        .map((each) => each.latest)
        .sort()
        .at(-1) as string,
      parts,
    };
  }

  /** The span one generation restores: its oldest base backup's end to its last archived commit. */
  private async generationWindow(
    resourceId: string,
    generation: string,
  ): Promise<{ earliest: number; latest: number } | undefined> {
    const backups = await this.backups(resourceId, generation);
    if (backups.length === 0) return undefined;
    const earliest = Math.min(
      ...backups.map((each) => Math.ceil(Date.parse(each.completedAt) / 1000) * 1000),
    );
    const segments = (await this.walKeys(resourceId, generation)).filter((key) =>
      WAL_SEGMENT.test(path.basename(key)),
    );
    for (const key of segments.reverse()) {
      const lastCommit = await this.lastCommit(key);
      if (!lastCommit) continue;
      const latest = latestBefore(lastCommit);
      return latest >= earliest ? { earliest, latest } : undefined;
    }
    return undefined;
  }

  async archivedIdentity(resourceId: string, window: ArchiveWindow) {
    const [newest] = (await this.backups(resourceId, window.generation)).slice(-1);
    return { database: newest?.database, username: newest?.username, engineMajor: newest?.engineMajor };
  }

  async baseBackupDue(ctx: InstanceContext, now: number): Promise<boolean> {
    const generation = await readGeneration(ctx.dataDir);
    if (!generation) return false; // its server started before archiving: the next start archives
    const [newest] = (await this.backups(ctx.resourceId, generation)).slice(-1);
    return !newest || now - Date.parse(newest.completedAt) > pitrSettings().baseBackupHours * 3_600_000;
  }

  async archiveProblem(ctx: InstanceContext): Promise<string | undefined> {
    const client = await platformConnect(ctx)(platformRoleOf(ctx).username, 'postgres');
    try {
      const { rows } = await client.query<{ failed: string; wal: string | null; failing: boolean }>(
        `SELECT failed_count AS failed, last_failed_wal AS wal,
                last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR last_failed_time > last_archived_time) AS failing
           FROM pg_stat_archiver`,
      );
      const row = rows[0];
      if (!row?.failing) return undefined;
      const waiting = (
        await fs.readdir(path.join(ctx.dataDir, 'pg_wal', 'archive_status')).catch(() => [])
      ).filter((name) => name.endsWith('.ready')).length;
      return `archiving ${row.wal} failed (${row.failed} failures since the server started); ${waiting} WAL file(s) wait in pg_wal and are retried (see server.log)`;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async takeBaseBackup(ctx: InstanceContext, signal: AbortSignal): Promise<void> {
    const generation = await readGeneration(ctx.dataDir);
    if (!generation) throw new ProviderError(`Instance ${ctx.resourceId} is not archived yet`, 'NotArchived');
    const startedAt = new Date().toISOString();
    const client = await platformConnect(ctx)(platformRoleOf(ctx).username, 'postgres');
    let startWal: string;
    try {
      const { rows } = await client.query<{ name: string }>(
        'SELECT pg_walfile_name(pg_current_wal_lsn()) AS name',
      );
      startWal = rows[0]?.name ?? '';
    } finally {
      await client.end().catch(() => undefined);
    }
    if (!WAL_SEGMENT.test(startWal)) throw new ProviderError(`Unexpected WAL file name '${startWal}'`);
    // What an interrupted base backup (a platform crash) left behind.
    for (const name of await fs.readdir(ctx.dir)) {
      if (name.startsWith('basebackup-'))
        await fs.rm(path.join(ctx.dir, name), { recursive: true, force: true });
    }
    const dir = path.join(ctx.dir, `basebackup-${Date.now().toString(36)}`);
    await fs.mkdir(dir, { mode: 0o700 });
    await chownTo(dir, ctx.runAs);
    try {
      await this.snapshots.take(ctx, dir, signal);
      const completedAt = new Date().toISOString();
      const name = completedAt.replace(/[-:.]/g, '');
      const prefix = `${generationPrefix(this.target, ctx.resourceId, generation)}base/${name}/`;
      for (const file of BASE_FILES) {
        const upload = new Upload({
          client: this.target.client,
          params: {
            Bucket: this.target.bucket,
            Key: `${prefix}${file}`,
            Body: createReadStream(path.join(dir, file)),
            ContentLength: await fileSize(path.join(dir, file)),
          },
          partSize: 64 * 1024 * 1024,
        });
        // The signal lives as long as the platform: the listener goes once the upload is done.
        const abort = () => void upload.abort();
        signal.addEventListener('abort', abort, { once: true });
        try {
          await upload.done();
        } finally {
          signal.removeEventListener('abort', abort);
        }
      }
      const record: BaseBackupRecord = {
        name,
        resourceId: ctx.resourceId,
        generation,
        startWal,
        startedAt,
        completedAt,
        engineMajor: await this.snapshots.dataMajor(ctx.dataDir),
        database: ctx.record.database,
        username: ctx.record.username,
      };
      await this.target.client.send(
        new PutObjectCommand({
          Bucket: this.target.bucket,
          Key: `${prefix}backup.json`,
          Body: JSON.stringify(record),
          ContentType: 'application/json',
        }),
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  async prepareRestore(
    ctx: InstanceContext,
    source: { resourceId: string; window: ArchiveWindow },
    time: string,
    signal: AbortSignal,
  ): Promise<void> {
    const at = Date.parse(time);
    const window = partAt(source.window, at);
    if (!window) {
      throw new ProviderError(
        `${time} is outside the restorable window of ${source.resourceId} (${describeWindow(source.window)})`,
        'OutsideRestorableWindow',
      );
    }
    const backups = (await this.backups(source.resourceId, window.generation)).filter(
      (each) => Math.ceil(Date.parse(each.completedAt) / 1000) * 1000 <= at,
    );
    const base = backups.at(-1);
    if (!base) throw new ProviderError(`No base backup of ${source.resourceId} ends before ${time}`);
    const staging = path.join(ctx.dir, RESTORE_SCRATCH_DIR);
    await fs.rm(staging, { recursive: true, force: true });
    const baseDir = path.join(staging, 'base');
    const walDir = path.join(staging, 'wal');
    for (const dir of [staging, baseDir, walDir]) {
      await fs.mkdir(dir, { mode: 0o700 });
      await chownTo(dir, ctx.runAs);
    }
    try {
      const prefix = generationPrefix(this.target, source.resourceId, window.generation);
      for (const file of BASE_FILES) {
        await this.download(`${prefix}base/${base.name}/${file}`, path.join(baseDir, file), ctx, signal);
      }
      await this.snapshots.restore(ctx, baseDir, ctx.dataDir, signal);
      await fs.rm(baseDir, { recursive: true, force: true });
      await this.downloadWal(source.resourceId, window.generation, base.startWal, at, walDir, ctx, signal);
      await fs.rm(path.join(ctx.dataDir, GENERATION_FILE), { force: true });
      const signalFile = path.join(ctx.dataDir, 'recovery.signal');
      await fs.writeFile(signalFile, '', { mode: 0o600 });
      await chownTo(signalFile, ctx.runAs);
      await recoverToTime(ctx, { walDir, socketDir: staging, time: new Date(at).toISOString() }, signal);
      // Its WAL from now on is a new history: a new generation, archived once it runs for real.
      await writeGeneration(ctx.dataDir, ctx.runAs);
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
  }

  async prune(resourceId: string, current: string | undefined, now: number): Promise<void> {
    const cutoff = now - pitrSettings().retentionDays * 86_400_000;
    for (const generation of await listGenerations(this.target, resourceId)) {
      const prefix = generationPrefix(this.target, resourceId, generation);
      const keys = await listKeys(this.target, prefix);
      const backups = await this.backups(resourceId, generation);
      // The live generation keeps its newest base backup whatever its age: it is the window's start.
      const kept = backups.filter(
        (each, index) =>
          Date.parse(each.completedAt) >= cutoff || (generation === current && index === backups.length - 1),
      );
      const expired = new Set(backups.filter((each) => !kept.includes(each)).map((each) => each.name));
      const doomed: string[] = [];
      if (kept.length === 0 && generation !== current) {
        // Nothing restorable is left of it (a replaced history, or a deleted instance's expired archive).
        if (keys.every((each) => each.modified.getTime() < cutoff))
          doomed.push(...keys.map((each) => each.key));
      } else {
        const oldestStart = kept[0]?.startWal.slice(8);
        for (const { key } of keys) {
          const rest = key.slice(prefix.length).split('/');
          if (rest[0] === 'base' && rest[1] && expired.has(rest[1])) doomed.push(key);
          const name = rest[0] === 'wal' ? (rest[1] ?? '') : '';
          if (oldestStart && WAL_SEGMENT.test(name) && name.slice(8) < oldestStart) doomed.push(key);
        }
      }
      if (doomed.length === 0) continue;
      await deleteKeys(this.target, doomed);
      for (const key of doomed) this.cache.delete(key);
    }
  }

  async archivedInstances(): Promise<string[]> {
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.target.client.send(
        new ListObjectsV2Command({
          Bucket: this.target.bucket,
          Prefix: this.target.prefix,
          Delimiter: '/',
          ContinuationToken: token,
        }),
      );
      for (const each of page.CommonPrefixes ?? []) {
        const id = each.Prefix?.slice(this.target.prefix.length).replace(/\/$/, '');
        if (id) ids.push(id);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return ids;
  }

  // ------------------------------------------------------------------ internals

  /** The committed base backups of a generation, oldest first. */
  private async backups(resourceId: string, generation: string): Promise<BaseBackupRecord[]> {
    const prefix = `${generationPrefix(this.target, resourceId, generation)}base/`;
    const records: BaseBackupRecord[] = [];
    for (const { key } of await listKeys(this.target, prefix)) {
      if (!key.endsWith('/backup.json')) continue;
      let record = this.cache.get(key) as BaseBackupRecord | undefined;
      if (!record) {
        record = await getJson<BaseBackupRecord>(this.target, key);
        this.cache.set(key, record);
      }
      records.push(record);
    }
    return records.sort((a, b) => a.completedAt.localeCompare(b.completedAt));
  }

  /** WAL keys of a generation, in WAL order (segment names sort by timeline, then position). */
  private async walKeys(resourceId: string, generation: string): Promise<string[]> {
    const prefix = `${generationPrefix(this.target, resourceId, generation)}wal/`;
    return (await listKeys(this.target, prefix)).map((each) => each.key).sort();
  }

  private async lastCommit(key: string): Promise<string> {
    const cached = this.cache.get(key);
    if (typeof cached === 'string') return cached;
    const value = await segmentLastCommit(this.target, key);
    this.cache.set(key, value);
    return value;
  }

  /**
   * The timeline history files, and the segments from the base backup's start up to the first one
   * holding a commit after `at` (where recovery stops), into `walDir` for restore_command.
   */
  private async downloadWal(
    resourceId: string,
    generation: string,
    startWal: string,
    at: number,
    walDir: string,
    ctx: InstanceContext,
    signal: AbortSignal,
  ): Promise<void> {
    const keys = await this.walKeys(resourceId, generation);
    for (const key of keys.filter((each) => HISTORY.test(path.basename(each)))) {
      await this.download(key, path.join(walDir, path.basename(key)), ctx, signal);
    }
    const target = microIso(at);
    const segments = keys.filter((each) => {
      const name = path.basename(each);
      return WAL_SEGMENT.test(name) && name.slice(8) >= startWal.slice(8);
    });
    for (const key of segments) {
      await this.download(key, path.join(walDir, path.basename(key)), ctx, signal);
      if ((await this.lastCommit(key)) > target) return;
    }
    throw new ProviderError(
      `The archive of ${resourceId} has no commit after ${new Date(at).toISOString()}: a recovery would not know where to stop`,
      'OutsideRestorableWindow',
    );
  }

  private async download(
    key: string,
    file: string,
    ctx: InstanceContext,
    signal: AbortSignal,
  ): Promise<void> {
    const object = await this.target.client.send(
      new GetObjectCommand({ Bucket: this.target.bucket, Key: key }),
      { abortSignal: signal },
    );
    if (!object.Body) throw new ProviderError(`s3://${this.target.bucket}/${key} has no body`);
    await pipeline(object.Body as Readable, createWriteStream(file, { mode: 0o600 }), { signal });
    await chownTo(file, ctx.runAs);
    if (!(await exists(file))) throw new ProviderError(`Could not write ${file}`);
  }
}
