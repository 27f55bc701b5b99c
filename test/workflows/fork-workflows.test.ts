import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createWorkflowTaskHandler } from '#functions/workflow/tasks.ts';
import { localLambdaContext } from '#infra/local/lambda-context.ts';
import { LOCAL_SUBSTITUTIONS, LocalWorkflowRunner } from '#infra/local/workflow-runner.ts';
import {
  pointInTimeKey,
  type RestoreState,
  resourceIdFor,
  type SnapshotProvider,
} from '#shared/ports/engine-provider.ts';
import { FileSecretStore } from '#shared/providers/local/file-secret-store.ts';
import { type JobSpec, JobSpecSchema } from '#shared/schemas/job.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { newId } from '#shared/util/ids.ts';
import { engineAdapters, refusingSnapshots, unreachableArtifacts } from '../support/backups.ts';
import { startTestStore } from '../support/dynamo.ts';
import { addonRecord, backupRecord, createRequest, operation } from '../support/fixtures.ts';
import { ScriptedProvider } from '../support/scripted-provider.ts';

/**
 * The provision workflow (provision-addon.asl.json, run by the local runner) seeding a fork: a
 * snapshot restored into the new instance then its own password set, or a dump restored by the
 * restore job; any failure discards the restore and the compensation deletes the whole fork.
 */
const PROJECT = 'proj-fw';
let env: Awaited<ReturnType<typeof startTestStore>>;
let dir: string;
let provider: ScriptedProvider;
let calls: string[];
let restoreStates: RestoreState[];
let jobs: JobSpec[];
let jobBehaviour: (spec: JobSpec) => Promise<void>;
let secrets: FileSecretStore;
let runner: LocalWorkflowRunner;
let service: AddonService;

beforeAll(async () => {
  env = await startTestStore();
  dir = await mkdtemp(join(tmpdir(), 'addons-fork-wf-'));
});
afterAll(async () => {
  await env.stop();
  await rm(dir, { recursive: true, force: true });
});

