import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddonsHandler } from '#functions/api/addons.ts';
import { routes } from '#shared/api/routes.ts';
import { EngineRegistry } from '#shared/engines/registry.ts';
import type { EngineAdapters } from '#shared/ports/engine-provider.ts';
import type { ReplicaProvider, ReplicaSetState } from '#shared/ports/replica-provider.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { publishedNetworking } from '#shared/services/networking-details.ts';
import { publishedReplicas, replicaUriOf } from '#shared/services/replica-details.ts';
import { ReplicasService, ReplicaTasks } from '#shared/services/replicas.ts';
import { testCursors } from '../support/cursors.ts';
import { startTestStore } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { addonRecord } from '../support/fixtures.ts';
import { memorySecrets, TEST_SECRET } from '../support/memory-secrets.ts';
import { RecordingStarter } from '../support/recording-starter.ts';

let env: Awaited<ReturnType<typeof startTestStore>>;
beforeAll(async () => {
  env = await startTestStore();
});
afterAll(async () => env.stop());

const secret = TEST_SECRET;

/** A replica provider that records the counts it is given and answers `states` in turn. */
const recordingReplicas = (states: ReplicaSetState[] = []) => {
  const counts: number[] = [];
  const provider: ReplicaProvider & { counts: number[] } = {
    counts,
    setReplicaCount: async (_id, count) => {
      counts.push(count);
      return undefined;
    },
    describeReplicas: async (_id, count) =>
      states.shift() ?? {
        status: 'available',
        endpoints: Array.from({ length: count }, (_, i) => ({ host: '127.0.0.1', port: 6000 + i })),
      },
  };
  return provider;
};

const enginesWith = (replicas: ReplicaProvider | undefined) =>
  EngineRegistry.everyEngine<EngineAdapters>('test', () => ({
    provider: {} as EngineAdapters['provider'],
    snapshots: {} as EngineAdapters['snapshots'],
    ...(replicas ? { replicas } : {}),
  }));

