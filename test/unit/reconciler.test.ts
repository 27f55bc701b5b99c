import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ExecutionState,
  Leftover,
  LeftoverSource,
  WorkflowExecutions,
} from '#shared/ports/reconciler.ts';
import type { WorkflowName, WorkflowRun } from '#shared/ports/workflow-starter.ts';
import type { Operation } from '#shared/schemas/operation.ts';
import { Reconciler } from '#shared/services/reconciler.ts';
import { deadlinesFrom } from '#shared/services/reconciler-policy.ts';
import type { BackupRecord, BackupStore } from '#shared/store/backup-store.ts';
import { newId, nowIso } from '#shared/util/ids.ts';
import { startTestStore, TEST_TABLE } from '../support/dynamo.ts';
import { addonRecord, dumpBackupRecord, operation } from '../support/fixtures.ts';

const HOUR = 3_600_000;
const PROJECT = 'proj-rec';
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

/** Executions as a map the test sets; starts and stops are recorded. */
class FakeExecutions implements WorkflowExecutions {
  readonly states = new Map<string, ExecutionState>();
  readonly started: WorkflowRun[] = [];
  readonly stopped: string[] = [];
  async describe(_workflow: WorkflowName, operationId: string) {
    return this.states.get(operationId) ?? { status: 'absent' as const };
  }
  async start(run: WorkflowRun) {
    this.started.push(run);
    this.states.set(run.input.operationId, { status: 'running' });
  }
  async stop(_workflow: WorkflowName, operationId: string) {
    this.stopped.push(operationId);
  }
}

/** A provider's resources as a list; removal deletes from it, or fails for ids in `refuse`. */
class FakeSource implements LeftoverSource {
  readonly name = 'fake';
  readonly removed: string[] = [];
  readonly refuse = new Set<string>();
  constructor(readonly items: Leftover[] = []) {}
  async list() {
    return [...this.items];
  }
  async remove(leftover: Leftover) {
    if (this.refuse.has(leftover.id)) throw new Error(`${leftover.id} is busy`);
    this.removed.push(leftover.id);
  }
}

let env: Awaited<ReturnType<typeof startTestStore>>;
let backups: BackupStore;

beforeAll(async () => {
  env = await startTestStore();
  backups = env.backups;
});
afterAll(async () => env.stop());

const reconciler = (executions: WorkflowExecutions, sources: LeftoverSource[] = []) =>
  new Reconciler({
    store: env.store,
    backups,
    executions,
    sources,
    settings: { deadlinesMs: deadlinesFrom('local'), startGraceMs: 30_000, leftoverMinAgeMs: HOUR },
  });

/** An addon held by an operation of `type` created `age` ms ago (and its backup, for backups). */
const addonWithOperation = async (
  type: Operation['type'],
  age: number,
  status: Operation['status'] = 'pending',
  finalBackup = false,
) => {
  const addon = addonRecord({ projectId: PROJECT, name: `db-${newId('x').slice(-10)}`, status: 'running' });
  const backupId = type === 'backup' || type === 'restore' || finalBackup ? newId('bkp') : null;
  const op = operation({
    addonId: addon.id,
    projectId: PROJECT,
    type,
    status,
    backupId,
    createdAt: ago(age),
  });
  await env.store.createAddon({ ...addon, currentOperationId: op.id }, op);
  if (backupId)
    await backups.putBackup(
      backupRecord(addon.id, { id: backupId, operationId: op.id, status: 'in-progress' }),
    );
  return { addon, op, backupId };
};

const backupRecord = (addonId: string, overrides: Partial<BackupRecord> = {}): BackupRecord =>
  dumpBackupRecord({ projectId: PROJECT, addonId, sizeBytes: 10, addonName: 'app-db', ...overrides });

