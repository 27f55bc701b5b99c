import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOperationsHandler } from '#functions/api/operations.ts';
import { routes } from '#shared/api/routes.ts';
import { Reconciler } from '#shared/services/reconciler.ts';
import { deadlinesFrom } from '#shared/services/reconciler-policy.ts';
import { operationEvents } from '#shared/store/event-store.ts';
import { newId } from '#shared/util/ids.ts';
import { testCursors } from '../support/cursors.ts';
import { startTestStore } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { operation } from '../support/fixtures.ts';

let env: Awaited<ReturnType<typeof startTestStore>>;

beforeAll(async () => {
  env = await startTestStore();
});
afterAll(async () => env.stop());

const feed = async (projectId: string, query: Record<string, string | number> = {}) =>
  (await env.store.events.list(projectId, { limit: 100, ...query })).items;

describe('the events feed', () => {
  it("records an operation's creation and its end, in order, with the operation's id", async () => {
    // Prepare
    const project = 'ev-life';
    const op = operation({
      projectId: project,
      addonId: newId('adn'),
      type: 'backup',
      backupId: newId('bkp'),
    });

    // Act
    await env.store.putOperation(op);
    await env.store.updateOperation(project, op.id, { status: 'in-progress' });
    const ended = await env.store.updateOperation(project, op.id, { status: 'completed' });

    // Assess
    const events = await feed(project);
    expect(events.map((event) => [event.type, event.operation?.id])).toEqual([
      ['operation.created', op.id],
      ['operation.completed', op.id],
    ]);
    expect(events[1]).toMatchObject({
      id: `${op.id}.completed`,
      occurredAt: ended.completedAt,
      addonId: op.addonId,
      operation: { type: 'backup', status: 'completed', backupId: op.backupId },
    });
  });

  it('records a failure with its reason, and a second end of the same operation adds nothing', async () => {
    const project = 'ev-fail';
    const op = operation({ projectId: project, addonId: newId('adn') });
    await env.store.putOperation(op);
    const error = { code: 'BackupFailed', message: 'pg_dump is not installed' };

    await env.store.updateOperation(project, op.id, { status: 'failed', error });
    await env.store.updateOperation(project, op.id, { status: 'failed', error });
    await env.store.publishEvents(await env.store.getOperation(project, op.id));

    const events = await feed(project);
    expect(events.map((event) => event.type)).toEqual(['operation.created', 'operation.failed']);
    expect(events[1]?.operation?.error).toEqual(error);
  });

  it('filters by addon and type, pages oldest first with a cursor, and starts at `since`', async () => {
    const project = 'ev-filter';
    const [a, b] = [newId('adn'), newId('adn')];
    const ops = [];
    for (const addonId of [a, b, a]) {
      const op = operation({
        projectId: project,
        addonId,
        createdAt: new Date(Date.now() + ops.length).toISOString(),
      });
      await env.store.putOperation(op);
      ops.push(op);
    }

    const ofA = await feed(project, { addonId: a });
    const first = await env.store.events.list(project, { limit: 2 });
    const rest = await env.store.events.list(project, { limit: 2, cursor: first.nextCursor ?? undefined });
    const since = await feed(project, { since: ops[1]?.createdAt ?? '' });

    expect(ofA.map((event) => event.operation?.id)).toEqual([ops[0]?.id, ops[2]?.id]);
    expect(await feed(project, { type: 'operation.completed' })).toEqual([]);
    expect([...first.items, ...rest.items].map((event) => event.operation?.id)).toEqual(
      ops.map((op) => op.id),
    );
    expect(since.map((event) => event.operation?.id)).toEqual([ops[1]?.id, ops[2]?.id]);

    // Newest first: the same feed backwards, its cursor paging on to older events.
    const newest = await env.store.events.list(project, { limit: 2, order: 'newest' });
    const older = await env.store.events.list(project, {
      limit: 2,
      order: 'newest',
      cursor: newest.nextCursor ?? undefined,
    });
    expect([...newest.items, ...older.items].map((event) => event.operation?.id)).toEqual(
      ops.map((op) => op.id).reverse(),
    );
  });

  it('leaves out expired events and the local sweep deletes them', async () => {
    const project = 'ev-expiry';
    const old = operation({
      projectId: project,
      addonId: newId('adn'),
      createdAt: '2020-01-01T00:00:00.000Z',
    });
    await env.store.events.appendOperationEvents(old);

    expect(await feed(project)).toEqual([]);
    expect(await env.store.events.sweepExpired()).toBeGreaterThanOrEqual(1);
    expect(await env.store.events.append(operationEvents(old)[0] as never)).toBe(true);
  });

  it('the reconciler writes the events an ended operation lost to a crash, once', async () => {
    // Prepare: the operation ended, and its writer died before the events were written.
    const project = 'ev-crash';
    const op = operation({ projectId: project, addonId: newId('adn'), type: 'backup' });
    await env.store.putOperation(op);
    const events = env.store.events;
    const append = events.append.bind(events);
    events.append = async () => {
      throw new Error('the process died here');
    };
    await expect(env.store.updateOperation(project, op.id, { status: 'completed' })).rejects.toThrow(/died/);
    events.append = append;
    // The created event was lost too: take it out of the feed, as if putOperation had crashed.
    await env.store.events.sweepExpired(new Date(Date.now() + 400 * 86_400_000));
    const reconciler = new Reconciler({
      store: env.store,
      backups: env.backups,
      executions: {
        describe: async () => ({ status: 'absent' }),
        start: async () => undefined,
        stop: async () => undefined,
      },
      sources: [],
      settings: { deadlinesMs: deadlinesFrom('local'), startGraceMs: 0, leftoverMinAgeMs: 0 },
    });

    // Act
    const first = await reconciler.run({ leftovers: false });
    const second = await reconciler.run({ leftovers: false });

    // Assess
    expect(first.events.republished).toContain(op.id);
    expect(second.events.republished).not.toContain(op.id);
    expect((await feed(project)).map((event) => event.id)).toEqual([
      `${op.id}.created`,
      `${op.id}.completed`,
    ]);
    const item = await env.store.findOperation(project, op.id);
    expect(item?.status).toBe('completed');
  });

  it('takes an aborted operation out of the unpublished index once its events are written', async () => {
    const project = 'ev-item';
    const op = operation({ projectId: project, addonId: newId('adn') });
    await env.store.putOperation(op);
    await env.store.updateOperation(project, op.id, { status: 'aborted' });
    const raw = await env.store.listUnpublishedOperations();
    expect(raw.map((listed) => listed.id)).not.toContain(op.id);
    // A late progress write cannot bring it back to life, nor into the unpublished index.
    await expect(
      env.store.updateOperation(project, op.id, { progress: { step: 'late', percent: 50 } }),
    ).rejects.toThrow(/already aborted/);
  });

  it('serves the feed over the API, and answers bad filters with a 400 naming the field', async () => {
    const handler = createOperationsHandler({
      logger: new Logger({ logLevel: 'SILENT' }),
      store: env.store,
      cursors: testCursors(),
    });
    const op = operation({ projectId: 'ev-api', addonId: newId('adn') });
    await env.store.putOperation(op);
    const get = (query: Record<string, string>) =>
      handler(apiEvent(routes.listEvents, { pathParameters: { projectId: 'ev-api' }, query }), context());

    const ok = await get({ addonId: op.addonId });
    expect(ok.statusCode).toBe(200);
    expect(json(ok).items.map((event: { id: string }) => event.id)).toEqual([`${op.id}.created`]);
    for (const [field, value] of [
      ['type', 'operation.exploded'],
      ['since', 'yesterday'],
      ['addonId', '../x'],
      ['limit', '1000'],
      ['order', 'sideways'],
    ]) {
      const bad = await get({ [field as string]: value as string });
      expect(bad.statusCode).toBe(400);
      expect(json(bad).errors.map((issue: { path: string }) => issue.path)).toContain(field);
    }
  });
});