const running = async (overrides = {}) => {
  const id = `adn-${Math.random().toString(36).slice(2, 12)}`;
  const addon = addonRecord({
    id,
    name: id.slice(4),
    status: 'running',
    projectId: 'proj-rep',
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

const patch = async (
  deps: { replicas?: ReplicasService },
  addon: { projectId: string; id: string },
  body: unknown,
) =>
  createAddonsHandler({
    logger: new Logger({ logLevel: 'SILENT' }),
    service: new AddonService({ store: env.store, workflows: new RecordingStarter(), target: 'local' }),
    cursors: testCursors(),
    ...deps,
  })(
    apiEvent(routes.updateAddon, { pathParameters: { projectId: addon.projectId, addonId: addon.id }, body }),
    context(),
  );

const paths = (response: { body?: string }) =>
  json(response as never).errors?.map((error: { path: string }) => error.path);

describe('PATCH replicas: validation', () => {
  const service = (replicas = recordingReplicas(), workflows = new RecordingStarter()) =>
    new ReplicasService({ store: env.store, engines: enginesWith(replicas), workflows, target: 'local' });

  it('starts one update-replicas workflow under the addon lock, the operation naming the count', async () => {
    const addon = await running();
    const workflows = new RecordingStarter();
    const response = await patch({ replicas: service(recordingReplicas(), workflows) }, addon, {
      replicas: 2,
    });
    expect(response.statusCode).toBe(202);
    const { operation } = json(response);
    expect(operation).toMatchObject({ type: 'update-replicas', replicas: 2, status: 'pending' });
    expect(workflows.started).toEqual([
      {
        workflow: 'update-replicas',
        input: { projectId: addon.projectId, addonId: addon.id, operationId: operation.id },
      },
    ]);
    expect(await env.store.getAddon(addon.projectId, addon.id)).toMatchObject({
      status: 'updating',
      currentOperationId: operation.id,
    });
    const again = await patch({ replicas: service() }, addon, { replicas: 1 });
    expect(again.statusCode).toBe(409);
  });

  it.each([
    ['more than maxReplicas', { replicas: 6 }, 422, 'body.replicas'],
    ['more than any engine allows', { replicas: 16 }, 400, 'body.replicas'],
    ['a negative count', { replicas: -1 }, 400, 'body.replicas'],
    ['a fraction', { replicas: 1.5 }, 400, 'body.replicas'],
    ['replicas beside networking', { replicas: 1, networking: { tls: true } }, 400, 'body.replicas'],
    ['an empty change', {}, 400, 'body'],
  ])('refuses %s naming the field', async (_case, body, status, path) => {
    const addon = await running();
    const response = await patch({ replicas: service() }, addon, body);
    expect(response.statusCode).toBe(status);
    expect(paths(response)).toContain(path);
  });

  it('refuses an engine without replicas here (MongoDB locally) with a 422 naming replicas', async () => {
    const addon = await running({ engine: 'mongodb' });
    const response = await patch({ replicas: service() }, addon, { replicas: 1 });
    expect(response.statusCode).toBe(422);
    expect(paths(response)).toEqual(['body.replicas']);
  });

  it('answers 422 where the deployment has no replica changes (AWS today)', async () => {
    const addon = await running();
    const response = await patch({}, addon, { replicas: 1 });
    expect(response.statusCode).toBe(422);
    expect(paths(response)).toEqual(['body.replicas']);
  });

  it('releases the addon and fails the operation when the workflow cannot start', async () => {
    const addon = await running();
    const workflows = new RecordingStarter();
    workflows.fail = true;
    const response = await patch({ replicas: service(recordingReplicas(), workflows) }, addon, {
      replicas: 1,
    });
    expect(response.statusCode).toBe(500);
    expect(await env.store.getAddon(addon.projectId, addon.id)).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
  });
});

describe('update-replicas workflow steps', () => {
  const begin = async (replicas: ReplicaProvider, count: number, overrides = {}) => {
    const addon = await running(overrides);
    const workflows = new RecordingStarter();
    const engines = enginesWith(replicas);
    const { operation } = await new ReplicasService({
      store: env.store,
      engines,
      workflows,
      target: 'local',
    }).update(addon.projectId, addon.id, count);
    const secrets = memorySecrets();
    const tasks = new ReplicaTasks({ store: env.store, engines, secrets, target: 'local' });
    const ref = { projectId: addon.projectId, addonId: addon.id, operationId: operation.id };
    return { addon, tasks, ref, secrets };
  };

  it('applies, waits, publishes each replica URI with the credentials and releases the addon', async () => {
    const replicas = recordingReplicas([{ status: 'applying', ready: 0, wanted: 2 }]);
    const { tasks, ref, secrets } = await begin(replicas, 2);
    await tasks.run({ action: 'applyReplicas', ...ref });
    expect(await tasks.run({ action: 'describeReplicas', ...ref, attempts: 0, maxAttempts: 5 })).toEqual({
      status: 'applying',
      attempts: 1,
    });
    expect(
      await tasks.run({ action: 'describeReplicas', ...ref, attempts: 1, maxAttempts: 5 }),
    ).toMatchObject({
      status: 'available',
    });
    await tasks.run({ action: 'publishReplicas', ...ref });
    expect(replicas.counts).toEqual([2]);
    expect(secrets.value.replicas).toEqual([
      { host: '127.0.0.1', port: 6000, uri: 'postgresql://addonadmin:pw@127.0.0.1:6000/app' },
      { host: '127.0.0.1', port: 6001, uri: 'postgresql://addonadmin:pw@127.0.0.1:6001/app' },
    ]);
    expect(secrets.value.uri).toBe(secret.uri);
    expect(await env.store.getAddon(ref.projectId, ref.addonId)).toMatchObject({
      replicas: 2,
      status: 'running',
      currentOperationId: null,
    });
    expect(await env.store.getOperation(ref.projectId, ref.operationId)).toMatchObject({
      status: 'completed',
    });
    // A retried step after completion changes nothing.
    await tasks.run({ action: 'applyReplicas', ...ref });
    expect(replicas.counts).toEqual([2]);
  });

  it('bounds the wait: the last check fails with ReplicasWaitTimeout', async () => {
    const replicas = recordingReplicas([{ status: 'applying', ready: 0, wanted: 1 }]);
    const { tasks, ref } = await begin(replicas, 1);
    await expect(
      tasks.run({ action: 'describeReplicas', ...ref, attempts: 4, maxAttempts: 5 }),
    ).rejects.toMatchObject({
      code: 'ReplicasWaitTimeout',
    });
  });

  it('compensates a failure: back to the count the addon had, operation failed, addon running and released', async () => {
    const replicas = recordingReplicas();
    const { tasks, ref, secrets } = await begin(replicas, 3, { replicas: 1 });
    await tasks.run({ action: 'applyReplicas', ...ref });
    const result = await tasks.run({
      action: 'failReplicas',
      ...ref,
      error: { Error: 'ReplicasFailed', Cause: 'pg_basebackup failed' },
      skipCleanup: false,
      attempts: 0,
      maxAttempts: 60,
    });
    expect(result).toMatchObject({ failed: true, reason: { code: 'ReplicasFailed' } });
    expect(replicas.counts).toEqual([3, 1]);
    expect(secrets.value.replicas).toBeUndefined();
    expect(await env.store.getAddon(ref.projectId, ref.addonId)).toMatchObject({
      replicas: 1,
      status: 'running',
      currentOperationId: null,
    });
    expect(await env.store.getOperation(ref.projectId, ref.operationId)).toMatchObject({
      status: 'failed',
      error: { code: 'ReplicasFailed', message: 'pg_basebackup failed' },
    });
  });

  describe('a compensation that takes steps', () => {
    const stepwise = (steps: Array<'more' | undefined>) => {
      const provider = recordingReplicas();
      const calls: Array<{ count: number; multiAz?: boolean }> = [];
      provider.setReplicaCount = async (_id, count, change) => {
        calls.push({ count, multiAz: change?.multiAz });
        return steps.shift();
      };
      return { provider, calls };
    };
    const fail = (ref: { projectId: string; addonId: string; operationId: string }, attempts: number) => ({
      action: 'failReplicas' as const,
      ...ref,
      error: { Error: 'ProviderError', Cause: 'refused' },
      skipCleanup: false,
      attempts,
      maxAttempts: 3,
    });

    it('keeps the addon locked while the provider has steps left (settled: false), then fails and releases it', async () => {
      const { provider, calls } = stepwise(['more', undefined]);
      const { tasks, ref } = await begin(provider, 0, { replicas: 2, multiAz: true });

      expect(await tasks.run(fail(ref, 0))).toEqual({ settled: false, attempts: 1 });
      expect(await env.store.getAddon(ref.projectId, ref.addonId)).toMatchObject({
        currentOperationId: ref.operationId,
      });
      expect(await tasks.run(fail(ref, 1))).toMatchObject({ failed: true });

      // Back to the addon's count, with its Multi-AZ setting, each time.
      expect(calls).toEqual([
        { count: 2, multiAz: true },
        { count: 2, multiAz: true },
      ]);
      expect(await env.store.getAddon(ref.projectId, ref.addonId)).toMatchObject({
        status: 'running',
        currentOperationId: null,
      });
      expect((await env.store.getOperation(ref.projectId, ref.operationId)).error?.message).toBe('refused');
    });

    it('after maxAttempts checks, releases the addon anyway and says what was still under way', async () => {
      const { provider } = stepwise(['more', 'more', 'more']);
      const { tasks, ref } = await begin(provider, 0, { replicas: 2 });

      expect(await tasks.run(fail(ref, 2))).toMatchObject({ failed: true });

      const operation = await env.store.getOperation(ref.projectId, ref.operationId);
      expect(operation.status).toBe('failed');
      expect(operation.error?.message).toMatch(/^refused \(replicas still going back to 2 after 3 checks\)$/);
      expect(await env.store.getAddon(ref.projectId, ref.addonId)).toMatchObject({
        currentOperationId: null,
      });
    });
  });
});

describe('replica connection details', () => {
  it('publishes each replica with its own URI, and a secret group key falls back to the primary without replicas', () => {
    const published = publishedReplicas({ ...secret, tls: true }, [{ host: '127.0.0.1', port: 6100 }]);
    expect(published.replicas).toEqual([
      { host: '127.0.0.1', port: 6100, uri: 'postgresql://addonadmin:pw@127.0.0.1:6100/app?sslmode=require' },
    ]);
    expect(replicaUriOf(published)).toBe(published.replicas?.[0]?.uri);
    expect(replicaUriOf(publishedReplicas(published, []))).toBe(secret.uri);
    expect(publishedReplicas(published, [])).not.toHaveProperty('replicas');
  });

  it('a networking change rewrites the replica URIs with the TLS setting (replicas serve as their primary does)', () => {
    const redis = publishedReplicas({ ...secret, engine: 'redis', tls: false }, [
      { host: '127.0.0.1', port: 6100 },
    ]);
    expect(redis.replicas?.[0]?.uri).toMatch(/^redis:\/\//);
    const tls = publishedNetworking(redis, { tls: true, public: false, allow: [] }, { caCertificate: 'CA' });
    expect(tls.replicas).toEqual([
      {
        host: '127.0.0.1',
        port: 6100,
        uri: expect.stringMatching(/^rediss:\/\/addonadmin:pw@127\.0\.0\.1:6100/),
      },
    ]);
    expect(tls.uri).toMatch(/^rediss:\/\//);
  });
});
