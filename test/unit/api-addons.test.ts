import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAddonsHandler } from '#functions/api/addons.ts';
import { dynamoDbIdempotency } from '#shared/api/idempotency.ts';
import { routes } from '#shared/api/routes.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { testCursors } from '../support/cursors.ts';
import { startTestStore, TEST_TABLE } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { RecordingStarter } from '../support/recording-starter.ts';

let env: Awaited<ReturnType<typeof startTestStore>>;
let starter: RecordingStarter;
let handler: ReturnType<typeof createAddonsHandler>;
const logger = new Logger({ logLevel: 'SILENT' });

beforeAll(async () => {
  env = await startTestStore();
});
afterAll(async () => env.stop());
beforeEach(() => {
  starter = new RecordingStarter();
  handler = createAddonsHandler({
    logger,
    service: new AddonService({ store: env.store, workflows: starter, target: 'local' }),
    idempotency: dynamoDbIdempotency({ client: env.dynamoClient, tableName: TEST_TABLE }),
    cursors: testCursors(),
  });
});

const create = (body: unknown, options: Parameters<typeof apiEvent>[1] = {}) =>
  handler(
    apiEvent(routes.createAddon, { pathParameters: { projectId: 'proj-api' }, body, ...options }),
    context(),
  );

const expectProblem = (
  response: { statusCode?: number; headers?: Record<string, unknown>; body?: string },
  status: number,
) => {
  expect(response.statusCode).toBe(status);
  expect(response.headers?.['content-type']).toBe('application/problem+json');
  const problem = json(response);
  expect(problem.status).toBe(status);
  return problem as {
    errors?: Array<{ path: string; message: string }>;
    detail: string;
    operationId?: string;
  };
};

describe('POST /v1/projects/{projectId}/addons', () => {
  it('accepts a PostgreSQL addon with defaults, returns 202 with addon and operation, and starts the workflow', async () => {
    const response = await create({ name: 'shop-db', engine: 'postgresql' });
    expect(response.statusCode).toBe(202);
    const body = json(response);
    expect(body.addon).toMatchObject({
      name: 'shop-db',
      engine: 'postgresql',
      version: '15',
      plan: 'nano',
      status: 'creating',
    });
    expect(body.operation).toMatchObject({ type: 'create', status: 'pending', addonId: body.addon.id });
    expect(body.addon.currentOperationId).toBe(body.operation.id);
    expect(response.headers?.location).toBe(`/v1/projects/proj-api/addons/${body.addon.id}`);
    expect(starter.started).toEqual([
      {
        workflow: 'provision-addon',
        input: { projectId: 'proj-api', addonId: body.addon.id, operationId: body.operation.id },
      },
    ]);
  });

  it.each([
    ['malformed JSON', { rawBody: '{"name": ' }, 'body'],
    ['a missing name', { body: { engine: 'postgresql' } }, 'body.name'],
    ['a wrong type', { body: { name: 'x', engine: 'postgresql', replicas: 'two' } }, 'body.replicas'],
    ['an unknown engine', { body: { name: 'x', engine: 'oracle' } }, 'body.engine'],
    ['a name that is too long', { body: { name: `a${'b'.repeat(40)}`, engine: 'postgresql' } }, 'body.name'],
    ['a name that is not DNS-safe', { body: { name: 'My_DB', engine: 'postgresql' } }, 'body.name'],
    ['an unknown field', { body: { name: 'x', engine: 'postgresql', colour: 'red' } }, 'body.colour'],
  ])('rejects %s with a 400 naming the field', async (_case, options, path) => {
    const problem = expectProblem(
      await handler(
        apiEvent(routes.createAddon, { pathParameters: { projectId: 'proj-api' }, ...options }),
        context(),
      ),
      400,
    );
    expect(problem.errors?.map((e) => e.path)).toContain(path);
    expect(starter.started).toHaveLength(0);
  });

  it.each([
    ['an unknown version', { version: '9' }, 'body.version'],
    ['an unknown plan', { plan: 'gigantic' }, 'body.plan'],
    ['storage out of range', { storageGiB: 5 }, 'body.storageGiB'],
    ['more replicas than the catalog allows', { replicas: 6 }, 'body.replicas'],
    [
      'public access at create (it needs an allow list: PATCH)',
      { tls: true, publicAccess: true },
      'body.publicAccess',
    ],
  ])('rejects %s with a 422 naming the field', async (_case, extra, path) => {
    const problem = expectProblem(await create({ name: 'unsupported', engine: 'postgresql', ...extra }), 422);
    expect(problem.errors?.map((e) => e.path)).toContain(path);
  });

  it('refuses engines that are not provisioned yet with a 422', async () => {
    const problem = expectProblem(await create({ name: 'cache', engine: 'mongodb' }), 422);
    expect(problem.errors?.[0]?.path).toBe('body.engine');
  });

  it('refuses a duplicate name with a 409 naming the field', async () => {
    expect((await create({ name: 'twice', engine: 'postgresql' })).statusCode).toBe(202);
    const problem = expectProblem(await create({ name: 'twice', engine: 'postgresql' }), 409);
    expect(problem.errors?.[0]?.path).toBe('name');
  });

  it('replays the first result for a repeated Idempotency-Key and creates nothing more', async () => {
    const headers = { 'idempotency-key': 'key-1' };
    const first = await create({ name: 'idem', engine: 'postgresql' }, { headers });
    const second = await create({ name: 'idem', engine: 'postgresql' }, { headers });
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(json(second)).toEqual(json(first));
    expect(starter.started).toHaveLength(1);
  });

  it('refuses an Idempotency-Key reused with another body', async () => {
    const headers = { 'idempotency-key': 'key-2' };
    expect((await create({ name: 'idem-a', engine: 'postgresql' }, { headers })).statusCode).toBe(202);
    const problem = expectProblem(await create({ name: 'idem-b', engine: 'postgresql' }, { headers }), 422);
    expect(problem.errors?.[0]?.path).toBe('Idempotency-Key');
  });

  it('answers 401 without a token and 404 for a project outside the token', async () => {
    expectProblem(await create({ name: 'x', engine: 'postgresql' }, { projects: null }), 401);
    expectProblem(await create({ name: 'x', engine: 'postgresql' }, { projects: ['other'] }), 404);
  });

  it('fails the operation and unlocks the addon when the workflow cannot start', async () => {
    starter.fail = true;
    const problem = expectProblem(await create({ name: 'no-start', engine: 'postgresql' }), 503);
    expect(problem.detail).toMatch(/could not be started/);
    const list = json(
      await handler(
        apiEvent(routes.listAddons, { pathParameters: { projectId: 'proj-api' }, query: { limit: '100' } }),
        context(),
      ),
    );
    const addon = list.items.find((a: { name: string }) => a.name === 'no-start');
    expect(addon).toMatchObject({ status: 'failed', currentOperationId: null });
  });
});

