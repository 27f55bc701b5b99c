import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiLambda, LocalGateway } from '#infra/local/gateway.ts';
import { createHttpHandler } from '#shared/api/http-handler.ts';
import { dynamoDbIdempotency } from '#shared/api/idempotency.ts';
import { toProblem } from '#shared/api/problem.ts';
import { TokenBucketLimiter } from '#shared/api/rate-limit.ts';
import { routes } from '#shared/api/routes.ts';
import { ValidationError } from '#shared/errors.ts';
import { FileSecretStore } from '#shared/providers/local/file-secret-store.ts';
import { ProjectIdSchema } from '#shared/schemas/common.ts';
import { testCursors } from '../support/cursors.ts';
import { startTestStore, TEST_TABLE } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { client } from '../support/http.ts';

const logger = new Logger({ logLevel: 'SILENT' });
const ADDON = 'adn-01jd0000000000000000000000';
const BACKUP = 'bkp-01jd0000000000000000000000';

/** Every route with path parameters, answered by a handler that must never run on bad ids. */
const reached: string[] = [];
const handler = createHttpHandler(
  routes,
  Object.fromEntries(
    Object.values(routes)
      .filter((route) => 'params' in route)
      .map((route) => [
        route.operationId,
        async () => {
          reached.push(route.operationId);
          return { status: 200, body: { items: [], nextCursor: null } };
        },
      ]),
  ),
  { logger, cursors: testCursors() },
);

const problemOf = (response: { statusCode?: number; headers?: Record<string, unknown>; body?: string }) => {
  expect(response.statusCode).toBe(400);
  expect(response.headers?.['content-type']).toBe('application/problem+json');
  return json(response) as { errors: Array<{ path: string; message: string }> };
};

describe('project ids', () => {
  it.each(['proj-a', '0-team', 'a', 'x'.repeat(63)])('accepts the DNS label %s', (projectId) => {
    expect(ProjectIdSchema.safeParse(projectId).success).toBe(true);
  });

  it.each([
    ['a parent directory', '..'],
    ['a traversal', '../../etc'],
    ['a slash', 'a/b'],
    ['upper case', 'Proj'],
    ['a leading hyphen', '-proj'],
    ['a trailing hyphen', 'proj-'],
    ['a dot', 'proj.a'],
    ['a percent-escape left encoded', '%2E%2E'],
    ['64 characters', 'x'.repeat(64)],
    ['nothing', ''],
  ])('refuses %s with a 400 naming projectId, before any route code runs', async (_case, projectId) => {
    const response = await handler(apiEvent(routes.listAddons, { pathParameters: { projectId } }), context());
    expect(problemOf(response).errors.map((issue) => issue.path)).toEqual(['projectId']);
    expect(reached).toEqual([]);
  });
});

describe('resource ids', () => {
  it.each([
    ['addonId', routes.getAddon, { addonId: '../adn-1' }],
    ['addonId', routes.getAddon, { addonId: 'bkp-01jd0000000000000000000000' }],
    ['backupId', routes.getBackup, { addonId: ADDON, backupId: 'bkp-1/../x' }],
    ['scheduleId', routes.deleteBackupSchedule, { addonId: ADDON, scheduleId: 'SCH-1' }],
    ['operationId', routes.getOperation, { operationId: `op-${'a'.repeat(80)}` }],
  ])('refuses a malformed %s with a 400 naming it', async (field, route, ids) => {
    const response = await handler(
      apiEvent(route, { pathParameters: { projectId: 'proj-a', ...ids } }),
      context(),
    );
    expect(problemOf(response).errors.map((issue) => issue.path)).toEqual([field]);
    expect(reached).toEqual([]);
  });

  it('serves well-formed ids', async () => {
    const response = await handler(
      apiEvent(routes.getBackup, {
        pathParameters: { projectId: 'proj-a', addonId: ADDON, backupId: BACKUP },
      }),
      context(),
    );
    expect(response.statusCode).toBe(200);
    expect(reached.splice(0)).toEqual(['getBackup']);
  });
});

