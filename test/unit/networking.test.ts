import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddonsHandler } from '#functions/api/addons.ts';
import { routes } from '#shared/api/routes.ts';
import { EngineRegistry } from '#shared/engines/registry.ts';
import type { EngineAdapters, EngineProvider } from '#shared/ports/engine-provider.ts';
import { cidrProblem, type NetworkingSettings } from '#shared/schemas/networking.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { NetworkingService } from '#shared/services/networking.ts';
import { testCursors } from '../support/cursors.ts';
import { startTestStore } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { addonRecord } from '../support/fixtures.ts';
import { memorySecrets } from '../support/memory-secrets.ts';
import { RecordingStarter } from '../support/recording-starter.ts';

let env: Awaited<ReturnType<typeof startTestStore>>;
beforeAll(async () => {
  env = await startTestStore();
});
afterAll(async () => env.stop());

const running = async (overrides = {}) => {
  const id = `adn-${Math.random().toString(36).slice(2, 12)}`;
  const addon = addonRecord({
    id,
    name: id.slice(4),
    status: 'running',
    projectId: 'proj-net',
    ...overrides,
  });
  await env.store.createAddon(addon, {
    id: `op-${addon.id}`,
    type: 'create',
    status: 'completed',
    projectId: addon.projectId,
    addonId: addon.id,
    backupId: null,
    progress: { step: 'done', percent: 100 },
    error: null,
    createdAt: addon.createdAt,
    startedAt: null,
    completedAt: null,
  });
  return addon;
};

describe('NetworkingService', () => {
  it('applies, publishes the public endpoint beside the private details, and completes one operation', async () => {
    const calls: NetworkingSettings[] = [];
    const provider = {
      configureNetworking: async (_id: string, networking: NetworkingSettings) => {
        calls.push(networking);
        return { publicEndpoint: { host: '198.51.100.4', port: 5433 }, caCertificate: 'PEM' };
      },
    } as unknown as EngineProvider;
    const secrets = memorySecrets();
    const service = new NetworkingService({
      store: env.store,
      secrets,
      engines: EngineRegistry.everyEngine<EngineAdapters>('test', () => ({ provider }) as EngineAdapters),
      target: 'local',
    });
    const addon = await running({ tls: true });
    const result = await service.update(addon.projectId, addon.id, {
      networking: { public: true, allow: ['198.51.100.0/24'] },
    });
    expect(calls).toEqual([{ tls: true, public: true, allow: ['198.51.100.0/24'] }]);
    expect(result.operation).toMatchObject({ type: 'update-networking', status: 'completed' });
    expect(result.addon).toMatchObject({
      publicAccess: true,
      allowedCidrs: ['198.51.100.0/24'],
      status: 'running',
    });
    expect(result.addon.currentOperationId).toBeNull();
    expect(secrets.value).toMatchObject({
      tls: true,
      uri: 'postgresql://addonadmin:pw@127.0.0.1:5433/app?sslmode=require',
      public: {
        host: '198.51.100.4',
        port: 5433,
        uri: 'postgresql://addonadmin:pw@198.51.100.4:5433/app?sslmode=require',
      },
      caCertificate: 'PEM',
    });
  });

  it('puts the engine back and fails the operation when the change cannot be applied, releasing the addon', async () => {
    const calls: NetworkingSettings[] = [];
    const provider = {
      configureNetworking: async (_id: string, networking: NetworkingSettings) => {
        calls.push(networking);
        if (calls.length === 1) throw new Error('server did not restart');
        return {};
      },
    } as unknown as EngineProvider;
    const service = new NetworkingService({
      store: env.store,
      secrets: memorySecrets(),
      engines: EngineRegistry.everyEngine<EngineAdapters>('test', () => ({ provider }) as EngineAdapters),
      target: 'local',
    });
    const addon = await running();
    await expect(service.update(addon.projectId, addon.id, { networking: { tls: true } })).rejects.toThrow(
      /did not restart/,
    );
    expect(calls).toEqual([
      { tls: true, public: false, allow: [] },
      { tls: false, public: false, allow: [] },
    ]);
    const after = await env.store.getAddon(addon.projectId, addon.id);
    expect(after).toMatchObject({ status: 'running', currentOperationId: null, tls: false });
  });
});

