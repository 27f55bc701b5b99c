import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddonsHandler } from '#functions/api/addons.ts';
import { routes } from '#shared/api/routes.ts';
import { addonType } from '#shared/catalog/engines.ts';
import { EngineRegistry } from '#shared/engines/registry.ts';
import type { EngineAdapters, EngineProvider, ResizeRequest } from '#shared/ports/engine-provider.ts';
import type { Target } from '#shared/schemas/catalog.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { newOperation } from '#shared/services/operation-lock.ts';
import { ScalingService } from '#shared/services/scaling.ts';
import { ScalingTasks } from '#shared/services/scaling-tasks.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import { testCursors } from '../support/cursors.ts';
import { startTestStore } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { addonRecord } from '../support/fixtures.ts';
import { RecordingStarter } from '../support/recording-starter.ts';

let env: Awaited<ReturnType<typeof startTestStore>>;
beforeAll(async () => {
  env = await startTestStore();
});
afterAll(async () => env.stop());

const running = async (overrides: Partial<AddonRecord> = {}) => {
  const id = `adn-${Math.random().toString(36).slice(2, 12)}`;
  const addon = addonRecord({
    id,
    name: id.slice(4),
    status: 'running',
    projectId: 'proj-scale',
    ...overrides,
  });
  await env.store.createAddon(addon, {
    ...newOperation('create', addon.projectId, addon.id),
    status: 'completed',
  });
  return env.store.getAddon(addon.projectId, addon.id);
};

const patch = async (addon: AddonRecord, body: unknown, target: Target = 'local') => {
  const workflows = new RecordingStarter();
  const handler = createAddonsHandler({
    logger: new Logger({ logLevel: 'SILENT' }),
    service: new AddonService({ store: env.store, workflows, target }),
    scaling: new ScalingService({ store: env.store, workflows, target }),
    cursors: testCursors(),
  });
  const response = await handler(
    apiEvent(routes.updateAddon, { pathParameters: { projectId: addon.projectId, addonId: addon.id }, body }),
    context(),
  );
  return { status: response.statusCode, body: json(response), workflows };
};

const paths = (body: { errors?: Array<{ path: string }> }) => (body.errors ?? []).map((error) => error.path);

describe('PATCH .../addons/{addonId} with a scaling field', () => {
  it('starts one scale operation (scale-addon) that records the change and what the addon had', async () => {
    const addon = await running();
    const { status, body, workflows } = await patch(addon, { plan: 'small' });
    expect(status).toBe(202);
    expect(body.operation).toMatchObject({
      type: 'scale',
      scaling: { plan: 'small', previous: { plan: 'nano', storageGiB: 20, multiAz: false } },
    });
    expect(body.addon).toMatchObject({
      status: 'updating',
      plan: 'nano',
      currentOperationId: body.operation.id,
    });
    expect(workflows.started).toEqual([
      {
        workflow: 'scale-addon',
        input: { projectId: addon.projectId, addonId: addon.id, operationId: body.operation.id },
      },
    ]);
  });

  it('refuses shrinking storage with a 422 naming storageGiB, and growth past the bounds', async () => {
    const addon = await running({ storageGiB: 40 });
    const shrink = await patch(addon, { storageGiB: 30 });
    expect(shrink.status).toBe(422);
    expect(paths(shrink.body)).toEqual(['body.storageGiB']);
    expect(shrink.body.detail).toMatch(/can only grow/);
    const max = addonType('postgresql', 'local').storageGiB.max;
    const beyond = await patch(addon, { storageGiB: max + 1 });
    expect(beyond.status).toBe(422);
    expect(paths(beyond.body)).toEqual(['body.storageGiB']);
    expect(shrink.workflows.started).toEqual([]);
  });

  it('refuses an unknown plan and the plan the addon is on, naming plan', async () => {
    const addon = await running();
    const unknown = await patch(addon, { plan: 'gigantic' });
    expect(unknown.status).toBe(422);
    expect(paths(unknown.body)).toEqual(['body.plan']);
    expect(unknown.body.detail).toMatch(/nano, small/);
    const same = await patch(addon, { plan: 'nano' });
    expect(same.status).toBe(422);
    expect(paths(same.body)).toEqual(['body.plan']);
  });

  it('refuses Multi-AZ locally with the catalog note saying why; takes it on AWS RDS', async () => {
    const addon = await running();
    const local = await patch(addon, { multiAz: true });
    expect(local.status).toBe(422);
    expect(paths(local.body)).toEqual(['body.multiAz']);
    expect(local.body.errors[0].message).toMatch(/one server process on one machine/);
    expect(addonType('postgresql', 'local').capabilities.multiAz).toBe(false);
    const aws = await patch(addon, { multiAz: true }, 'aws');
    expect(aws.status).toBe(202);
    expect(aws.body.operation.scaling).toMatchObject({ multiAz: true });
  });

  it('refuses storage changes where the engine grows its storage by itself (DocumentDB)', async () => {
    const addon = await running({ engine: 'mongodb', version: '5.0', plan: 'medium', storageGiB: 10 });
    const response = await patch(addon, { storageGiB: 20 }, 'aws');
    expect(response.status).toBe(422);
    expect(paths(response.body)).toEqual(['body.storageGiB']);
  });

  it('takes one kind of change per request: two fields, or none, are a 400', async () => {
    const addon = await running();
    const two = await patch(addon, { plan: 'small', storageGiB: 40 });
    expect(two.status).toBe(400);
    expect(paths(two.body)).toEqual(['body.storageGiB']);
    expect(two.body.errors[0].message).toMatch(/one kind of change per request/);
    const mixed = await patch(addon, { plan: 'small', networking: { tls: true } });
    expect(mixed.status).toBe(400);
    const none = await patch(addon, {});
    expect(none.status).toBe(400);
  });

  it('answers 409 while another operation is in flight, naming it', async () => {
    const addon = await running();
    const first = await patch(addon, { storageGiB: 40 });
    expect(first.status).toBe(202);
    const second = await patch(addon, { plan: 'small' });
    expect(second.status).toBe(409);
    expect(second.body.detail).toContain(first.body.operation.id);
  });
});