describe('GET and DELETE /v1/projects/{projectId}/addons/{addonId}', () => {
  it('gets an addon, 404s on another project, and deletes with a 202 operation', async () => {
    const { addon, operation } = json(await create({ name: 'to-delete', engine: 'postgresql' }));
    const params = { projectId: 'proj-api', addonId: addon.id };
    expect(json(await handler(apiEvent(routes.getAddon, { pathParameters: params }), context())).name).toBe(
      'to-delete',
    );
    expectProblem(
      await handler(
        apiEvent(routes.getAddon, { pathParameters: { ...params, projectId: 'proj-other' } }),
        context(),
      ),
      404,
    );
    // The create still holds the lock: a delete now is a 409 naming it.
    const conflict = expectProblem(
      await handler(apiEvent(routes.deleteAddon, { pathParameters: params }), context()),
      409,
    );
    expect(conflict.operationId).toBe(operation.id);
    await env.store.updateAddonForOperation(
      { projectId: 'proj-api', id: addon.id },
      operation.id,
      { status: 'running' },
      { release: true },
    );
    const deleted = await handler(apiEvent(routes.deleteAddon, { pathParameters: params }), context());
    expect(deleted.statusCode).toBe(202);
    expect(json(deleted).operation).toMatchObject({ type: 'delete', status: 'pending' });
    expect(starter.started.at(-1)?.workflow).toBe('delete-addon');
  });

  it('asks the store for the addon first, then for its backup health beside it', async () => {
    const { addon } = json(await create({ name: 'read-order', engine: 'postgresql' }));
    const asked: string[] = [];
    const service = new AddonService({ store: env.store, workflows: starter, target: 'local' });
    const get = service.get.bind(service);
    service.get = (projectId, addonId) => {
      asked.push('addon');
      return get(projectId, addonId);
    };
    const ordered = createAddonsHandler({
      logger,
      service,
      health: {
        begin: () => {
          asked.push('health');
          return async () => null;
        },
      },
      cursors: testCursors(),
    });
    const params = { projectId: 'proj-api', addonId: addon.id };

    const response = await ordered(apiEvent(routes.getAddon, { pathParameters: params }), context());

    expect(response.statusCode).toBe(200);
    expect(json(response)).toMatchObject({ name: 'read-order', backupHealth: null });
    // The addon's read reaches the store first: its storage and window are read while the store
    // answers the health's (a single-threaded emulator answers them in turn).
    expect(asked).toEqual(['addon', 'health']);
  });

  it('rejects a bad page size with a 400 naming the query field', async () => {
    const problem = expectProblem(
      await handler(
        apiEvent(routes.listAddons, { pathParameters: { projectId: 'proj-api' }, query: { limit: '0' } }),
        context(),
      ),
      400,
    );
    expect(problem.errors?.[0]?.path).toBe('limit');
  });
});
