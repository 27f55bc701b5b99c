import { DeleteDBSnapshotCommand, InvalidDBSnapshotStateFault, RDSClient } from '@aws-sdk/client-rds';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RdsSnapshotDeleter } from '#shared/providers/aws/rds/rds-snapshots.ts';
import { SfnWorkflowStarter } from '#shared/providers/aws/sfn-workflow-starter.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import { BackupWorkflowTasks } from '#shared/services/backup-workflow-tasks.ts';
import type { BackupStore } from '#shared/store/backup-store.ts';
import { newId } from '#shared/util/ids.ts';
import { engineAdapters, refusingSnapshots, snapshotDeleters } from '../support/backups.ts';
import { startTestStore } from '../support/dynamo.ts';
import { addonRecord, operation } from '../support/fixtures.ts';

/**
 * Aborting a backup on AWS, against the real SDK clients mocked at the command level: RDS
 * refuses to delete a snapshot it is still creating, Step Functions may fail to stop the
 * execution, and the abort still releases the addon.
 */
const rds = mockClient(RDSClient);
const s3 = mockClient(S3Client);
const sfn = mockClient(SFNClient);
const BUCKET = 'backups';
const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:backup';

let env: Awaited<ReturnType<typeof startTestStore>>;
let backups: BackupStore;

beforeAll(async () => {
  env = await startTestStore();
  backups = env.backups;
});
afterAll(async () => {
  rds.restore();
  s3.restore();
  sfn.restore();
  await env.stop();
});
afterEach(() => {
  rds.reset();
  s3.reset();
  sfn.reset();
});

const artifacts = () =>
  new BackupArtifacts({ client: new S3Client({ region: 'eu-west-1' }), bucket: BUCKET });
const service = () =>
  new BackupService({
    store: env.store,
    backups,
    workflows: new SfnWorkflowStarter({
      client: new SFNClient({ region: 'eu-west-1' }),
      stateMachineArns: { 'backup-addon': STATE_MACHINE },
    }),
    artifacts: artifacts(),
    snapshotDeleters: snapshotDeleters(new RdsSnapshotDeleter(new RDSClient({ region: 'eu-west-1' }))),
    target: 'aws',
  });

/** A running addon with a backup of `type` in progress, as the API and the workflow leave it. */
const backupInProgress = async (type: 'snapshot' | 'dump') => {
  const addon = addonRecord({ projectId: 'proj-abort', name: `db-${newId('x').slice(-8)}` });
  const create = operation({ addonId: addon.id, projectId: 'proj-abort' });
  await env.store.createAddon({ ...addon, currentOperationId: create.id }, create);
  await env.store.updateAddonForOperation(addon, create.id, { status: 'running' }, { release: true });
  sfn.on(StopExecutionCommand).resolves({});
  const started = await service().create(
    'proj-abort',
    addon.id,
    type === 'dump' ? { type, compression: 'zstd', pinned: false } : { type, pinned: false },
  );
  sfn.reset();
  return { addon, ...started };
};

