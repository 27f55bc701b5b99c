import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createWorkflowTaskHandler } from '#functions/workflow/tasks.ts';
import { localLambdaContext } from '#infra/local/lambda-context.ts';
import { LOCAL_SUBSTITUTIONS, LocalWorkflowRunner } from '#infra/local/workflow-runner.ts';
import { EngineRegistry } from '#shared/engines/registry.ts';
import { ProviderError } from '#shared/errors.ts';
import {
  pointInTimeKey,
  type RestorableWindow,
  type RestoreState,
  type SnapshotProvider,
} from '#shared/ports/engine-provider.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { FileSecretStore } from '#shared/providers/local/file-secret-store.ts';
import { PitrService } from '#shared/services/pitr-service.ts';
import { newId } from '#shared/util/ids.ts';
import { refusingSnapshots } from '../support/backups.ts';
import { startTestStore } from '../support/dynamo.ts';
import { addonRecord, operation } from '../support/fixtures.ts';
import { ScriptedProvider } from '../support/scripted-provider.ts';

/**
 * restore-addon's point-in-time path on the local workflow runner, with a snapshot provider that
 * implements the PITR port from a script (the real ones: local PostgreSQL's WAL archive, RDS in
 * aws-pitr-workflows.test.ts). It checks what the workflow asks of the port, in which order, and
 * what the operation and the addon end as.
 */

const PROJECT = 'proj-pitr-wf';
const TIME = '2026-11-29T08:15:30Z';

class PitrSnapshots implements SnapshotProvider {
  calls: string[] = [];
  restoreStates: RestoreState[] = [];
  /** Thrown once by the next describeRestore (a check that fails after the provider finished). */
  describeError: Error | undefined;
  discardOutcome: 'discarded' | 'completed' = 'discarded';
  window: RestorableWindow = {
    earliestRestorableTime: '2026-11-22T00:00:00Z',
    latestRestorableTime: '2026-11-30T00:00:00Z',
  };
  async createSnapshot() {}
  async describeSnapshot() {
    return { status: 'absent' as const };
  }
  async deleteSnapshot() {}
  async restoreSnapshot(_resourceId: string, snapshotId: string) {
    this.calls.push(`restoreSnapshot ${snapshotId}`);
  }
  async describeRestorableWindow() {
    return this.window;
  }
  async restoreToPointInTime(resourceId: string, source: string, time: string, restoreId: string) {
    this.calls.push(`restoreToPointInTime ${resourceId} ${source} ${time} ${restoreId}`);
  }
  async describeRestore(_resourceId: string, snapshotId: string): Promise<RestoreState> {
    this.calls.push(`describeRestore ${snapshotId}`);
    const error = this.describeError;
    this.describeError = undefined;
    if (error) throw error;
    return this.restoreStates.shift() ?? { status: 'available' };
  }
  async discardRestore(_resourceId: string, snapshotId: string) {
    this.calls.push(`discardRestore ${snapshotId}`);
    return this.discardOutcome;
  }
}

let env: Awaited<ReturnType<typeof startTestStore>>;
let dir: string;
let snapshots: PitrSnapshots;
let runner: LocalWorkflowRunner;
let service: PitrService;
/** What restores in the workflow function; PitrSnapshots unless a test takes the port away. */
let workflowSnapshots: SnapshotProvider;

