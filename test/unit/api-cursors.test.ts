import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddonsHandler } from '#functions/api/addons.ts';
import { createOperationsHandler } from '#functions/api/operations.ts';
import { fileCursorKey } from '#infra/local/cursor-key.ts';
import { CursorSigner } from '#shared/api/cursors.ts';
import { createHttpHandler } from '#shared/api/http-handler.ts';
import { routes } from '#shared/api/routes.ts';
import { ServiceUnavailableError, ValidationError } from '#shared/errors.ts';
import type { WorkflowStarter } from '#shared/ports/workflow-starter.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { testCursors } from '../support/cursors.ts';
import { startTestStore } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';

const logger = new Logger({ logLevel: 'SILENT' });
const binding = { listing: 'listAddons', params: { projectId: 'proj-a' } };

/** Change the character at `index` into another base64url character. */
const flip = (text: string, index: number) =>
  `${text.slice(0, index)}${text[index] === 'A' ? 'B' : 'A'}${text.slice(index + 1)}`;

const rejectsNamingCursor = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ValidationError);
  expect((error as ValidationError).issues.map((issue) => issue.path)).toEqual(['cursor']);
};

describe('CursorSigner', () => {
  const signer = testCursors();
  const inner = Buffer.from(JSON.stringify({ pk: 'PROJECT#proj-a', sk: 'ADDON#adn-1' })).toString(
    'base64url',
  );

  it('opens what it sealed for the same listing, and the result is short base64url', async () => {
    const sealed = await signer.seal(inner, binding);
    expect(sealed).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(await signer.open(sealed, binding)).toBe(inner);
  });

  it('refuses a cursor changed in any single character', async () => {
    const sealed = await signer.seal(inner, binding);
    for (let index = 0; index < sealed.length; index++) {
      if (sealed[index] === '.') continue;
      await rejectsNamingCursor(signer.open(flip(sealed, index), binding));
    }
  });

  it.each([
    ['another project', { listing: 'listAddons', params: { projectId: 'proj-b' } }],
    ['another listing', { listing: 'listBackups', params: { projectId: 'proj-a' } }],
    ['another addon', { listing: 'listBackups', params: { projectId: 'proj-a', addonId: 'adn-2' } }],
  ])('refuses a cursor sealed for %s', async (_case, other) => {
    const sealed = await signer.seal(inner, binding);
    await rejectsNamingCursor(signer.open(sealed, other));
  });

  it.each(['', '.', 'abc', `${inner}.`, `.${'A'.repeat(43)}`, 'not a cursor at all'])(
    'refuses the malformed cursor %j',
    async (cursor) => {
      await rejectsNamingCursor(signer.open(cursor, binding));
    },
  );

  it('refuses a cursor sealed with another key (another data directory or stack)', async () => {
    const sealed = await testCursors().seal(inner, binding);
    await rejectsNamingCursor(signer.open(sealed, binding));
  });

  it('reads its key once, and again only after a failed read', async () => {
    let reads = 0;
    let fail = true;
    const key = randomBytes(32);
    const flaky = new CursorSigner(async () => {
      reads++;
      if (fail) throw new Error('AccessDeniedException');
      return key;
    });
    await expect(flaky.seal(inner, binding)).rejects.toBeInstanceOf(ServiceUnavailableError);
    fail = false;
    await flaky.seal(inner, binding);
    await flaky.seal(inner, binding);
    expect(reads).toBe(2);
  });
});

describe('the local cursor key', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'addons-cursor-key-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is generated once into the data directory, readable by the platform user only', async () => {
    const first = await fileCursorKey(dir)();
    const again = await fileCursorKey(dir)();
    expect(first).toHaveLength(32);
    expect(again.equals(first)).toBe(true);
    expect((await stat(join(dir, 'cursor-key'))).mode & 0o777).toBe(0o600);
  });
});

describe('paginated routes', () => {
  let env: Awaited<ReturnType<typeof startTestStore>>;
  let addons: ReturnType<typeof createAddonsHandler>;
  let operations: ReturnType<typeof createOperationsHandler>;
  const starter: WorkflowStarter = { start: async () => undefined, stop: async () => undefined };

  beforeAll(async () => {
    env = await startTestStore();
    const cursors = testCursors();
    addons = createAddonsHandler({
      logger,
      service: new AddonService({ store: env.store, workflows: starter, target: 'local' }),
      cursors,
    });
    operations = createOperationsHandler({ logger, store: env.store, cursors });
    for (const projectId of ['proj-a', 'proj-b']) {
      for (const name of ['one', 'two']) {
        const response = await addons(
          apiEvent(routes.createAddon, {
            pathParameters: { projectId },
            body: { name, engine: 'postgresql' },
          }),
          context(),
        );
        expect(response.statusCode).toBe(202);
      }
    }
  });
  afterAll(() => env.stop());

  const listAddons = (projectId: string, cursor?: string) =>
    addons(
      apiEvent(routes.listAddons, {
        pathParameters: { projectId },
        query: { limit: '1', ...(cursor ? { cursor } : {}) },
      }),
      context(),
    );

  it('hand out signed cursors that page through the same listing', async () => {
    const first = json(await listAddons('proj-a'));
    expect(first.nextCursor).toMatch(/\./);
    const second = await listAddons('proj-a', first.nextCursor);
    expect(second.statusCode).toBe(200);
    expect(json(second).items[0].name).not.toBe(first.items[0].name);
  });

  it('refuse a cursor from project A in project B with a 400 naming cursor', async () => {
    const first = json(await listAddons('proj-a'));
    const response = await listAddons('proj-b', first.nextCursor);
    expect(response.statusCode).toBe(400);
    expect(json(response).errors).toEqual([
      { path: 'cursor', message: 'is not a cursor returned by this list' },
    ]);
  });

  it("refuse another listing's cursor with a 400 naming cursor", async () => {
    const page = json(await listAddons('proj-a'));
    const addonId = page.items[0].id as string;
    const response = await operations(
      apiEvent(routes.listAddonOperations, {
        pathParameters: { projectId: 'proj-a', addonId },
        query: { cursor: page.nextCursor },
      }),
      context(),
    );
    expect(response.statusCode).toBe(400);
    expect(json(response).errors.map((issue: { path: string }) => issue.path)).toEqual(['cursor']);
  });

  it('refuse an unsigned store cursor', async () => {
    const unsigned = Buffer.from(JSON.stringify({ pk: 'PROJECT#proj-a', sk: 'ADDON#adn-0' })).toString(
      'base64url',
    );
    const response = await listAddons('proj-a', unsigned);
    expect(response.statusCode).toBe(400);
    expect(json(response).errors[0].path).toBe('cursor');
  });

  it('cannot be served without a signer', () => {
    expect(() =>
      createHttpHandler(routes, { listAddons: async () => ({ status: 200, body: {} }) }, { logger }),
    ).toThrow(/cursor signer/);
  });
});