const setUp = (withPasswords = true) => {
  provider = new ScriptedProvider();
  // A provider that cannot set passwords (the port's method is optional).
  if (!withPasswords) Object.assign(provider, { setAdminPassword: undefined });
  calls = [];
  restoreStates = [];
  jobs = [];
  jobBehaviour = async () => undefined;
  const snapshots: SnapshotProvider = refusingSnapshots('not in this test', {
    restoreSnapshot: async (resourceId, snapshotId, restoreId) => {
      calls.push(`restore ${snapshotId} into ${resourceId} as ${restoreId}`);
    },
    restoreToPointInTime: async (resourceId, sourceResourceId, time, restoreId) => {
      calls.push(`restore ${sourceResourceId} at ${time} into ${resourceId} as ${restoreId}`);
    },
    describeRestore: async (resourceId, snapshotId) => {
      calls.push(`describe ${snapshotId} in ${resourceId}`);
      return restoreStates.shift() ?? { status: 'available' };
    },
    discardRestore: async (resourceId, snapshotId) => {
      calls.push(`discard ${snapshotId} from ${resourceId}`);
      return 'discarded';
    },
  });
  const engines = engineAdapters({ provider, snapshots });
  secrets = new FileSecretStore(join(dir, 'secrets'));
  const task = createWorkflowTaskHandler({
    store: env.store,
    engines,
    secrets,
    logger: new Logger({ logLevel: 'SILENT' }),
    backups: {
      store: env.store,
      backups: env.backups,
      artifacts: unreachableArtifacts(),
      engines,
      jobs: { cluster: 'c', taskDefinition: 'td', container: 'job', subnets: ['s'], securityGroups: ['g'] },
      target: 'local',
    },
  });
  runner = new LocalWorkflowRunner({
    functions: {
      [LOCAL_SUBSTITUTIONS.WorkflowTaskFunctionArn as string]: (input) =>
        task(input, localLambdaContext('tasks')),
      'arn:aws:states:::ecs:runTask.sync': async (input) => {
        const parameters = input as {
          Overrides: { ContainerOverrides: Array<{ Environment: Array<{ Name: string; Value: string }> }> };
        };
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
  service = new AddonService({
    store: env.store,
    workflows: runner,
    target: 'local',
    forks: { backups: env.backups },
  });
};
beforeEach(() => setUp());

/** A running source addon with a completed snapshot and a completed dump. */
const source = async () => {
  const addon = addonRecord({ projectId: PROJECT, name: `src-${newId('x').slice(-8)}`, status: 'running' });
  await env.store.createAddon(addon, operation({ addonId: addon.id, projectId: PROJECT }));
  const snapshot = backupRecord({ addonId: addon.id, projectId: PROJECT, engineVersion: '15' });
  const dump = backupRecord({
    addonId: addon.id,
    projectId: PROJECT,
    engineVersion: '15',
    type: 'dump',
    compression: 'zstd',
    snapshotId: null,
    artifact: { bucket: 'backups', key: `${addon.id}/dump.zst` },
    sha256: 'c'.repeat(64),
  });
  await env.backups.putBackup(snapshot);
  await env.backups.putBackup(dump);
  return { addon, snapshot, dump };
};

const fork = async (sourceAddonId: string, backupId: string) => {
  const request = createRequest({
    name: `fork-${newId('x').slice(-8)}`,
    source: { addonId: sourceAddonId, backupId },
  });
  const { addon, operation: op } = await service.create(PROJECT, request);
  await runner.idle();
  return {
    addon: await env.store.findAddon(PROJECT, addon.id),
    operation: await env.store.getOperation(PROJECT, op.id),
    ref: { projectId: PROJECT, addonId: addon.id },
  };
};

describe('provision-addon.asl.json seeding a fork', () => {
  it('restores the snapshot into the new instance, gives it its own password, then completes', async () => {
    const { addon: src, snapshot } = await source();
    const { addon, operation: op, ref } = await fork(src.id, snapshot.id);
    expect(op).toMatchObject({ status: 'completed', error: null, progress: { percent: 100 } });
    expect(addon).toMatchObject({ status: 'running', currentOperationId: null });
    expect(calls).toEqual([
      `restore ${snapshot.snapshotId} into ${addon?.resourceId} as ${op.id}`,
      `describe ${snapshot.snapshotId} in ${addon?.resourceId}`,
    ]);
    const secret = await secrets.get(ref);
    expect(secret?.database).toBe(src.name.replace(/-/g, '_'));
    expect(provider.passwords).toEqual([
      { resourceId: addon?.resourceId, username: secret?.username, password: secret?.password },
    ]);
    expect(jobs).toEqual([]);
  });

  it('restores a dump into the new addon with the restore job, checking the recorded SHA-256', async () => {
    const { addon: src, dump } = await source();
    const { addon, operation: op } = await fork(src.id, dump.id);
    expect(op).toMatchObject({ status: 'completed', error: null });
    expect(jobs).toEqual([
      expect.objectContaining({
        kind: 'restore',
        addonId: addon?.id,
        backupId: dump.id,
        artifact: dump.artifact,
        compression: 'zstd',
        expectedSha256: dump.sha256,
        operationId: op.id,
      }),
    ]);
    // A dump is loaded as the fork's own user: no password to reset, no snapshot restore.
    expect(provider.count('setAdminPassword')).toBe(0);
    expect(calls).toEqual([]);
  });

  it('a failed snapshot restore is discarded and the fork deleted: the operation fails with the reason', async () => {
    const { addon: src, snapshot } = await source();
    restoreStates = [
      { status: 'restoring' },
      { status: 'failed', reason: 'Snapshot holds another database' },
    ];
    const { addon, operation: op, ref } = await fork(src.id, snapshot.id);
    expect(op.status).toBe('failed');
    expect(op.error).toEqual({ code: 'ProviderError', message: 'Snapshot holds another database' });
    expect(calls).toContain(`discard ${snapshot.snapshotId} from ${addon?.resourceId}`);
    expect(provider.count('deleteInstance')).toBe(1);
    expect(await secrets.get(ref)).toBeUndefined();
    expect(addon).toMatchObject({ status: 'failed', currentOperationId: null, endpoint: null });
  });

  it('a failed dump restore job deletes the fork: nothing half-created keeps running', async () => {
    const { addon: src, dump } = await source();
    jobBehaviour = async () => {
      throw new Error('The dump does not match its recorded SHA-256');
    };
    const { addon, operation: op, ref } = await fork(src.id, dump.id);
    expect(op.status).toBe('failed');
    expect(op.error?.message).toMatch(/SHA-256/);
    expect(provider.count('deleteInstance')).toBe(1);
    expect(await secrets.get(ref)).toBeUndefined();
    expect(addon).toMatchObject({ status: 'failed', endpoint: null });
  });

  it('fails (and deletes the fork) where the provider cannot give a physical copy its own password', async () => {
    setUp(false);
    const { addon: src, snapshot } = await source();
    const { operation: op } = await fork(src.id, snapshot.id);
    expect(op.status).toBe('failed');
    expect(op.error?.message).toMatch(/cannot have their password set/);
    expect(provider.count('deleteInstance')).toBe(1);
  });

  it('a source backup deleted after the fork was accepted fails the fork with a readable reason', async () => {
    const { addon: src, dump } = await source();
    const request = createRequest({
      name: `fork-${newId('x').slice(-8)}`,
      source: { addonId: src.id, backupId: dump.id },
    });
    // The workflow starts after the backup record is gone (retention, or a user, deleted it).
    const deleting = new AddonService({
      store: env.store,
      target: 'local',
      forks: { backups: env.backups },
      workflows: {
        start: async (run) => {
          await env.backups.deleteBackupRecord(dump);
          await runner.start(run);
        },
        stop: (...args) => runner.stop(...args),
      },
    });
    const { operation: op } = await deleting.create(PROJECT, request);
    await runner.idle();
    const ended = await env.store.getOperation(PROJECT, op.id);
    expect(ended.status).toBe('failed');
    expect(ended.error?.message).toMatch(new RegExp(`Backup ${dump.id} .* was deleted`));
    expect(provider.count('deleteInstance')).toBe(1);
  });

  it('seeds a point-in-time fork through the PITR port, then gives it its own password', async () => {
    const { addon: src } = await source();
    // Recorded as the API records a point-in-time fork (where the engine offers pitr), then started.
    const time = '2026-11-30T21:15:00Z';
    const fork = addonRecord({
      projectId: PROJECT,
      name: `pitr-${newId('x').slice(-8)}`,
      source: {
        addonId: src.id,
        addonName: src.name,
        backupId: null,
        backupType: null,
        pointInTime: time,
        database: src.name.replace(/-/g, '_'),
      },
    });
    const op = operation({ addonId: fork.id, projectId: PROJECT });
    await env.store.createAddon({ ...fork, currentOperationId: op.id }, op);
    await runner.start({
      workflow: 'provision-addon',
      input: { projectId: PROJECT, addonId: fork.id, operationId: op.id },
    });
    await runner.idle();

    expect(await env.store.getOperation(PROJECT, op.id)).toMatchObject({ status: 'completed', error: null });
    const key = pointInTimeKey(resourceIdFor(src.id), time);
    expect(calls).toEqual([
      `restore ${resourceIdFor(src.id)} at ${time} into ${fork.resourceId} as ${op.id}`,
      `describe ${key} in ${fork.resourceId}`,
    ]);
    expect(provider.passwords).toHaveLength(1);
    expect((await secrets.get({ projectId: PROJECT, addonId: fork.id }))?.database).toBe(
      fork.source?.database,
    );
  });

  it('a point-in-time seed that fails (outside the window) is discarded and the fork deleted', async () => {
    const { addon: src } = await source();
    restoreStates = [{ status: 'failed', reason: 'The time is outside the restorable window' }];
    const time = '2026-11-30T21:15:00Z';
    const fork = addonRecord({
      projectId: PROJECT,
      name: `pitr-${newId('x').slice(-8)}`,
      source: {
        addonId: src.id,
        addonName: src.name,
        backupId: null,
        backupType: null,
        pointInTime: time,
        database: 'x',
      },
    });
    const op = operation({ addonId: fork.id, projectId: PROJECT });
    await env.store.createAddon({ ...fork, currentOperationId: op.id }, op);
    await runner.start({
      workflow: 'provision-addon',
      input: { projectId: PROJECT, addonId: fork.id, operationId: op.id },
    });
    await runner.idle();

    const ended = await env.store.getOperation(PROJECT, op.id);
    expect(ended.status).toBe('failed');
    expect(ended.error?.message).toMatch(/restorable window/);
    expect(calls).toContain(`discard ${pointInTimeKey(resourceIdFor(src.id), time)} from ${fork.resourceId}`);
    expect(provider.count('deleteInstance')).toBe(1);
  });
});