describe('PATCH /v1/projects/{projectId}/addons/{addonId} with networking on AWS', () => {
  const patch = async (addon: { projectId: string; id: string }, networking: Record<string, unknown>) => {
    const workflows = new RecordingStarter();
    const handler = createAddonsHandler({
      logger: new Logger({ logLevel: 'SILENT' }),
      service: new AddonService({ store: env.store, workflows, target: 'aws' }),
      networking: new NetworkingService({ store: env.store, workflows, target: 'aws' }),
      cursors: testCursors(),
    });
    const response = await handler(
      apiEvent(routes.updateAddon, {
        pathParameters: { projectId: addon.projectId, addonId: addon.id },
        body: { networking },
      }),
      context(),
    );
    return { response, workflows };
  };

  it('accepts a PostgreSQL change (was 422): 202 with the operation pending, carried by update-networking', async () => {
    const addon = await running({ tls: true });
    const { response, workflows } = await patch(addon, { public: true, allow: ['203.0.113.7/32'] });

    expect(response.statusCode).toBe(202);
    const body = json(response);
    expect(body.operation).toMatchObject({
      type: 'update-networking',
      status: 'pending',
      networking: {
        tls: true,
        public: true,
        allow: ['203.0.113.7/32'],
        previous: { tls: true, public: false, allow: [] },
      },
    });
    expect(body.addon).toMatchObject({ status: 'updating', currentOperationId: body.operation.id });
    // The addon records the settings only once the workflow has applied them.
    expect(body.addon).toMatchObject({ publicAccess: false, allowedCidrs: [] });
    expect(workflows.started).toEqual([
      {
        workflow: 'update-networking',
        input: { projectId: addon.projectId, addonId: addon.id, operationId: body.operation.id },
      },
    ]);
    // A second change while it runs: 409 naming the operation in flight.
    const second = await patch(addon, { tls: false });
    expect(second.response.statusCode).toBe(409);
    expect(second.workflows.started).toEqual([]);
  });

  it('still checks the change first: public without TLS is a 422 and starts nothing', async () => {
    const addon = await running({ tls: false });
    const { response, workflows } = await patch(addon, { public: true, allow: ['203.0.113.7/32'] });
    expect(response.statusCode).toBe(422);
    expect(json(response).errors.map((error: { path: string }) => error.path)).toEqual([
      'body.networking.public',
    ]);
    expect(workflows.started).toEqual([]);
  });

  it.each(['redis', 'mongodb'] as const)(
    'answers 422 naming body.networking for %s, with the catalog note',
    async (engine) => {
      const addon = await running({ engine, tls: true });
      const { response, workflows } = await patch(addon, { tls: true });
      expect(response.statusCode).toBe(422);
      const body = json(response);
      expect(body.errors.map((error: { path: string }) => error.path)).toEqual(['body.networking']);
      expect(body.detail).toMatch(/networkingUpdate is off: .*(ElastiCache|DocumentDB)/);
      expect(workflows.started).toEqual([]);
    },
  );
});

describe('cidrProblem', () => {
  it.each([
    ['127.0.0.2/32', undefined],
    ['0.0.0.0/0', undefined],
    ['10.0.0.0/33', /IPv4 CIDR/],
    ['abc', /IPv4 CIDR/],
    ['256.0.0.0/8', /IPv4 CIDR/],
    ['10.0.0.1/24', /10\.0\.0\.0\/24/],
  ])('%s', (value, expected) => {
    const problem = cidrProblem(value);
    if (expected) expect(problem).toMatch(expected);
    else expect(problem).toBeUndefined();
  });
});
