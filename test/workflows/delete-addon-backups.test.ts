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
import type { SnapshotProvider } from '#shared/ports/engine-provider.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { FileSecretStore } from '#shared/providers/local/file-secret-store.ts';
import { type JobSpec, JobSpecSchema } from '#shared/schemas/job.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { workflowInputFor } from '#shared/services/workflow-inputs.ts';
import type { BackupStore } from '#shared/store/backup-store.ts';
import { newId } from '#shared/util/ids.ts';
import { engineAdapters } from '../support/backups.ts';
import { startTestStore } from '../support/dynamo.ts';
import { addonRecord, backupRecord, operation, scheduleRecord } from '../support/fixtures.ts';
import { ScriptedProvider } from '../support/scripted-provider.ts';

/**
 * delete-addon.asl.json with what outlives the addon: the final backup taken first (a failed
 * one leaves the addon running), its schedules removed, its backups kept for the grace period.
 */

const PROJECT = 'proj-del';
const GRACE_DAYS = 7;
const DAY_MS = 24 * 60 * 60 * 1000;
const NOW = new Date('2026-11-30T12:00:00.000Z');

let env: Awaited<ReturnType<typeof startTestStore>>;
let s3: S3Emulator;
let dir: string;
let backups: BackupStore;
let artifacts: BackupArtifacts;
let provider: ScriptedProvider;
let removedSchedules: string[];
let jobBehaviour: (spec: JobSpec) => Promise<void>;
let runner: LocalWorkflowRunner;
let service: AddonService;

const snapshots: SnapshotProvider = {
  createSnapshot: async () => undefined,
  describeSnapshot: async () => ({ status: 'available', sizeBytes: 4096 }),
  deleteSnapshot: async () => undefined,
  restoreSnapshot: () => Promise.reject(new Error('no restores here')),
  describeRestore: () => Promise.reject(new Error('no restores here')),
  discardRestore: () => Promise.reject(new Error('no restores here')),
};

const writeDump = async (spec: JobSpec) => {
  if (spec.kind !== 'dump') throw new Error('not a dump');
  const body = Buffer.from('PGDMP final dump');
  await s3.client.send(new PutObjectCommand({ Bucket: 'backups', Key: spec.artifact.key, Body: body }));
  const result = { sizeBytes: body.length, sha256: 'a'.repeat(64), compression: spec.compression };
  await s3.client.send(
    new PutObjectCommand({ Bucket: 'backups', Key: spec.resultKey, Body: JSON.stringify(result) }),
  );
};

beforeAll(async () => {
  env = await startTestStore();
  dir = await mkdtemp(join(tmpdir(), 'addons-delete-'));
  s3 = await startS3(dir);
  await ensureBucket(s3.client, 'backups');
  backups = env.backups;
  artifacts = new BackupArtifacts({ client: s3.client, bucket: 'backups' });
});
afterAll(async () => {
  await s3?.stop();
  await env?.stop();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  provider = new ScriptedProvider();
  removedSchedules = [];
  jobBehaviour = writeDump;
  const task = createWorkflowTaskHandler({
    store: env.store,
    engines: engineAdapters({ provider, snapshots }),
    secrets: new FileSecretStore(join(dir, 'secrets')),
    logger: new Logger({ logLevel: 'SILENT' }),
    backups: {
      store: env.store,
      backups,
      artifacts,
      engines: engineAdapters({ snapshots }),
      jobs: { cluster: 'c', taskDefinition: 'td', container: 'job', subnets: ['s'], securityGroups: ['g'] },
      target: 'local',
    },
    retirement: {
      store: env.store,
      backups,
      schedules: {
        remove: async (schedule) => {
          removedSchedules.push(schedule.id);
        },
      },
      graceDays: GRACE_DAYS,
      now: () => NOW,
    },
  });
  runner = new LocalWorkflowRunner({
    functions: {
      [LOCAL_SUBSTITUTIONS.WorkflowTaskFunctionArn as string]: (input) =>
        task(input, localLambdaContext('tasks')),
      'arn:aws:states:::ecs:runTask.sync': async (input) => {
        const environment = (
          input as {
            Overrides: { ContainerOverrides: Array<{ Environment: Array<{ Name: string; Value: string }> }> };
          }
        ).Overrides.ContainerOverrides[0]?.Environment;
        const raw = environment?.find((e) => e.Name === 'JOB_SPEC')?.Value;
        await jobBehaviour(JobSpecSchema.parse(JSON.parse(raw ?? '{}')));
        return {};
      },
    },
    waitMs: 0,
    retryMs: 0,
  });
  service = new AddonService({
    store: env.store,
    workflows: runner,
    target: 'local',
    finalBackups: { backups, artifacts },
  });
});

