import { describe, expect, it, onTestFinished } from 'vitest';
import { resumeOperations } from '#infra/local/resume.ts';
import { UnresumableOperationError } from '#shared/errors.ts';
import { checkWorkflowRun, type WorkflowStarter } from '#shared/ports/workflow-starter.ts';
import { workflowInputFor } from '#shared/services/workflow-inputs.ts';
import { startTestStore } from '../support/dynamo.ts';
import { addonRecord, operation } from '../support/fixtures.ts';
import { RecordingStarter } from '../support/recording-starter.ts';

describe('workflowInputFor', () => {
  it('rebuilds the full input of each workflow from the operation record, backupId included', () => {
    const backup = operation({ addonId: 'adn-1', type: 'backup', backupId: 'bkp-1' });
    const restore = operation({ addonId: 'adn-1', type: 'restore', backupId: 'bkp-2' });
    const create = operation({ addonId: 'adn-1', type: 'create' });
    const remove = operation({ addonId: 'adn-1', type: 'delete' });

    expect(workflowInputFor(backup)).toEqual({
      workflow: 'backup-addon',
      input: { projectId: 'proj-a', addonId: 'adn-1', operationId: backup.id, backupId: 'bkp-1' },
    });
    expect(workflowInputFor(restore)).toEqual({
      workflow: 'restore-addon',
      input: { projectId: 'proj-a', addonId: 'adn-1', operationId: restore.id, backupId: 'bkp-2' },
    });
    expect(workflowInputFor(create)).toEqual({
      workflow: 'provision-addon',
      input: { projectId: 'proj-a', addonId: 'adn-1', operationId: create.id },
    });
    expect(workflowInputFor(remove).workflow).toBe('delete-addon');
  });

  it('rebuilds a restore of an uploaded file with its import as the source', () => {
    const restore = operation({ addonId: 'adn-1', type: 'restore', importId: 'imp-3' });
    expect(workflowInputFor(restore)).toEqual({
      workflow: 'restore-addon',
      input: { projectId: 'proj-a', addonId: 'adn-1', operationId: restore.id, backupId: 'imp-3' },
    });
  });

  it('refuses, by name, a backup or restore operation that names no backup', () => {
    const orphan = operation({ addonId: 'adn-1', type: 'restore', backupId: null });

    expect(() => workflowInputFor(orphan)).toThrow(UnresumableOperationError);
    expect(() => workflowInputFor(orphan)).toThrow(/names no backup/);
  });

  it('refuses an operation type that no workflow carries', () => {
    expect(() => workflowInputFor(operation({ addonId: 'adn-1', type: 'update' }))).toThrow(
      UnresumableOperationError,
    );
  });
});

describe('workflow inputs', () => {
  it('a backup or restore input without backupId does not compile, and is refused at run time', async () => {
    const started: unknown[] = [];
    const starter: WorkflowStarter = {
      start: async (run) => {
        started.push(checkWorkflowRun(run));
      },
      stop: async () => undefined,
    };
    const ref = { projectId: 'p', addonId: 'a', operationId: 'op' };

    // @ts-expect-error backup-addon needs backupId
    await expect(starter.start({ workflow: 'backup-addon', input: ref })).rejects.toThrow(/backupId/);
    // @ts-expect-error restore-addon needs backupId
    await expect(starter.start({ workflow: 'restore-addon', input: ref })).rejects.toThrow(/backupId/);
    await starter.start({ workflow: 'delete-addon', input: ref });

    expect(started).toEqual([{ workflow: 'delete-addon', input: ref }]);
  });
});

describe('resumeOperations', () => {
  it('starts every operation in flight again with its full input, and fails, unlocked, one it cannot', async () => {
    const env = await startTestStore();
    onTestFinished(() => env.stop());
    const backupAddon = addonRecord({ projectId: 'proj-r', status: 'backing-up' });
    const backup = operation({
      projectId: 'proj-r',
      addonId: backupAddon.id,
      type: 'backup',
      backupId: 'bkp-1',
    });
    await env.store.createAddon({ ...backupAddon, currentOperationId: backup.id }, backup);
    const brokenAddon = addonRecord({ projectId: 'proj-r', name: 'broken', status: 'restoring' });
    const broken = operation({
      projectId: 'proj-r',
      addonId: brokenAddon.id,
      type: 'restore',
      backupId: null,
    });
    await env.store.createAddon({ ...brokenAddon, currentOperationId: broken.id }, broken);
    const starter = new RecordingStarter();

    const outcome = await resumeOperations({ store: env.store, workflows: starter, log: () => undefined });

    expect(starter.started).toEqual([
      {
        workflow: 'backup-addon',
        input: { projectId: 'proj-r', addonId: backupAddon.id, operationId: backup.id, backupId: 'bkp-1' },
      },
    ]);
    expect(outcome.failed.map((each) => each.operation.id)).toEqual([broken.id]);
    expect(await env.store.getOperation('proj-r', broken.id)).toMatchObject({
      status: 'failed',
      error: { code: 'ResumeFailed', message: expect.stringMatching(/names no backup/) },
    });
    expect(await env.store.getAddon('proj-r', brokenAddon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
  });
});