describe('the reconciler, operations in flight', () => {
  it('fails a backup past its deadline: execution stopped, backup failed, addon running and free', async () => {
    // Prepare
    const { addon, op, backupId } = await addonWithOperation('backup', 26 * HOUR, 'in-progress');
    const executions = new FakeExecutions();
    executions.states.set(op.id, { status: 'running' });

    // Act
    const summary = await reconciler(executions).run({ leftovers: false });

    // Assess
    expect(summary.operations.failed).toContainEqual(
      expect.objectContaining({ operationId: op.id, code: 'DeadlineExceeded' }),
    );
    expect(executions.stopped).toContain(op.id);
    expect(await env.store.getOperation(PROJECT, op.id)).toMatchObject({
      status: 'failed',
      error: { code: 'DeadlineExceeded', message: expect.stringMatching(/did not finish within 25 hours/) },
    });
    expect((await backups.getBackup(PROJECT, backupId ?? '')).status).toBe('failed');
    expect(await env.store.getAddon(PROJECT, addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
  });

  it("fails a delete's final backup with it, so no backup stays in flight", async () => {
    // Prepare
    const { op, backupId } = await addonWithOperation('delete', 5 * HOUR, 'in-progress', true);
    const executions = new FakeExecutions();
    executions.states.set(op.id, { status: 'running' });

    // Act
    await reconciler(executions).run({ leftovers: false });

    // Assess
    expect((await env.store.getOperation(PROJECT, op.id)).status).toBe('failed');
    expect((await backups.getBackup(PROJECT, backupId ?? '')).status).toBe('failed');
  });

  it('ends aborted, not failed, a backup whose abort stopped the execution but has not ended the operation yet', async () => {
    // Prepare: the abort has marked the backup and stopped the execution, nothing more yet.
    const { op, backupId } = await addonWithOperation('backup', 60_000, 'in-progress');
    await backups.updateBackup(await backups.getBackup(PROJECT, backupId ?? ''), {
      status: 'aborted',
      completedAt: nowIso(),
    });
    const executions = new FakeExecutions();
    executions.states.set(op.id, { status: 'ended', outcome: 'ABORTED' });

    // Act
    await reconciler(executions).run({ leftovers: false });

    // Assess
    expect(await env.store.getOperation(PROJECT, op.id)).toMatchObject({ status: 'aborted', error: null });
    expect((await backups.getBackup(PROJECT, backupId ?? '')).status).toBe('aborted');
  });

  it('leaves an operation whose execution runs within its deadline alone', async () => {
    // Prepare
    const { addon, op } = await addonWithOperation('create', 5 * 60_000, 'in-progress');
    const executions = new FakeExecutions();
    executions.states.set(op.id, { status: 'running' });

    // Act
    const summary = await reconciler(executions).run({ leftovers: false });

    // Assess
    expect(summary.operations.failed.map((failed) => failed.operationId)).not.toContain(op.id);
    expect(executions.stopped).not.toContain(op.id);
    expect((await env.store.getAddon(PROJECT, addon.id)).currentOperationId).toBe(op.id);
  });

  it('starts again a pending operation that never got an execution, once the grace period is over', async () => {
    // Prepare
    const { op: lost } = await addonWithOperation('backup', 60_000);
    const { op: fresh } = await addonWithOperation('delete', 1_000);
    const executions = new FakeExecutions();

    // Act
    const summary = await reconciler(executions).run({ leftovers: false });

    // Assess
    expect(summary.operations.restarted).toContain(lost.id);
    expect(executions.started).toContainEqual({
      workflow: 'backup-addon',
      input: { projectId: PROJECT, addonId: lost.addonId, operationId: lost.id, backupId: lost.backupId },
    });
    expect(summary.operations.restarted).not.toContain(fresh.id);
  });

  it('fails an operation whose execution ended without ending it, and fails a create as failed', async () => {
    // Prepare
    const { addon, op } = await addonWithOperation('create', 60_000, 'in-progress');
    const executions = new FakeExecutions();
    executions.states.set(op.id, { status: 'ended', outcome: 'FAILED' });

    // Act
    const summary = await reconciler(executions).run({ leftovers: false });

    // Assess
    expect(summary.operations.failed).toContainEqual(
      expect.objectContaining({ operationId: op.id, code: 'WorkflowEnded' }),
    );
    expect(await env.store.getAddon(PROJECT, addon.id)).toMatchObject({
      status: 'failed',
      currentOperationId: null,
    });
  });

  it('releases a lock whose operation was never recorded, after the grace period', async () => {
    // Prepare: beginOperation wrote the addon, then the API died before writing the operation.
    const addon = addonRecord({ projectId: PROJECT, name: `db-${newId('x').slice(-10)}`, status: 'running' });
    const create = operation({ addonId: addon.id, projectId: PROJECT, status: 'completed' });
    await env.store.createAddon({ ...addon, currentOperationId: null, updatedAt: ago(HOUR) }, create);
    const ghost = newId('op');
    await env.store.beginOperation(addon, { ...create, id: ghost }, 'backing-up');
    const client = DynamoDBDocumentClient.from(env.dynamoClient);
    const { DeleteCommand, UpdateCommand } = await import('@aws-sdk/lib-dynamodb');
    await client.send(
      new DeleteCommand({
        TableName: TEST_TABLE,
        Key: { pk: `PROJECT#${PROJECT}`, sk: `OPERATION#${ghost}` },
      }),
    );
    await client.send(
      new UpdateCommand({
        TableName: TEST_TABLE,
        Key: { pk: `PROJECT#${PROJECT}`, sk: `ADDON#${addon.id}` },
        UpdateExpression: 'SET updatedAt = :old',
        ExpressionAttributeValues: { ':old': ago(HOUR) },
      }),
    );

    // Act
    const summary = await reconciler(new FakeExecutions()).run({ leftovers: false });

    // Assess
    expect(summary.locks.released).toContainEqual({ addonId: addon.id, operationId: ghost });
    expect(await env.store.getAddon(PROJECT, addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
  });
});

describe('the reconciler, leftovers', () => {
  const old = new Date(Date.now() - 2 * HOUR);
  const young = new Date(Date.now() - 60_000);

  it('removes what belonged to a deleted addon once old enough, and nothing of a live addon', async () => {
    // Prepare
    const { addon } = await addonWithOperation('create', 60_000, 'completed');
    const source = new FakeSource([
      { kind: 'engine-dir', id: 'gone-old', createdAt: old, owner: { kind: 'addon', addonId: 'adn-gone' } },
      {
        kind: 'engine-dir',
        id: 'gone-young',
        createdAt: young,
        owner: { kind: 'addon', addonId: 'adn-gone2' },
      },
      { kind: 'engine-dir', id: 'live', createdAt: old, owner: { kind: 'addon', addonId: addon.id } },
      { kind: 'security-group', id: 'sg-gone', owner: { kind: 'addon', addonId: 'adn-gone3' } },
    ]);

    // Act
    const summary = await reconciler(new FakeExecutions(), [source]).run();

    // Assess
    expect(source.removed.sort()).toEqual(['gone-old', 'sg-gone']);
    expect(summary.leftovers.removed).toContainEqual({
      kind: 'engine-dir',
      id: 'gone-old',
      why: 'addon adn-gone no longer exists',
    });
  });

  it("keeps every existing backup's data, deleted addon or not, and removes aborted or deleted backups' data", async () => {
    // Prepare
    const kept = backupRecord('adn-deleted-addon');
    const aborted = backupRecord('adn-deleted-addon', { status: 'aborted' });
    const failed = backupRecord('adn-other', { status: 'failed' });
    await Promise.all([kept, aborted, failed].map((backup) => backups.putBackup(backup)));
    const owner = (backup: BackupRecord, projectId?: string) => ({
      kind: 'backup' as const,
      addonId: backup.addonId,
      backupId: backup.id,
      ...(projectId ? { projectId } : {}),
    });
    const source = new FakeSource([
      { kind: 'dump-object', id: 'kept', createdAt: old, owner: owner(kept, PROJECT) },
      { kind: 'db-snapshot', id: 'aborted', createdAt: young, owner: owner(aborted) },
      { kind: 'dump-object', id: 'failed', createdAt: young, owner: owner(failed, PROJECT) },
      {
        kind: 'dump-object',
        id: 'deleted-old',
        createdAt: old,
        owner: { kind: 'backup', addonId: 'adn-x', backupId: newId('bkp'), projectId: PROJECT },
      },
      {
        kind: 'dump-object',
        id: 'unrecorded-young',
        createdAt: young,
        owner: { kind: 'backup', addonId: 'adn-x', backupId: newId('bkp'), projectId: PROJECT },
      },
    ]);

    // Act
    await reconciler(new FakeExecutions(), [source]).run();

    // Assess
    expect(source.removed.sort()).toEqual(['aborted', 'deleted-old', 'failed']);
  });

  it('keeps the copies of a restore in flight, and those that may hold the data, and removes the rest', async () => {
    // Prepare
    const { addon, op } = await addonWithOperation('restore', 60_000, 'in-progress');
    const executions = new FakeExecutions();
    executions.states.set(op.id, { status: 'running' });
    const copy = (id: string, restoreId: string, primaryPresent: boolean): Leftover => ({
      kind: 'db-instance',
      id,
      createdAt: old,
      owner: {
        kind: 'restore-copy',
        addonId: addon.id,
        isCopyFor: (operationId) => operationId === restoreId,
        primaryPresent,
      },
    });
    const source = new FakeSource([
      copy('in-flight', op.id, true),
      copy('finished', 'op-old', true),
      copy('maybe-data', 'op-old', false),
    ]);

    // Act
    const summary = await reconciler(executions, [source]).run();

    // Assess
    expect(source.removed).toEqual(['finished']);
    expect(summary.leftovers.kept.map((kept) => kept.id)).toEqual(['maybe-data']);
  });

  it("removes a read replica above its addon's count once no operation runs, or whose addon is gone; keeps the others", async () => {
    // Prepare: an addon with 1 replica and none in flight; one with an operation in flight.
    const idle = addonRecord({ projectId: PROJECT, name: `db-${newId('x').slice(-10)}`, status: 'running' });
    await env.store.createAddon(
      { ...idle, replicas: 1, currentOperationId: null },
      operation({ addonId: idle.id, projectId: PROJECT, status: 'completed' }),
    );
    const { addon: busy, op } = await addonWithOperation('update-replicas', 60_000, 'in-progress');
    const executions = new FakeExecutions();
    executions.states.set(op.id, { status: 'running' });
    const replica = (id: string, addonId: string, number: number, createdAt = old): Leftover => ({
      kind: 'db-instance',
      id,
      createdAt,
      owner: { kind: 'replica', addonId, number },
    });
    const source = new FakeSource([
      replica('idle-1', idle.id, 1),
      replica('idle-2', idle.id, 2),
      replica('idle-3-young', idle.id, 3, young),
      replica('busy-1', busy.id, 1),
      replica('gone-1', 'adn-gone-replicas', 1),
    ]);

    // Act
    const summary = await reconciler(executions, [source]).run();

    // Assess
    expect(source.removed.sort()).toEqual(['gone-1', 'idle-2']);
    expect(summary.leftovers.removed).toContainEqual({
      kind: 'db-instance',
      id: 'idle-2',
      why: `addon ${idle.id} has 1 read replicas; this is number 2`,
    });
  });

  it('removes a schedule whose record is gone, and reports a removal the provider refuses without stopping', async () => {
    // Prepare
    const source = new FakeSource([
      {
        kind: 'schedule',
        id: 'sch-gone',
        createdAt: old,
        owner: { kind: 'schedule', scheduleId: 'sch-gone' },
      },
      { kind: 'engine-dir', id: 'busy', createdAt: old, owner: { kind: 'addon', addonId: 'adn-gone-busy' } },
      {
        kind: 'engine-dir',
        id: 'after-busy',
        createdAt: old,
        owner: { kind: 'addon', addonId: 'adn-gone-4' },
      },
    ]);
    source.refuse.add('busy');
    const broken: LeftoverSource = {
      name: 'broken',
      list: async () => {
        throw new Error('listing refused');
      },
      remove: async () => undefined,
    };

    // Act
    const summary = await reconciler(new FakeExecutions(), [broken, source]).run();

    // Assess
    expect(source.removed).toEqual(['sch-gone', 'after-busy']);
    expect(summary.leftovers.failed).toEqual([{ kind: 'engine-dir', id: 'busy', reason: 'busy is busy' }]);
    expect(summary.errors).toContainEqual({ step: 'list broken', reason: 'listing refused' });
  });
});

describe('operation deadlines', () => {
  it('are overridden per type in minutes, and a malformed entry is refused', () => {
    expect(deadlinesFrom('aws', 'create=90, backup=600')).toMatchObject({
      create: 90 * 60_000,
      backup: 600 * 60_000,
      delete: 240 * 60_000,
    });
    expect(() => deadlinesFrom('aws', 'create=soon')).toThrow(/create=soon/);
  });
});
