import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createWorkflowTaskHandler } from '#functions/workflow/tasks.ts';
import { TaskFailedError } from '#infra/local/job-runner.ts';
import { localLambdaContext } from '#infra/local/lambda-context.ts';
import { ensureBucket, type S3Emulator, startS3 } from '#infra/local/s3-emulator.ts';
import { LOCAL_SUBSTITUTIONS, LocalWorkflowRunner } from '#infra/local/workflow-runner.ts';
import type {
  RestoreState,
  SnapshotExport,
  SnapshotProvider,
  SnapshotState,
} from '#shared/ports/engine-provider.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { FileSecretStore } from '#shared/providers/local/file-secret-store.ts';
import { type JobSpec, JobSpecSchema } from '#shared/schemas/job.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import type { BackupStore } from '#shared/store/backup-store.ts';
import { newId } from '#shared/util/ids.ts';
import { engineAdapters, snapshotDeleters } from '../support/backups.ts';
import { startTestStore } from '../support/dynamo.ts';
import { addonRecord, operation } from '../support/fixtures.ts';
import { ScriptedProvider } from '../support/scripted-provider.ts';

/** Plays the snapshot side of the provider port from a script, recording calls. */
class ScriptedSnapshots implements SnapshotProvider {
  calls: string[] = [];
  snapshotStates: SnapshotState[] = [];
  restoreStates: RestoreState[] = [];
  /** When set, a snapshot asked for a copy writes this there, as a provider exporting an RDB does. */
  exportBody: Buffer | undefined;
  exported: SnapshotExport | undefined;
  async createSnapshot(_resourceId: string, snapshotId: string, exportTo?: { bucket: string; key: string }) {
    this.calls.push(`create ${snapshotId}${exportTo ? ` export ${exportTo.key}` : ''}`);
    if (exportTo && this.exportBody) {
      const body = this.exportBody;
      await s3.client.send(new PutObjectCommand({ Bucket: exportTo.bucket, Key: exportTo.key, Body: body }));
      const sha256 = createHash('sha256').update(body).digest('hex');
      this.exported = { ...exportTo, sha256, sizeBytes: body.length };
    }
  }
  async describeSnapshot(): Promise<SnapshotState> {
    const exported = this.exported ? { exported: this.exported } : {};
    return this.snapshotStates.shift() ?? { status: 'available', sizeBytes: 4096, ...exported };
  }
  async deleteSnapshot(snapshotId: string) {
    this.calls.push(`delete ${snapshotId}`);
  }
  async restoreSnapshot(_resourceId: string, snapshotId: string) {
    this.calls.push(`restore ${snapshotId}`);
  }
  async describeRestore(): Promise<RestoreState> {
    return this.restoreStates.shift() ?? { status: 'available' };
  }
  async discardRestore(_resourceId: string, snapshotId: string) {
    this.calls.push(`discard ${snapshotId}`);
    return 'discarded' as const;
  }
}

let env: Awaited<ReturnType<typeof startTestStore>>;
let s3: S3Emulator;
let dir: string;
let backupStore: BackupStore;
let artifacts: BackupArtifacts;
let snapshots: ScriptedSnapshots;
let jobs: JobSpec[];
let jobBehaviour: (spec: JobSpec) => Promise<void>;
let runner: LocalWorkflowRunner;
let service: BackupService;