describe('the scale-addon tasks', () => {
  const tasksWith = (provider: Partial<EngineProvider>) =>
    new ScalingTasks({
      store: env.store,
      engines: EngineRegistry.everyEngine<EngineAdapters>('test', () => ({
        provider: provider as EngineProvider,
        snapshots: {} as EngineAdapters['snapshots'],
      })),
    });

  it('applies the plan, waits until applied, then records it on the addon and releases it', async () => {
    const addon = await running();
    const { body } = await patch(addon, { plan: 'medium' });
    const asked: ResizeRequest[] = [];
    let state: 'applying' | 'applied' = 'applying';
    const tasks = tasksWith({
      resize: async (_id, change) => {
        asked.push(change);
      },
      describeResize: async () => ({ status: state }),
    });
    const ref = { projectId: addon.projectId, addonId: addon.id, operationId: body.operation.id };
    await tasks.run({ action: 'applyScaling', ...ref });
    expect(asked.map((change) => change.plan?.id)).toEqual(['medium']);
    expect(await tasks.run({ action: 'describeScaling', ...ref, attempts: 0, maxAttempts: 3 })).toEqual({
      status: 'applying',
      attempts: 1,
    });
    state = 'applied';
    expect(await tasks.run({ action: 'describeScaling', ...ref, attempts: 1, maxAttempts: 3 })).toMatchObject(
      {
        status: 'applied',
      },
    );
    await tasks.run({ action: 'completeScaling', ...ref });
    expect(await env.store.getAddon(addon.projectId, addon.id)).toMatchObject({
      plan: 'medium',
      status: 'running',
      currentOperationId: null,
    });
    expect(await env.store.getOperation(addon.projectId, ref.operationId)).toMatchObject({
      status: 'completed',
      message: 'Applied: plan nano → medium',
    });
  });

  it('gives up after maxAttempts checks, and the failure keeps the old plan, running, with a reason', async () => {
    const addon = await running();
    const { body } = await patch(addon, { plan: 'large' });
    const tasks = tasksWith({ describeResize: async () => ({ status: 'applying' }) });
    const ref = { projectId: addon.projectId, addonId: addon.id, operationId: body.operation.id };
    await expect(
      tasks.run({ action: 'describeScaling', ...ref, attempts: 2, maxAttempts: 3 }),
    ).rejects.toMatchObject({
      code: 'ScalingWaitTimeout',
    });
    await tasks.run({
      action: 'failScaling',
      ...ref,
      error: { Error: 'ProviderError', Cause: 'InvalidDBInstanceState: the instance is not available' },
      skipCleanup: false,
    });
    expect(await env.store.getAddon(addon.projectId, addon.id)).toMatchObject({
      plan: 'nano',
      status: 'running',
      currentOperationId: null,
    });
    const operation = await env.store.getOperation(addon.projectId, ref.operationId);
    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toBe(
      'plan nano → large failed: InvalidDBInstanceState: the instance is not available',
    );
  });
});