describe('aborting a backup on AWS', () => {
  it('releases the addon at once while RDS still reports the snapshot creating', async () => {
    // Prepare
    const { addon, backup, operation: op } = await backupInProgress('snapshot');
    sfn.on(StopExecutionCommand).resolves({});
    rds.on(DeleteDBSnapshotCommand).rejects(
      new InvalidDBSnapshotStateFault({
        $metadata: { httpStatusCode: 400 },
        message: 'Cannot delete the snapshot because it is not currently in the available state.',
      }),
    );

    // Act
    const aborted = await service().abort('proj-abort', addon.id, backup.id);

    // Assess
    expect(aborted).toMatchObject({ status: 'aborted', error: { code: 'Aborted' } });
    expect(aborted.error?.message).toMatch(/removed as soon as the provider allows it/);
    expect(rds.commandCalls(DeleteDBSnapshotCommand)).toHaveLength(1);
    expect(sfn.commandCalls(StopExecutionCommand)[0]?.args[0].input.executionArn).toBe(
      `arn:aws:states:eu-west-1:123456789012:execution:backup:${op.id}`,
    );
    expect(await env.store.getAddon('proj-abort', addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
    expect((await env.store.getOperation('proj-abort', op.id)).status).toBe('aborted');
  });

  it('accepts a new backup right after such an abort', async () => {
    // Prepare
    const { addon, backup } = await backupInProgress('snapshot');
    sfn.on(StopExecutionCommand).resolves({});
    rds
      .on(DeleteDBSnapshotCommand)
      .rejects(new InvalidDBSnapshotStateFault({ $metadata: { httpStatusCode: 400 }, message: 'creating' }));
    await service().abort('proj-abort', addon.id, backup.id);

    // Act
    const next = await service().create('proj-abort', addon.id, { type: 'snapshot', pinned: false });

    // Assess
    expect(next.operation.status).toBe('pending');
    expect((await env.store.getAddon('proj-abort', addon.id)).currentOperationId).toBe(next.operation.id);
  });

  it('records the abort and releases the addon even when the execution cannot be stopped', async () => {
    // Prepare
    const { addon, backup, operation: op } = await backupInProgress('dump');
    sfn
      .on(StopExecutionCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    s3.on(DeleteObjectCommand).resolves({});

    // Act
    const aborted = await service().abort('proj-abort', addon.id, backup.id);

    // Assess
    expect(aborted.status).toBe('aborted');
    expect((await env.store.getAddon('proj-abort', addon.id)).currentOperationId).toBeNull();
    expect((await env.store.getOperation('proj-abort', op.id)).status).toBe('aborted');
  });
});

/** The backup workflow's task handler, on the same store, bucket and RDS as the service. */
const workflowTasks = () =>
  new BackupWorkflowTasks({
    store: env.store,
    backups,
    artifacts: artifacts(),
    engines: engineAdapters({
      snapshots: refusingSnapshots('not in this test', {
        deleteSnapshot: (id) =>
          new RdsSnapshotDeleter(new RDSClient({ region: 'eu-west-1' })).deleteSnapshot(id),
      }),
    }),
    jobs: { cluster: 'c', taskDefinition: 't', container: 'job', subnets: [], securityGroups: [] },
    target: 'aws',
  });

describe('a dump job that finishes after the abort', () => {
  it('has its upload deleted by the completeDump step, and the backup stays aborted', async () => {
    // Prepare
    const { addon, backup, operation: op } = await backupInProgress('dump');
    sfn.on(StopExecutionCommand).resolves({});
    s3.on(DeleteObjectCommand).resolves({});
    await service().abort('proj-abort', addon.id, backup.id);
    s3.reset();
    s3.on(DeleteObjectCommand).resolves({});
    const tasks = workflowTasks();
    const ref = { projectId: 'proj-abort', addonId: addon.id, operationId: op.id, backupId: backup.id };

    // Act
    await tasks.run({ action: 'completeDump', complete: true, ...ref });

    // Assess
    const deleted = s3.commandCalls(DeleteObjectCommand).map((call) => call.args[0].input.Key);
    expect(deleted).toEqual([
      `dumps/proj-abort/${addon.id}/${backup.id}.dump.zst`,
      `dumps/proj-abort/${addon.id}/${backup.id}.dump.zst.result.json`,
    ]);
    expect((await backups.getBackup('proj-abort', backup.id)).status).toBe('aborted');
    expect((await env.store.getOperation('proj-abort', op.id)).status).toBe('aborted');
  });
});

describe('a killed job whose Catch wins the race with the abort', () => {
  it('ends the operation aborted, not failed, since the abort recorded its intent first', async () => {
    // Prepare: the abort has marked the backup, but not yet the operation.
    const { addon, backup, operation: op } = await backupInProgress('dump');
    await backups.updateBackup(await backups.getBackup('proj-abort', backup.id), {
      status: 'aborted',
      completedAt: new Date().toISOString(),
    });
    s3.on(DeleteObjectCommand).resolves({});
    const tasks = workflowTasks();
    const ref = { projectId: 'proj-abort', addonId: addon.id, operationId: op.id, backupId: backup.id };

    // Act
    await tasks.run({
      action: 'failBackup',
      ...ref,
      final: false,
      skipCleanup: false,
      error: { Error: 'States.TaskFailed', Cause: 'the job was killed' },
    });

    // Assess
    const ended = await env.store.getOperation('proj-abort', op.id);
    expect(ended).toMatchObject({ status: 'aborted', error: null });
    expect((await backups.getBackup('proj-abort', backup.id)).status).toBe('aborted');
    expect((await env.store.getAddon('proj-abort', addon.id)).currentOperationId).toBeNull();
  });
});
