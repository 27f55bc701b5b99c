import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createWorkflowTaskHandler } from '#functions/workflow/tasks.ts';
import { localLambdaContext } from '#infra/local/lambda-context.ts';
import { LOCAL_SUBSTITUTIONS, LocalWorkflowRunner } from '#infra/local/workflow-runner.ts';
import { ProviderError, TransientError } from '#shared/errors.ts';
import { FileSecretStore } from '#shared/providers/local/file-secret-store.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { engineAdapters } from '../support/backups.ts';
import { startTestStore } from '../support/dynamo.ts';
import { createRequest } from '../support/fixtures.ts';
import { ScriptedProvider } from '../support/scripted-provider.ts';

let env: Awaited<ReturnType<typeof startTestStore>>;
let secretsDir: string;
let provider: ScriptedProvider;
let secrets: FileSecretStore;
let runner: LocalWorkflowRunner;
let service: AddonService;
let counter = 0;

beforeAll(async () => {
  env = await startTestStore();
  secretsDir = await mkdtemp(join(tmpdir(), 'addons-secrets-'));
});
afterAll(async () => {
  await env.stop();
  await rm(secretsDir, { recursive: true, force: true });
});
beforeEach(() => {
  provider = new ScriptedProvider();
  secrets = new FileSecretStore(secretsDir);
  const task = createWorkflowTaskHandler({
    store: env.store,
    engines: engineAdapters({ provider }),
    secrets,
    logger: new Logger({ logLevel: 'SILENT' }),
    retirement: {
      store: env.store,
      backups: env.backups,
      schedules: { remove: async () => undefined },
      graceDays: 7,
    },
  });
  runner = new LocalWorkflowRunner({
    functions: {
      [LOCAL_SUBSTITUTIONS.WorkflowTaskFunctionArn as string]: (input) =>
        task(input, localLambdaContext('tasks')),
      // The backup machines load too; these tests never reach their job states.
      'arn:aws:states:::ecs:runTask.sync': async () => {
        throw new Error('no jobs in this test');
      },
    },
    waitMs: 0,
    retryMs: 0,
  });
  service = new AddonService({ store: env.store, workflows: runner, target: 'local' });
});

const provision = async () => {
  const { addon, operation } = await service.create('proj-wf', createRequest({ name: `wf-${++counter}` }));
  await runner.idle();
  return {
    addon: await env.store.getAddon('proj-wf', addon.id),
    operation: await env.store.getOperation('proj-wf', operation.id),
    ref: { projectId: 'proj-wf', addonId: addon.id },
  };
};

describe('provision-addon.asl.json', () => {
  it('creates the instance, waits until available, publishes credentials and completes', async () => {
    provider.states = [{ status: 'creating' }, { status: 'creating' }];
    const { addon, operation, ref } = await provision();
    expect(operation).toMatchObject({ status: 'completed', error: null, progress: { percent: 100 } });
    expect(operation.startedAt).not.toBeNull();
    expect(addon).toMatchObject({
      status: 'running',
      currentOperationId: null,
      endpoint: { host: '127.0.0.1', port: 6543 },
    });
    const secret = await secrets.get(ref);
    expect(secret).toMatchObject({
      host: '127.0.0.1',
      port: 6543,
      username: 'addonadmin',
      database: addon.name.replace(/-/g, '_'),
    });
    expect(secret?.password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(secret?.uri).toBe(
      `postgresql://addonadmin:${secret?.password}@127.0.0.1:6543/${secret?.database}`,
    );
    // Two "creating" answers, then available; publishCredentials checks once more.
    expect(provider.count('describeInstance')).toBe(4);
  });

  it('retries a transient provider error and then succeeds', async () => {
    provider.createErrors = [new TransientError('throttled'), new TransientError('throttled again')];
    const { operation } = await provision();
    expect(operation.status).toBe('completed');
    expect(provider.count('createInstance')).toBe(3);
  });

  it('compensates a provider failure: deletes the instance and the secret, fails the operation with the reason', async () => {
    provider.createErrors = [new ProviderError('Quota exceeded: DB instances (40) for this account')];
    const { addon, operation, ref } = await provision();
    expect(operation.status).toBe('failed');
    expect(operation.error).toEqual({
      code: 'ProviderError',
      message: 'Quota exceeded: DB instances (40) for this account',
    });
    expect(operation.completedAt).not.toBeNull();
    expect(addon).toMatchObject({ status: 'failed', currentOperationId: null, endpoint: null });
    expect(provider.count('deleteInstance')).toBe(1);
    expect(await secrets.get(ref)).toBeUndefined();
  });

  it('still fails the operation, saying what may be left, when the cleanup itself keeps failing', async () => {
    provider.createErrors = [new ProviderError('InsufficientDBInstanceCapacity')];
    provider.deleteInstance = async () => {
      throw new TransientError('deletion protection cannot be changed while the instance is creating');
    };
    const { addon, operation } = await provision();
    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(
      /^InsufficientDBInstanceCapacity \(cleaning up also failed: deletion protection .*; delete the addon to remove what is left\)$/,
    );
    expect(addon).toMatchObject({ status: 'failed', currentOperationId: null });
  });

  it('compensates an instance that fails while starting', async () => {
    provider.states = [
      { status: 'creating' },
      { status: 'failed', reason: 'postgres exited: could not bind' },
    ];
    const { addon, operation } = await provision();
    expect(operation.error).toEqual({ code: 'ProviderError', message: 'postgres exited: could not bind' });
    expect(addon.status).toBe('failed');
    expect(provider.instances.size).toBe(0);
  });

  it('bounds the wait: a stuck instance fails the operation after maxAttempts checks', async () => {
    provider.steadyState = { status: 'creating' };
    const { operation } = await provision();
    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(/still creating after 120 checks/);
    expect(provider.count('describeInstance')).toBe(120);
    expect(provider.instances.size).toBe(0);
  });
});

describe('delete-addon.asl.json', () => {
  it('deletes the instance, the secret and the record, and completes', async () => {
    const { ref } = await provision();
    const { operation } = await service.delete(ref.projectId, ref.addonId);
    await runner.idle();
    expect((await env.store.getOperation('proj-wf', operation.id)).status).toBe('completed');
    expect(await env.store.findAddon(ref.projectId, ref.addonId)).toBeUndefined();
    expect(await secrets.get(ref)).toBeUndefined();
    expect(provider.instances.size).toBe(0);
  });

  it('leaves the addon failed and unlocked when the delete fails, so it can be retried', async () => {
    const { ref } = await provision();
    const original = provider.deleteInstance.bind(provider);
    provider.deleteInstance = async () => {
      throw new ProviderError('InvalidDBInstanceState: instance is being modified');
    };
    const { operation } = await service.delete(ref.projectId, ref.addonId);
    await runner.idle();
    const failed = await env.store.getOperation('proj-wf', operation.id);
    expect(failed.error?.message).toMatch(/being modified/);
    expect(await env.store.getAddon(ref.projectId, ref.addonId)).toMatchObject({
      status: 'failed',
      currentOperationId: null,
    });
    provider.deleteInstance = original;
    const retry = await service.delete(ref.projectId, ref.addonId);
    await runner.idle();
    expect((await env.store.getOperation('proj-wf', retry.operation.id)).status).toBe('completed');
  });

  it('starting the same operation twice runs one execution', async () => {
    const { ref } = await provision();
    const { operation } = await service.delete(ref.projectId, ref.addonId);
    await runner.start({ workflow: 'delete-addon', input: { ...ref, operationId: operation.id } });
    await runner.idle();
    expect(provider.count('deleteInstance')).toBe(1);
  });
});