beforeAll(async () => {
  env = await startTestStore();
  dir = await mkdtemp(join(tmpdir(), 'addons-pitr-wf-'));
});
afterAll(async () => {
  await env.stop();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  snapshots = new PitrSnapshots();
  workflowSnapshots = snapshots;
  const engines = EngineRegistry.everyEngine('test engine', () => ({
    provider: new ScriptedProvider(),
    snapshots: workflowSnapshots,
  }));
  const task = createWorkflowTaskHandler({
    store: env.store,
    engines,
    secrets: new FileSecretStore(join(dir, 'secrets')),
    logger: new Logger({ logLevel: 'SILENT' }),
    backups: {
      store: env.store,
      backups: env.backups,
      // Never reached on this path: no S3 behind it.
      artifacts: new BackupArtifacts({ client: {} as never, bucket: 'none' }),
      engines,
      jobs: { cluster: 'c', taskDefinition: 'td', container: 'job', subnets: ['s'], securityGroups: ['g'] },
      target: 'local',
    },
  });
  runner = new LocalWorkflowRunner({
    functions: {
      [LOCAL_SUBSTITUTIONS.WorkflowTaskFunctionArn as string]: (input) =>
        task(input, localLambdaContext('tasks')),
      // The runner checks every workflow's job states have a function; none runs on this path.
      'arn:aws:states:::ecs:runTask.sync': async () => {
        throw new Error('a point-in-time restore runs no job');
      },
    },
    waitMs: 0,
    retryMs: 0,
  });
  // The API side: the AWS catalog has `pitr` for PostgreSQL (the local one is another branch's).
  service = new PitrService({
    store: env.store,
    workflows: runner,
    windows: EngineRegistry.everyEngine('restorable windows', () => snapshots),
    target: 'aws',
  });
});

const runningAddon = async () => {
  const addon = addonRecord({ projectId: PROJECT, name: `db-${newId('x').slice(-8)}` });
  const op = operation({ addonId: addon.id, projectId: PROJECT });
  await env.store.createAddon({ ...addon, currentOperationId: op.id }, op);
  await env.store.updateAddonForOperation(addon, op.id, { status: 'running' }, { release: true });
  return env.store.getAddon(PROJECT, addon.id);
};

const restoreTo = async (time = TIME) => {
  const addon = await runningAddon();
  const { operation: started } = await service.restore(PROJECT, addon.id, time);
  await runner.idle();
  return {
    addon,
    key: pointInTimeKey(addon.resourceId, time),
    operation: await env.store.getOperation(PROJECT, started.id),
    after: await env.store.getAddon(PROJECT, addon.id),
  };
};

describe('restore-addon.asl.json, point in time', () => {
  it('asks the port to restore the addon’s instance at that second, waits for it and completes', async () => {
    snapshots.restoreStates = [{ status: 'restoring' }, { status: 'restoring' }, { status: 'available' }];
    const { addon, key, operation: op, after } = await restoreTo();
    expect(op).toMatchObject({
      status: 'completed',
      error: null,
      pointInTime: TIME,
      progress: { step: 'completed', percent: 100 },
    });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    expect(snapshots.calls).toEqual([
      `restoreToPointInTime ${addon.resourceId} ${addon.resourceId} ${TIME} ${op.id}`,
      `describeRestore ${key}`,
      `describeRestore ${key}`,
      `describeRestore ${key}`,
    ]);
  });

  it('discards a restore that failed: the port puts the addon back, the operation says why', async () => {
    snapshots.restoreStates = [
      { status: 'restoring' },
      { status: 'failed', reason: 'recovery stopped early' },
    ];
    const { key, operation: op, after } = await restoreTo();
    expect(op).toMatchObject({ status: 'failed', pointInTime: TIME });
    expect(op.error?.message).toMatch(/recovery stopped early/);
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    expect(snapshots.calls.slice(-1)).toEqual([`discardRestore ${key}`]);
    expect(snapshots.calls.some((call) => call.startsWith('restoreSnapshot'))).toBe(false);
  });

  it('keeps a restore that had finished when the workflow failed after it, and reports it completed', async () => {
    snapshots.describeError = new ProviderError('the check broke after the data was restored');
    snapshots.discardOutcome = 'completed';
    const { key, operation: op, after } = await restoreTo();
    expect(op).toMatchObject({ status: 'completed', error: null, pointInTime: TIME });
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
    expect(snapshots.calls).toContain(`discardRestore ${key}`);
  });

  it('fails with a reason, changing nothing, where the workflow’s provider has no point-in-time restore', async () => {
    workflowSnapshots = refusingSnapshots('snapshots are not part of this test');
    const { operation: op, after } = await restoreTo();
    expect(op).toMatchObject({ status: 'failed', pointInTime: TIME });
    expect(op.error?.message).toMatch(/no point-in-time recovery/);
    expect(after).toMatchObject({ status: 'running', currentOperationId: null });
  });
});