beforeAll(async () => {
  env = await startTestStore();
  dir = await mkdtemp(join(tmpdir(), 'addons-backup-wf-'));
  s3 = await startS3(dir);
  await ensureBucket(s3.client, 'backups');
  backupStore = env.backups;
  artifacts = new BackupArtifacts({ client: s3.client, bucket: 'backups' });
});
afterAll(async () => {
  await s3.stop();
  await env.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A job that does what the real dump job does to S3: the artifact, then its result beside it. */
const writeDump = async (
  spec: JobSpec,
  body = Buffer.from('PGDMP fake dump'),
  reportedSize = body.length,
) => {
  if (spec.kind !== 'dump') throw new Error('not a dump');
  await s3.client.send(
    new PutObjectCommand({ Bucket: spec.artifact.bucket, Key: spec.artifact.key, Body: body }),
  );
  const result = { sizeBytes: reportedSize, sha256: 'f'.repeat(64), compression: spec.compression };
  await s3.client.send(
    new PutObjectCommand({ Bucket: spec.artifact.bucket, Key: spec.resultKey, Body: JSON.stringify(result) }),
  );
};

beforeEach(() => {
  snapshots = new ScriptedSnapshots();
  jobs = [];
  jobBehaviour = writeDump;
  const launch = {
    cluster: 'c',
    taskDefinition: 'td',
    container: 'job',
    subnets: ['s'],
    securityGroups: ['g'],
  };
  const task = createWorkflowTaskHandler({
    store: env.store,
    engines: engineAdapters({ provider: new ScriptedProvider(), snapshots }),
    secrets: new FileSecretStore(join(dir, 'secrets')),
    logger: new Logger({ logLevel: 'SILENT' }),
    backups: {
      store: env.store,
      backups: backupStore,
      artifacts,
      engines: engineAdapters({ snapshots }),
      jobs: launch,
      target: 'local',
    },
  });
  runner = new LocalWorkflowRunner({
    functions: {
      [LOCAL_SUBSTITUTIONS.WorkflowTaskFunctionArn as string]: (input) =>
        task(input, localLambdaContext('tasks')),
      // What ecs:runTask.sync receives: the job's spec is in the container environment.
      'arn:aws:states:::ecs:runTask.sync': async (input) => {
        const parameters = input as {
          Cluster: string;
          Overrides: { ContainerOverrides: Array<{ Environment: Array<{ Name: string; Value: string }> }> };
        };
        expect(parameters.Cluster).toBe('c');
        const raw = parameters.Overrides.ContainerOverrides[0]?.Environment.find(
          (e) => e.Name === 'JOB_SPEC',
        )?.Value;
        const spec = JobSpecSchema.parse(JSON.parse(raw ?? '{}'));
        jobs.push(spec);
        await jobBehaviour(spec);
        return {};
      },
    },
    waitMs: 0,
    retryMs: 0,
  });
  service = new BackupService({
    store: env.store,
    backups: backupStore,
    workflows: runner,
    artifacts,
    snapshotDeleters: snapshotDeleters(snapshots),
    target: 'local',
  });
});

const runningAddon = async (overrides: Parameters<typeof addonRecord>[0] = {}) => {
  const addon = addonRecord({ projectId: 'proj-bw', name: `db-${newId('x').slice(-8)}`, ...overrides });
  const op = operation({ addonId: addon.id, projectId: 'proj-bw' });
  await env.store.createAddon({ ...addon, currentOperationId: op.id }, op);
  await env.store.updateAddonForOperation(addon, op.id, { status: 'running' }, { release: true });
  return addon;
};

const settle = async (operationId: string, backupId: string) => {
  await runner.idle();
  return {
    operation: await env.store.getOperation('proj-bw', operationId),
    backup: await backupStore.getBackup('proj-bw', backupId),
  };
};

const exists = async (key: string) =>
  s3.client.send(new HeadObjectCommand({ Bucket: 'backups', Key: key })).then(
    () => true,
    () => false,
  );

describe('backup-addon.asl.json', () => {
  it('dump: runs the job with the spec, records size and SHA-256, completes and frees the addon', async () => {
    const addon = await runningAddon();
    const started = await service.create('proj-bw', addon.id, {
      type: 'dump',
      compression: 'zstd',
      pinned: false,
    });
    const { operation: op, backup } = await settle(started.operation.id, started.backup.id);
    expect(op).toMatchObject({ status: 'completed', error: null });
    expect(backup).toMatchObject({ status: 'completed', sizeBytes: 15, sha256: 'f'.repeat(64) });
    expect(jobs).toEqual([
      expect.objectContaining({
        kind: 'dump',
        backupId: backup.id,
        compression: 'zstd',
        resultKey: `${backup.artifact?.key}.result.json`,
      }),
    ]);
    expect(await env.store.getAddon('proj-bw', addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
  });

  it('dump: a failed job fails the backup with its reason, removes partial data, and the addon runs on', async () => {
    jobBehaviour = async (spec) => {
      await writeDump(spec);
      throw new TaskFailedError('pg_dump: error: connection to server failed');
    };
    const addon = await runningAddon();
    const started = await service.create('proj-bw', addon.id, {
      type: 'dump',
      compression: 'gzip',
      pinned: false,
    });
    const { operation: op, backup } = await settle(started.operation.id, started.backup.id);
    expect(op.status).toBe('failed');
    expect(backup.status).toBe('failed');
    expect(backup.error).toEqual({
      code: 'States.TaskFailed',
      message: 'pg_dump: error: connection to server failed',
    });
    expect(await exists(backup.artifact?.key ?? '')).toBe(false);
    expect(await env.store.getAddon('proj-bw', addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
  });

  it('dump: an artifact that does not match what the job reported fails the backup', async () => {
    jobBehaviour = (spec) => writeDump(spec, Buffer.from('short'), 999);
    const addon = await runningAddon();
    const started = await service.create('proj-bw', addon.id, {
      type: 'dump',
      compression: 'zstd',
      pinned: false,
    });
    const { backup } = await settle(started.operation.id, started.backup.id);
    expect(backup.error?.message).toMatch(/is 5 bytes, the job reported 999/);
  });

  it('snapshot: waits until available and records its size', async () => {
    snapshots.snapshotStates = [{ status: 'creating' }, { status: 'creating' }];
    const addon = await runningAddon();
    const started = await service.create('proj-bw', addon.id, { type: 'snapshot', pinned: false });
    const { operation: op, backup } = await settle(started.operation.id, started.backup.id);
    expect(op.status).toBe('completed');
    expect(backup).toMatchObject({ status: 'completed', sizeBytes: 4096 });
    expect(snapshots.calls).toEqual([`create ${backup.snapshotId}`]);
    expect(jobs).toHaveLength(0);
  });

  it('snapshot: a failed snapshot is deleted and the backup failed with the reason', async () => {
    snapshots.snapshotStates = [{ status: 'failed', reason: 'not enough space for the snapshot' }];
    const addon = await runningAddon();
    const started = await service.create('proj-bw', addon.id, { type: 'snapshot', pinned: false });
    const { backup } = await settle(started.operation.id, started.backup.id);
    expect(backup.error).toEqual({ code: 'ProviderError', message: 'not enough space for the snapshot' });
    expect(snapshots.calls).toContain(`delete ${backup.snapshotId}`);
  });
});

describe('downloadable snapshots (an engine whose catalog says snapshotDownload: local Redis)', () => {
  const rdb = Buffer.from('REDIS0010\xfa\tredis-ver\x067.0.15 fake rdb', 'latin1');

  it('asks the provider for a copy in the backup bucket, records it, and a download link fetches it', async () => {
    snapshots.exportBody = rdb;
    const addon = await runningAddon({ engine: 'redis', version: '7.0' });
    const started = await service.create('proj-bw', addon.id, { type: 'snapshot', pinned: false });
    const { operation: op, backup } = await settle(started.operation.id, started.backup.id);
    const key = `snapshots/proj-bw/${addon.id}/${backup.id}.rdb`;
    expect(op.status).toBe('completed');
    expect(snapshots.calls).toEqual([`create ${backup.snapshotId} export ${key}`]);
    const sha256 = createHash('sha256').update(rdb).digest('hex');
    expect(backup).toMatchObject({ artifact: { bucket: 'backups', key }, sha256, sizeBytes: rdb.length });

    const link = await service.downloadLink('proj-bw', addon.id, backup.id);
    expect(link).toMatchObject({ sha256, sizeBytes: rdb.length });
    const response = await fetch(link.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toContain(`${addon.name}-${backup.id}.rdb`);
    expect(Buffer.from(await response.arrayBuffer()).equals(rdb)).toBe(true);

    await service.delete('proj-bw', addon.id, backup.id);
    expect(snapshots.calls).toContain(`delete ${backup.snapshotId}`);
    expect(await exists(key)).toBe(false);
  });

  it('a failed snapshot removes the copy it had begun and the snapshot', async () => {
    snapshots.exportBody = rdb;
    snapshots.snapshotStates = [{ status: 'failed', reason: 'the export was interrupted' }];
    const addon = await runningAddon({ engine: 'redis', version: '7.0' });
    const started = await service.create('proj-bw', addon.id, { type: 'snapshot', pinned: false });
    const { backup } = await settle(started.operation.id, started.backup.id);
    expect(backup.status).toBe('failed');
    expect(snapshots.calls).toContain(`delete ${backup.snapshotId}`);
    expect(await exists(`snapshots/proj-bw/${addon.id}/${backup.id}.rdb`)).toBe(false);
  });

  it('a restore of it still goes through the snapshot, never a dump job', async () => {
    snapshots.exportBody = rdb;
    const addon = await runningAddon({ engine: 'redis', version: '7.0' });
    const taken = await service.create('proj-bw', addon.id, { type: 'snapshot', pinned: false });
    const { backup } = await settle(taken.operation.id, taken.backup.id);
    const restore = await service.restore('proj-bw', addon.id, backup.id);
    expect((await settle(restore.operation.id, backup.id)).operation.status).toBe('completed');
    expect(snapshots.calls).toContain(`restore ${backup.snapshotId}`);
    expect(jobs).toHaveLength(0);
  });

  it('a storage-level snapshot (PostgreSQL) gets no copy, and its download is a 422 that says why', async () => {
    const addon = await runningAddon();
    const started = await service.create('proj-bw', addon.id, { type: 'snapshot', pinned: false });
    const { backup } = await settle(started.operation.id, started.backup.id);
    expect(snapshots.calls).toEqual([`create ${backup.snapshotId}`]);
    expect(backup.artifact).toBeNull();
    await expect(service.downloadLink('proj-bw', addon.id, backup.id)).rejects.toThrow(
      /PostgreSQL snapshots are storage-level copies/,
    );
  });
});

describe('restore-addon.asl.json', () => {
  const completedDump = async () => {
    const addon = await runningAddon();
    const started = await service.create('proj-bw', addon.id, {
      type: 'dump',
      compression: 'zstd',
      pinned: false,
    });
    await settle(started.operation.id, started.backup.id);
    jobs = [];
    return { addon, backupId: started.backup.id };
  };

  it('dump: runs the restore job with the expected SHA-256 and completes', async () => {
    const { addon, backupId } = await completedDump();
    jobBehaviour = async () => undefined;
    const started = await service.restore('proj-bw', addon.id, backupId);
    const { operation: op } = await settle(started.operation.id, backupId);
    expect(op).toMatchObject({ status: 'completed', type: 'restore', backupId });
    expect(jobs).toEqual([
      expect.objectContaining({ kind: 'restore', backupId, expectedSha256: 'f'.repeat(64) }),
    ]);
    expect(await env.store.getAddon('proj-bw', addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
  });

  it('dump: a failed restore job fails the operation with the reason; the addon runs on', async () => {
    const { addon, backupId } = await completedDump();
    jobBehaviour = async () => {
      throw new TaskFailedError('SHA-256 mismatch: the artifact was altered');
    };
    const started = await service.restore('proj-bw', addon.id, backupId);
    const { operation: op } = await settle(started.operation.id, backupId);
    expect(op.error).toEqual({
      code: 'States.TaskFailed',
      message: 'SHA-256 mismatch: the artifact was altered',
    });
    expect(await env.store.getAddon('proj-bw', addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
  });

  it('snapshot: restores through the provider and waits until it is done; a failure is reported', async () => {
    const addon = await runningAddon();
    const taken = await service.create('proj-bw', addon.id, { type: 'snapshot', pinned: false });
    await settle(taken.operation.id, taken.backup.id);
    snapshots.restoreStates = [{ status: 'restoring' }, { status: 'available' }];
    const ok = await service.restore('proj-bw', addon.id, taken.backup.id);
    expect((await settle(ok.operation.id, taken.backup.id)).operation.status).toBe('completed');
    snapshots.restoreStates = [{ status: 'failed', reason: 'the snapshot files are damaged' }];
    const bad = await service.restore('proj-bw', addon.id, taken.backup.id);
    const { operation: failed } = await settle(bad.operation.id, taken.backup.id);
    expect(failed.error).toEqual({ code: 'ProviderError', message: 'the snapshot files are damaged' });
  });
});
