import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { errorMessage, PlatformError, ProviderError } from '#shared/errors.ts';
import type { EngineDrivers } from './engine-drivers.ts';
import { checkId, type InstanceFiles, type Log } from './instance-files.ts';
import { instanceUser } from './os-users.ts';
import { checkSnapshotId, type SnapshotRecord, type SnapshotStore } from './snapshots.ts';
import { ensureReachable, treeSize } from './system.ts';

export interface SnapshotImportsOptions {
  files: InstanceFiles;
  drivers: EngineDrivers;
  store: SnapshotStore;
  log: Log;
  /** Where uploaded files are (the S3 emulator); undefined: imports are refused. */
  objects: () => S3Client | undefined;
}

/**
 * Snapshots made of files users uploaded (imports of Redis RDB files): the file is downloaded
 * into a new snapshot attempt's directory, checked and placed by the engine's snapshot driver
 * (`adoptUpload`), and published like a snapshot taken from the instance, with the instance's
 * database and user so the normal restore accepts it. The instance is not touched here: the
 * restore that follows does the swap, with its rollback.
 */
export class SnapshotImports {
  /** Imports in progress in this process, by snapshot id: a retried call waits for the first. */
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly deps: SnapshotImportsOptions) {}

  async import(
    resourceId: string,
    snapshotId: string,
    source: { bucket: string; key: string },
  ): Promise<void> {
    const id = checkId(resourceId);
    const sid = checkSnapshotId(snapshotId);
    const pending = this.running.get(sid);
    if (pending) return pending;
    const work = this.adopt(id, sid, source).finally(() => this.running.delete(sid));
    this.running.set(sid, work);
    return work;
  }

  private async adopt(id: string, sid: string, source: { bucket: string; key: string }): Promise<void> {
    const { files, drivers, store, log } = this.deps;
    const existing = await store.read(sid).catch(() => undefined);
    if (existing?.state === 'available' && existing.resourceId === id) return;
    const record = await files.readRecord(id);
    if (record?.state !== 'ready')
      throw new ProviderError(`Instance ${id} does not exist`, 'InstanceNotFound');
    const snapshots = drivers.snapshotsOf(record.engine);
    if (!snapshots.adoptUpload) {
      throw new ProviderError(
        `A ${record.engine} snapshot cannot be made from an uploaded file`,
        'Unsupported',
      );
    }
    const client = this.deps.objects();
    if (!client) throw new ProviderError('No object store is configured for imports', 'Misconfigured');
    const started = Date.now();
    const base: Omit<SnapshotRecord, 'state' | 'completedAt'> = {
      snapshotId: sid,
      resourceId: id,
      engine: record.engine,
      version: record.version,
      format: snapshots.format,
      database: record.database,
      username: record.username,
      createdAt: new Date(started).toISOString(),
    };
    const runAs = await instanceUser(id);
    const attempt = await store.begin(sid, runAs);
    // Root's, beside backup/ (never inside it): removed before the snapshot is published.
    const upload = path.join(attempt.dir, 'upload');
    try {
      await ensureReachable(attempt.backupDir, runAs, [files.dataDir, store.dir]);
      const object = await client.send(new GetObjectCommand({ Bucket: source.bucket, Key: source.key }));
      if (!object.Body)
        throw new ProviderError(`The uploaded file ${source.key} has no body`, 'ImportInvalid');
      await pipeline(object.Body as Readable, createWriteStream(upload, { mode: 0o600, flags: 'wx' }));
      base.engineMajor = await snapshots.adoptUpload(upload, attempt.backupDir, runAs);
      await fs.rm(upload, { force: true });
      const sizeBytes = await treeSize(attempt.backupDir);
      await store.commit(attempt.dir, {
        ...base,
        state: 'available',
        sizeBytes,
        completedAt: new Date().toISOString(),
      });
      log('engine: snapshot made from an upload', {
        resourceId: id,
        snapshotId: sid,
        sizeBytes,
        ms: Date.now() - started,
      });
    } catch (error) {
      const reason = errorMessage(error);
      await store
        .fail(attempt.dir, { ...base, state: 'failed', reason, completedAt: new Date().toISOString() })
        .catch(() => undefined);
      if (error instanceof PlatformError) throw error;
      const missing = (error as Error).name === 'NoSuchKey' || (error as Error).name === 'NotFound';
      throw new ProviderError(
        missing
          ? `The uploaded file ${source.key} does not exist`
          : `Reading the uploaded file failed: ${reason}`,
        missing ? 'ImportNotFound' : 'ImportInvalid',
        { cause: error },
      );
    }
  }
}
