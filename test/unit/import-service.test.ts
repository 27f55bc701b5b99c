import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, QuotaExceededError, UnsupportedError } from '#shared/errors.ts';
import type { SnapshotProvider } from '#shared/ports/engine-provider.ts';
import type { ImportObjects } from '#shared/providers/import-uploads.ts';
import type { JobSpec } from '#shared/schemas/job.ts';
import { BackupWorkflowTasks } from '#shared/services/backup-workflow-tasks.ts';
import { sniffCompression } from '#shared/services/import-contents.ts';
import { ImportService } from '#shared/services/import-service.ts';
import { looksLikeRdb } from '#shared/services/upload-checks.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import { ImportStore } from '#shared/store/import-store.ts';
import { newId } from '#shared/util/ids.ts';
import { engineAdapters, refusingProvider, refusingSnapshots, snapshotDeleters } from '../support/backups.ts';
import { startTestStore, TEST_TABLE } from '../support/dynamo.ts';
import { addonRecord, operation } from '../support/fixtures.ts';
import { RecordingStarter } from '../support/recording-starter.ts';

/** Uploaded objects in memory: what S3 would hold under the import's key. */
class MemoryObjects implements ImportObjects {
  readonly objects = new Map<string, Buffer>();
  objectFor(ref: { projectId: string; addonId: string; importId: string }) {
    return { bucket: 'b', key: `imports/${ref.projectId}/${ref.addonId}/${ref.importId}` };
  }
  async uploadUrl(object: { key: string }, sizeBytes: number) {
    return {
      url: `http://s3.test/${object.key}`,
      headers: { 'content-length': String(sizeBytes) },
      expiresAt: new Date(Date.now() + 3600_000).toISOString(),
    };
  }
  async size(object: { key: string }) {
    return this.objects.get(object.key)?.length;
  }
  async head(object: { key: string }, bytes = 512) {
    return (this.objects.get(object.key) ?? Buffer.alloc(0)).subarray(0, bytes);
  }
  async delete(object: { key: string }) {
    this.objects.delete(object.key);
  }
}

/** A custom-format archive's start, compressed by the real zstd (the service decompresses its head). */
const ZSTD_FRAME = spawnSync('zstd', ['-q', '-c'], { input: Buffer.from('PGDMP\x01\x0e\x00') }).stdout;
const RDB = Buffer.concat([Buffer.from('REDIS0010'), Buffer.from([0xfa, 0x09]), Buffer.from('redis-ver')]);

let env: Awaited<ReturnType<typeof startTestStore>>;
let imports: ImportStore;
let objects: MemoryObjects;
let starter: RecordingStarter;
let now: Date;
let service: ImportService;

beforeAll(async () => {
  env = await startTestStore();
  const client = DynamoDBDocumentClient.from(env.dynamoClient, {
    marshallOptions: { removeUndefinedValues: true },
  });
  imports = new ImportStore({ client, tableName: TEST_TABLE });
});
afterAll(async () => env.stop());
beforeEach(() => {
  objects = new MemoryObjects();
  starter = new RecordingStarter();
  now = new Date();
  service = new ImportService({
    store: env.store,
    imports,
    uploads: objects,
    workflows: starter,
    snapshotDeleters: snapshotDeleters({ deleteSnapshot: async () => undefined }),
    target: 'local',
    maxUploadBytes: 1024 ** 2,
    now: () => now,
  });
});

const runningAddon = async (overrides: Partial<AddonRecord> = {}) => {
  const addon = addonRecord({ projectId: 'proj-i', name: `db-${newId('x').slice(-8)}`, ...overrides });
  const op = operation({ addonId: addon.id, projectId: 'proj-i' });
  await env.store.createAddon({ ...addon, currentOperationId: op.id }, op);
  await env.store.updateAddonForOperation(addon, op.id, { status: 'running' }, { release: true });
  return env.store.getAddon('proj-i', addon.id);
};