describe('malformed percent-escapes', () => {
  it('are a 400 in the Lambda handler, whether the escape arrives raw or fails to decode', async () => {
    const raw = await handler(
      apiEvent(routes.listAddons, { pathParameters: { projectId: '%E0%A4%A' } }),
      context(),
    );
    expect(problemOf(raw).errors[0]?.path).toBe('projectId');
    expect(toProblem(new URIError('URI malformed'))).toMatchObject({
      status: 400,
      errors: [{ path: 'path', message: 'contains a malformed percent-escape' }],
    });
  });

  describe('at the local gateway', () => {
    let gateway: LocalGateway;
    let api: ReturnType<typeof client>;
    beforeAll(async () => {
      const lambda = handler as unknown as ApiLambda;
      gateway = new LocalGateway({
        rateLimiter: new TokenBucketLimiter({ perSecond: 1000, burst: 1000 }),
        handlers: {
          meta: lambda,
          catalog: lambda,
          addons: lambda,
          credentials: lambda,
          operations: lambda,
          backups: lambda,
        },
        token: 'gateway-token-0123456789',
      });
      api = client(await gateway.listen(0, '127.0.0.1'), 'gateway-token-0123456789');
    });
    afterAll(() => gateway.close());

    it('answers a malformed escape with a 400 problem, not a 500', async () => {
      const response = await api('GET', '/v1/projects/%E0%A4%A/addons');
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.body.errors).toEqual([
        { path: 'path', message: 'contains a malformed percent-escape' },
      ]);
    });

    it('decodes %2F and refuses the traversal it spells', async () => {
      const response = await api('GET', '/v1/projects/..%2F..%2Fetc/addons');
      expect(response.status).toBe(400);
      expect(response.body.errors.map((issue: { path: string }) => issue.path)).toEqual(['projectId']);
      expect(reached).toEqual([]);
    });
  });
});

describe('the local file secret store', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'addons-secrets-'));
    await mkdir(join(root, 'data', 'secrets'), { recursive: true });
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it.each([
    { projectId: '../..', addonId: 'adn-1' },
    { projectId: 'proj-a', addonId: '../../escaped' },
  ])('refuses ids that would leave its directory, and writes nothing: %j', async (ref) => {
    const store = new FileSecretStore(join(root, 'data', 'secrets'));
    const secret = {
      engine: 'postgresql' as const,
      host: '',
      port: 0,
      database: 'd',
      username: 'u',
      password: 'p',
      uri: '',
      tls: false,
    };
    await expect(store.put(ref, secret)).rejects.toBeInstanceOf(ValidationError);
    await expect(store.get(ref)).rejects.toBeInstanceOf(ValidationError);
    expect(await readdir(root)).toEqual(['data']);
    expect(await readdir(join(root, 'data', 'secrets'))).toEqual([]);
    expect(existsSync(join(root, 'escaped.json'))).toBe(false);
  });
});

describe('Idempotency-Key scope', () => {
  let env: Awaited<ReturnType<typeof startTestStore>>;
  let idempotent: ReturnType<typeof createHttpHandler<typeof routes>>;
  let served = 0;
  beforeAll(async () => {
    env = await startTestStore();
    idempotent = createHttpHandler(
      routes,
      {
        createBackup: async ({ params }) => ({ status: 202, body: { addonId: params.addonId, n: ++served } }),
        restoreBackup: async ({ params }) => ({
          status: 202,
          body: { backupId: params.backupId, n: ++served },
        }),
      },
      { logger, idempotency: dynamoDbIdempotency({ client: env.dynamoClient, tableName: TEST_TABLE }) },
    );
  });
  afterAll(() => env.stop());

  const post = (
    route: typeof routes.createBackup | typeof routes.restoreBackup,
    ids: Record<string, string>,
  ) =>
    idempotent(
      apiEvent(route, {
        pathParameters: { projectId: 'proj-idem', ...ids },
        body: route === routes.createBackup ? { type: 'dump' } : undefined,
        headers: { 'idempotency-key': 'same-key' },
      }),
      context(),
    ).then(json);

  it('replays the same key on the same path, and runs it again on another addon or backup', async () => {
    const first = await post(routes.createBackup, { addonId: 'adn-first' });
    const replay = await post(routes.createBackup, { addonId: 'adn-first' });
    const otherAddon = await post(routes.createBackup, { addonId: 'adn-second' });
    const restoreOne = await post(routes.restoreBackup, { addonId: 'adn-first', backupId: 'bkp-one' });
    const restoreTwo = await post(routes.restoreBackup, { addonId: 'adn-first', backupId: 'bkp-two' });

    expect(replay).toEqual(first);
    expect(otherAddon).toEqual({ addonId: 'adn-second', n: first.n + 1 });
    expect(restoreOne).toEqual({ backupId: 'bkp-one', n: first.n + 2 });
    expect(restoreTwo).toEqual({ backupId: 'bkp-two', n: first.n + 3 });
  });
});