/** A running addon with an instance, a schedule and a manual and a scheduled backup. */
const addonWithBackups = async () => {
  const addon = addonRecord({ projectId: PROJECT, name: `db-${newId('x').slice(-8)}` });
  const op = operation({ addonId: addon.id, projectId: PROJECT });
  await env.store.createAddon({ ...addon, currentOperationId: op.id }, op);
  await env.store.updateAddonForOperation(addon, op.id, { status: 'running' }, { release: true });
  provider.instances.set(addon.resourceId, {} as never);
  const schedule = scheduleRecord({ projectId: PROJECT, addonId: addon.id });
  await backups.putSchedule(schedule);
  const manual = backupRecord({ projectId: PROJECT, addonId: addon.id });
  const soonExpiring = new Date(NOW.getTime() + DAY_MS).toISOString();
  const scheduled = backupRecord({
    projectId: PROJECT,
    addonId: addon.id,
    source: 'schedule',
    expiresAt: soonExpiring,
  });
  await backups.putBackup(manual);
  await backups.putBackup(scheduled);
  return { addon, schedule, manual, scheduled };
};

const exists = (key: string) =>
  s3.client.send(new HeadObjectCommand({ Bucket: 'backups', Key: key })).then(
    () => true,
    () => false,
  );

describe('delete-addon.asl.json and what outlives the addon', () => {
  it('takes the final dump first, then removes the schedules and the addon; the backups stay for the grace period', async () => {
    // Prepare
    const { addon, schedule, manual, scheduled } = await addonWithBackups();

    // Act
    const started = await service.delete(PROJECT, addon.id, { finalBackup: 'dump' });
    await runner.idle();

    // Assess
    const op = await env.store.getOperation(PROJECT, started.operation.id);
    expect(op).toMatchObject({ status: 'completed', error: null, backupId: expect.any(String) });
    expect(await env.store.findAddon(PROJECT, addon.id)).toBeUndefined();
    expect(removedSchedules).toEqual([schedule.id]);
    expect(await backups.listSchedules(PROJECT, addon.id)).toEqual([]);
    const final = await backups.getBackup(PROJECT, String(op.backupId));
    const graceEnds = new Date(NOW.getTime() + GRACE_DAYS * DAY_MS).toISOString();
    expect(final).toMatchObject({
      source: 'final',
      type: 'dump',
      status: 'completed',
      sha256: 'a'.repeat(64),
      addonName: addon.name,
      addonDeleted: true,
      addonDeletedAt: NOW.toISOString(),
      expiresAt: graceEnds,
    });
    expect(await exists(String(final.artifact?.key))).toBe(true);
    expect(await backups.getBackup(PROJECT, manual.id)).toMatchObject({
      addonDeleted: true,
      expiresAt: graceEnds,
    });
    // A retention that ends before the grace period still applies.
    expect(await backups.getBackup(PROJECT, scheduled.id)).toMatchObject({
      addonDeleted: true,
      expiresAt: scheduled.expiresAt,
    });
    const listed = await backups.listProjectBackups(PROJECT, { limit: 100 });
    expect(listed.items.map((backup) => backup.id)).toEqual(
      expect.arrayContaining([final.id, manual.id, scheduled.id]),
    );
  });

  it('fails the delete and leaves the addon running, schedules and all, when the final backup fails', async () => {
    // Prepare
    const { addon, schedule, manual } = await addonWithBackups();
    jobBehaviour = async (spec) => {
      await writeDump(spec);
      throw new TaskFailedError('pg_dump: error: connection to server failed');
    };

    // Act
    const started = await service.delete(PROJECT, addon.id, { finalBackup: 'dump' });
    await runner.idle();

    // Assess
    const op = await env.store.getOperation(PROJECT, started.operation.id);
    expect(op.status).toBe('failed');
    expect(op.error?.message).toMatch(
      /^The final backup failed, so the addon was not deleted and is still running: .*connection to server failed/,
    );
    expect(await env.store.getAddon(PROJECT, addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
    expect(provider.count('deleteInstance')).toBe(0);
    expect(removedSchedules).toEqual([]);
    expect((await backups.listSchedules(PROJECT, addon.id)).map((s) => s.id)).toEqual([schedule.id]);
    const final = await backups.getBackup(PROJECT, String(op.backupId));
    expect(final).toMatchObject({ status: 'failed', source: 'final' });
    expect(await exists(String(final.artifact?.key))).toBe(false);
    expect(await backups.getBackup(PROJECT, manual.id)).toMatchObject({
      addonDeleted: false,
      expiresAt: null,
    });
  });

  it('does not take the final backup again when the delete starts again after it completed, and keeps its data', async () => {
    // Prepare: the platform stopped after the final dump and the instance's deletion.
    const { addon, schedule } = await addonWithBackups();
    const op = operation({ addonId: addon.id, projectId: PROJECT, type: 'delete', status: 'in-progress' });
    const backupId = newId('bkp');
    const artifact = artifacts.artifactFor({ projectId: PROJECT, addonId: addon.id, backupId }, 'zstd');
    await backups.putBackup(
      backupRecord({
        id: backupId,
        projectId: PROJECT,
        addonId: addon.id,
        source: 'final',
        type: 'dump',
        compression: 'zstd',
        snapshotId: null,
        artifact,
        sha256: 'a'.repeat(64),
        operationId: op.id,
      }),
    );
    await s3.client.send(new PutObjectCommand({ Bucket: 'backups', Key: artifact.key, Body: 'PGDMP final' }));
    await env.store.beginOperation(
      await env.store.getAddon(PROJECT, addon.id),
      { ...op, backupId },
      'deleting',
    );
    provider.instances.delete(addon.resourceId);
    let jobs = 0;
    jobBehaviour = async () => {
      jobs += 1;
      throw new TaskFailedError('pg_dump: error: connection to server failed');
    };

    // Act
    await runner.start(workflowInputFor({ ...op, backupId }));
    await runner.idle();

    // Assess
    expect(await env.store.getOperation(PROJECT, op.id)).toMatchObject({ status: 'completed', error: null });
    expect(jobs).toBe(0);
    expect(await env.store.findAddon(PROJECT, addon.id)).toBeUndefined();
    expect(removedSchedules).toEqual([schedule.id]);
    expect(await backups.getBackup(PROJECT, backupId)).toMatchObject({
      status: 'completed',
      addonDeleted: true,
    });
    expect(await exists(artifact.key)).toBe(true);
  });

  it('takes a final snapshot through the provider before deleting', async () => {
    // Prepare
    const { addon } = await addonWithBackups();

    // Act
    const started = await service.delete(PROJECT, addon.id, { finalBackup: 'snapshot' });
    await runner.idle();

    // Assess
    const op = await env.store.getOperation(PROJECT, started.operation.id);
    expect(op.status).toBe('completed');
    expect(await backups.getBackup(PROJECT, String(op.backupId))).toMatchObject({
      type: 'snapshot',
      status: 'completed',
      sizeBytes: 4096,
      addonDeleted: true,
    });
  });

  it('refuses a final backup of an addon that is not running, and creates nothing', async () => {
    // Prepare
    const failed = addonRecord({ projectId: PROJECT, name: `db-${newId('x').slice(-8)}`, status: 'failed' });
    const op = operation({ addonId: failed.id, projectId: PROJECT });
    await env.store.createAddon({ ...failed, currentOperationId: op.id }, op);
    await env.store.updateAddonForOperation(failed, op.id, { status: 'failed' }, { release: true });

    // Act
    const error = await service.delete(PROJECT, failed.id, { finalBackup: 'dump' }).catch((e) => e);

    // Assess
    expect(error).toMatchObject({ name: 'ConflictError' });
    expect(await env.store.getAddon(PROJECT, failed.id)).toMatchObject({
      status: 'failed',
      currentOperationId: null,
    });
    expect((await backups.listBackups(PROJECT, failed.id, { limit: 10 })).items).toEqual([]);
  });
});