const uploaded = async (addon: AddonRecord, file: Buffer, extra: { compression?: 'gzip' | 'zstd' } = {}) => {
  const created = await service.create('proj-i', addon.id, {
    kind: 'upload',
    sizeBytes: file.length,
    ...extra,
  });
  objects.objects.set(
    objects.objectFor({ projectId: 'proj-i', addonId: addon.id, importId: created.import.id }).key,
    file,
  );
  return created.import;
};

describe('ImportService', () => {
  it('tells compressions and RDB files by their first bytes', () => {
    expect(sniffCompression(ZSTD_FRAME)).toBe('zstd');
    expect(sniffCompression(gzipSync('x'))).toBe('gzip');
    expect(sniffCompression(Buffer.from('SELECT 1'))).toBeUndefined();
    expect(looksLikeRdb(RDB)).toBe(true);
    expect(looksLikeRdb(Buffer.from('REDIS'))).toBe(false);
  });

  it('creates an import awaiting its upload, with a URL signed for its size under imports/<project>/<addon>/', async () => {
    const addon = await runningAddon();
    const created = await service.create('proj-i', addon.id, { kind: 'upload', sizeBytes: 123 });
    expect(created.import).toMatchObject({
      status: 'awaiting-upload',
      engine: 'postgresql',
      format: 'pg-dump',
      compression: null,
      sizeBytes: 123,
      operationId: null,
    });
    expect(created.uploadUrl).toBe(`http://s3.test/imports/proj-i/${addon.id}/${created.import.id}`);
    expect(created.uploadHeaders).toEqual({ 'content-length': '123' });
    expect(Date.parse(created.import.expiresAt) - now.getTime()).toBe(24 * 3600_000);
    expect(await service.get('proj-i', addon.id, created.import.id)).toEqual(created.import);
  });

  it('refuses an engine without imports (naming `kind`) and a size over the quota (naming `sizeBytes`)', async () => {
    const mongo = await runningAddon({ engine: 'mongodb', version: '7.0' });
    const refused = service.create('proj-i', mongo.id, { kind: 'upload', sizeBytes: 1 });
    await expect(refused).rejects.toBeInstanceOf(UnsupportedError);
    await expect(refused).rejects.toMatchObject({ issues: [{ path: 'body.kind' }] });
    const addon = await runningAddon();
    const big = service.create('proj-i', addon.id, { kind: 'upload', sizeBytes: 1024 ** 2 + 1 });
    await expect(big).rejects.toBeInstanceOf(QuotaExceededError);
    await expect(big).rejects.toMatchObject({ limit: 1024 ** 2, issues: [{ path: 'body.sizeBytes' }] });
  });

  it('starts the restore workflow with the import as its source, locking the addon like a restore', async () => {
    const addon = await runningAddon();
    const created = await uploaded(addon, gzipSync('-- a dump'));
    const { import: started, operation: op } = await service.start('proj-i', addon.id, created.id, {});
    expect(started).toMatchObject({
      status: 'importing',
      compression: 'gzip',
      contents: 'pg-plain',
      sha256: null,
      operationId: op.id,
    });
    expect(op).toMatchObject({ type: 'restore', importId: created.id, backupId: null });
    expect(starter.started).toEqual([
      {
        workflow: 'restore-addon',
        input: { projectId: 'proj-i', addonId: addon.id, operationId: op.id, backupId: created.id },
      },
    ]);
    expect(await env.store.getAddon('proj-i', addon.id)).toMatchObject({
      status: 'restoring',
      currentOperationId: op.id,
    });
    await expect(service.start('proj-i', addon.id, created.id, {})).rejects.toBeInstanceOf(ConflictError);
  });

  it('checks the upload before locking the addon: present, of the declared size and compression', async () => {
    const addon = await runningAddon();
    const missing = await service.create('proj-i', addon.id, { kind: 'upload', sizeBytes: 6 });
    await expect(service.start('proj-i', addon.id, missing.import.id, {})).rejects.toBeInstanceOf(
      ConflictError,
    );
    const short = await uploaded(addon, ZSTD_FRAME);
    objects.objects.set(
      objects.objectFor({ projectId: 'proj-i', addonId: addon.id, importId: short.id }).key,
      Buffer.from('ab'),
    );
    await expect(service.start('proj-i', addon.id, short.id, {})).rejects.toMatchObject({
      issues: [{ path: 'sizeBytes' }],
    });
    const declared = await uploaded(addon, ZSTD_FRAME, { compression: 'gzip' });
    await expect(service.start('proj-i', addon.id, declared.id, {})).rejects.toMatchObject({
      issues: [{ path: 'compression' }],
    });
    const mysqlDump = await uploaded(addon, gzipSync('-- MariaDB dump 10.19\nCREATE TABLE `t` (id int);\n'));
    await expect(service.start('proj-i', addon.id, mysqlDump.id, {})).rejects.toMatchObject({
      message: /MySQL dump/,
      issues: [{ path: 'upload' }],
    });
    const binary = await uploaded(addon, Buffer.from([1, 2, 3, 0, 4, 5]));
    await expect(service.start('proj-i', addon.id, binary.id, {})).rejects.toMatchObject({
      issues: [{ path: 'upload' }],
    });
    const broken = gzipSync('SELECT 1;');
    broken.fill(0xff, 10);
    const corrupted = await uploaded(addon, broken);
    await expect(service.start('proj-i', addon.id, corrupted.id, {})).rejects.toMatchObject({
      message: /corrupted/,
      issues: [{ path: 'upload' }],
    });
    expect((await env.store.getAddon('proj-i', addon.id)).currentOperationId).toBeNull();
    expect(starter.started).toEqual([]);
  });

  it('releases the addon and marks the import failed when the workflow cannot start; a retry may follow', async () => {
    const addon = await runningAddon();
    const created = await uploaded(addon, ZSTD_FRAME);
    starter.fail = true;
    await expect(service.start('proj-i', addon.id, created.id, {})).rejects.toThrow('StartExecution refused');
    expect(await service.get('proj-i', addon.id, created.id)).toMatchObject({
      status: 'failed',
      error: { code: 'ImportStartFailed' },
    });
    expect(await env.store.getAddon('proj-i', addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
    starter.fail = false;
    const retried = await service.start('proj-i', addon.id, created.id, { sha256: 'b'.repeat(64) });
    expect(retried.import).toMatchObject({ status: 'importing', sha256: 'b'.repeat(64), error: null });
  });

  it('takes RDB files uncompressed for Redis, and refuses what is not one', async () => {
    const addon = await runningAddon({ engine: 'redis', version: '7.0' });
    await expect(
      service.create('proj-i', addon.id, { kind: 'upload', sizeBytes: 3, compression: 'zstd' }),
    ).rejects.toMatchObject({ issues: [{ path: 'body.compression' }] });
    const junk = await uploaded(addon, Buffer.from('not an rdb'));
    await expect(service.start('proj-i', addon.id, junk.id, {})).rejects.toMatchObject({
      issues: [{ path: 'upload' }],
    });
    const rdb = await uploaded(addon, RDB);
    const { import: started } = await service.start('proj-i', addon.id, rdb.id, {});
    expect(started).toMatchObject({ format: 'redis-rdb', compression: null, status: 'importing' });
  });

  it('aborts a running import: workflow stopped, restore discarded, operation aborted, file kept for a retry', async () => {
    const discarded: string[] = [];
    const deleted: string[] = [];
    const aborting = new ImportService({
      store: env.store,
      imports,
      uploads: objects,
      workflows: starter,
      snapshotDeleters: snapshotDeleters({ deleteSnapshot: async (id) => void deleted.push(id) }),
      restoreDiscarders: snapshotDeleters({
        discardRestore: async (_resourceId: string, snapshotId: string) => {
          discarded.push(snapshotId);
          return 'discarded' as const;
        },
      } as never) as never,
      target: 'local',
    });
    const addon = await runningAddon({ engine: 'redis', version: '7.0' });
    const created = await uploaded(addon, RDB);
    const { operation: op } = await aborting.start('proj-i', addon.id, created.id, {});
    await imports.updateImport({ projectId: 'proj-i', id: created.id }, { snapshotId: 'snap-1' });
    const aborted = await aborting.abort('proj-i', addon.id, created.id);
    expect(aborted).toMatchObject({ status: 'failed', error: { code: 'Aborted' } });
    expect(starter.stopped).toEqual([op.id]);
    expect(discarded).toEqual(['snap-1']);
    expect(deleted).toEqual(['snap-1']);
    expect(await env.store.getOperation('proj-i', op.id)).toMatchObject({ status: 'aborted' });
    expect(await env.store.getAddon('proj-i', addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
    expect(objects.objects.size).toBe(1);
    await expect(aborting.abort('proj-i', addon.id, created.id)).rejects.toBeInstanceOf(ConflictError);
    await expect(aborting.start('proj-i', addon.id, created.id, {})).resolves.toMatchObject({
      import: { status: 'importing' },
    });
  });

  it('lets an import whose operation ended without it (a lost workflow) be started again', async () => {
    const addon = await runningAddon();
    const created = await uploaded(addon, ZSTD_FRAME);
    const { operation: op } = await service.start('proj-i', addon.id, created.id, {});
    // What the reconciler does to an operation whose workflow is gone.
    const lost = {
      code: 'WorkflowLost',
      message: 'The restore lost its workflow before it finished; try again',
    };
    await env.store.updateOperation('proj-i', op.id, {
      status: 'failed',
      error: lost,
      completedAt: new Date().toISOString(),
    });
    await env.store.updateAddonForOperation(addon, op.id, { status: 'running' }, { release: true });
    const again = await service.start('proj-i', addon.id, created.id, {});
    expect(again.import).toMatchObject({ status: 'importing', operationId: again.operation.id });
    expect(again.operation.id).not.toBe(op.id);
  });

  it('refuses to start an expired import, and the sweep deletes expired ones with their files', async () => {
    const addon = await runningAddon();
    const created = await uploaded(addon, ZSTD_FRAME);
    now = new Date(now.getTime() + 25 * 3600_000);
    await expect(service.start('proj-i', addon.id, created.id, {})).rejects.toMatchObject({
      details: { field: 'expiresAt' },
    });
    const swept = await service.sweepExpired();
    expect(swept.deleted).toContain(created.id);
    expect(objects.objects.size).toBe(0);
    expect(await imports.findImport('proj-i', created.id)).toBeUndefined();
  });
});

describe('the restore workflow with an import as its source', () => {
  const jobs = { cluster: 'c', taskDefinition: 't', container: 'job', subnets: [], securityGroups: [] };
  const tasksWith = (snapshots: SnapshotProvider) =>
    new BackupWorkflowTasks({
      target: 'local',
      store: env.store,
      backups: env.backups,
      artifacts: undefined as never,
      engines: engineAdapters({ provider: refusingProvider('no provider'), snapshots }),
      jobs,
      imports: { imports, uploads: objects, target: 'local' },
    });
  const specOf = (launch: unknown): JobSpec =>
    JSON.parse((launch as { environment: Array<{ Value: string }> }).environment[0]?.Value ?? '{}');

  it('runs a dump through the restore job, verifying the SHA-256 only when one was given', async () => {
    const tasks = tasksWith(refusingSnapshots('no snapshots'));
    const addon = await runningAddon();
    const created = await uploaded(addon, ZSTD_FRAME);
    const { operation: op } = await service.start('proj-i', addon.id, created.id, {});
    const ref = { projectId: 'proj-i', addonId: addon.id, operationId: op.id, backupId: created.id };
    expect(await tasks.run({ action: 'startRestore', ...ref })).toEqual({
      type: 'dump',
      compression: 'zstd',
    });
    const spec = specOf(await tasks.run({ action: 'prepareRestoreJob', ...ref }));
    expect(spec).toMatchObject({
      kind: 'restore',
      backupId: created.id,
      compression: 'zstd',
      format: 'pg-custom',
      artifact: { key: `imports/proj-i/${addon.id}/${created.id}` },
    });
    expect(spec).not.toHaveProperty('expectedSha256');
    await tasks.run({ action: 'completeRestore', ...ref });
    expect(await service.get('proj-i', addon.id, created.id)).toMatchObject({ status: 'completed' });
    expect(objects.objects.size).toBe(0);
    expect(await env.store.getOperation('proj-i', op.id)).toMatchObject({ status: 'completed' });
    expect(await env.store.getAddon('proj-i', addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
  });

  it('keeps the uploaded file after a failure, so the import can be started again', async () => {
    const tasks = tasksWith(refusingSnapshots('no snapshots'));
    const addon = await runningAddon();
    const created = await uploaded(addon, ZSTD_FRAME);
    const { operation: op } = await service.start('proj-i', addon.id, created.id, { sha256: 'c'.repeat(64) });
    const ref = { projectId: 'proj-i', addonId: addon.id, operationId: op.id, backupId: created.id };
    expect(specOf(await tasks.run({ action: 'prepareRestoreJob', ...ref }))).toMatchObject({
      expectedSha256: 'c'.repeat(64),
    });
    await tasks.run({
      action: 'failRestore',
      ...ref,
      error: {
        Error: 'ProviderError',
        Cause: JSON.stringify({ errorMessage: 'checksum', code: 'ChecksumMismatch' }),
      },
      skipCleanup: false,
    });
    expect(await service.get('proj-i', addon.id, created.id)).toMatchObject({ status: 'failed' });
    expect(objects.objects.size).toBe(1);
    expect(await env.store.getAddon('proj-i', addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
    await expect(service.start('proj-i', addon.id, created.id, {})).resolves.toMatchObject({
      import: { status: 'importing' },
    });
  });

  it('turns an RDB into a snapshot, restores it, and deletes both once done', async () => {
    const calls: string[] = [];
    const snapshots: SnapshotProvider = {
      ...refusingSnapshots('unexpected'),
      importSnapshot: async (resourceId, snapshotId, source) => {
        calls.push(`import ${resourceId} ${snapshotId} ${source.key}`);
      },
      restoreSnapshot: async (_resourceId, snapshotId, restoreId) => {
        calls.push(`restore ${snapshotId} ${restoreId}`);
      },
      describeRestore: async () => ({ status: 'available' }),
      deleteSnapshot: async (snapshotId) => {
        calls.push(`delete ${snapshotId}`);
      },
    };
    const tasks = tasksWith(snapshots);
    const addon = await runningAddon({ engine: 'redis', version: '7.0' });
    const created = await uploaded(addon, RDB);
    const { operation: op } = await service.start('proj-i', addon.id, created.id, {});
    const ref = { projectId: 'proj-i', addonId: addon.id, operationId: op.id, backupId: created.id };
    expect(await tasks.run({ action: 'startRestore', ...ref })).toEqual({
      type: 'snapshot',
      compression: null,
    });
    await tasks.run({ action: 'restoreSnapshot', ...ref });
    expect(await tasks.run({ action: 'describeRestore', ...ref, attempts: 0, maxAttempts: 3 })).toEqual({
      status: 'available',
      attempts: 1,
    });
    await tasks.run({ action: 'completeRestore', ...ref });
    const snapshotId = `${addon.resourceId}-${created.id}`;
    expect(calls).toEqual([
      `import ${addon.resourceId} ${snapshotId} imports/proj-i/${addon.id}/${created.id}`,
      `restore ${snapshotId} ${op.id}`,
      `delete ${snapshotId}`,
    ]);
    expect(await service.get('proj-i', addon.id, created.id)).toMatchObject({ status: 'completed' });
  });
});
