import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '#shared/errors.ts';
import type { AddonStore } from '#shared/store/addon-store.ts';
import { startTestStore } from '../support/dynamo.ts';
import { addonRecord, operation } from '../support/fixtures.ts';

let env: Awaited<ReturnType<typeof startTestStore>>;
let store: AddonStore;

beforeAll(async () => {
  env = await startTestStore();
  store = env.store;
});
afterAll(async () => env.stop());

const created = async (name: string, projectId = 'proj-a') => {
  const addon = addonRecord({ name, projectId });
  const op = operation({ addonId: addon.id, projectId });
  await store.createAddon({ ...addon, currentOperationId: op.id }, op);
  return { addon: { ...addon, currentOperationId: op.id }, op };
};

describe('AddonStore', () => {
  it('creates an addon with its operation and reads both back', async () => {
    const { addon, op } = await created('alpha');
    expect(await store.getAddon('proj-a', addon.id)).toEqual(addon);
    expect(await store.getOperation('proj-a', op.id)).toEqual(op);
  });

  it('refuses a second addon with the same name in a project, but allows it in another project', async () => {
    await created('dup');
    await expect(created('dup')).rejects.toBeInstanceOf(ConflictError);
    await expect(created('dup', 'proj-b')).resolves.toBeDefined();
  });

  it('takes over a name claim whose addon was never written (a crash between the two writes)', async () => {
    const orphan = addonRecord({ name: 'orphaned' });
    const { PutCommand } = await import('@aws-sdk/lib-dynamodb');
    await (store as unknown as { client: { send: (c: unknown) => Promise<unknown> } }).client.send(
      new PutCommand({
        TableName: 'addons-test',
        Item: { pk: 'PROJECT#proj-a', sk: 'ADDONNAME#orphaned', addonId: orphan.id },
      }),
    );
    await expect(created('orphaned')).resolves.toBeDefined();
  });

  it("hides another project's addon", async () => {
    const { addon } = await created('private', 'proj-c');
    await expect(store.getAddon('proj-a', addon.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('allows one mutating operation at a time and names the one in flight', async () => {
    const { addon, op } = await created('locked');
    const second = operation({ addonId: addon.id, type: 'delete' });
    const error = await store.beginOperation(addon, second, 'deleting').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).details.operationId).toBe(op.id);
  });

  it('releases the lock and lets the next operation in', async () => {
    const { addon, op } = await created('released');
    await store.updateAddonForOperation(addon, op.id, { status: 'running' }, { release: true });
    const fresh = await store.getAddon('proj-a', addon.id);
    expect(fresh.currentOperationId).toBeNull();
    expect(fresh.revision).toBe(addon.revision + 1);
    const next = operation({ addonId: addon.id, type: 'delete' });
    const updated = await store.beginOperation(fresh, next, 'deleting');
    expect(updated.currentOperationId).toBe(next.id);
  });

  it('rejects a write based on a stale revision (optimistic locking)', async () => {
    const { addon, op } = await created('stale');
    await store.updateAddonForOperation(addon, op.id, { status: 'running' }, { release: true });
    const stale = { ...addon, currentOperationId: null };
    await expect(store.beginOperation(stale, operation({ addonId: addon.id }), 'deleting')).rejects.toThrow(
      /changed/,
    );
  });

  it('keeps terminal operations terminal', async () => {
    const { op } = await created('terminal');
    await store.updateOperation('proj-a', op.id, { status: 'failed', error: { code: 'X', message: 'boom' } });
    await expect(store.updateOperation('proj-a', op.id, { status: 'in-progress' })).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect((await store.getOperation('proj-a', op.id)).status).toBe('failed');
  });

  it('lists active operations only until they end', async () => {
    const { op } = await created('active');
    expect((await store.listActiveOperations()).map((o) => o.id)).toContain(op.id);
    await store.updateOperation('proj-a', op.id, { status: 'completed' });
    expect((await store.listActiveOperations()).map((o) => o.id)).not.toContain(op.id);
  });

  it('paginates addons with an opaque cursor and rejects a forged one', async () => {
    for (const name of ['page-1', 'page-2', 'page-3']) await created(name, 'proj-pages');
    const first = await store.listAddons('proj-pages', { limit: 2 });
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).toBeTypeOf('string');
    const second = await store.listAddons('proj-pages', { limit: 2, cursor: first.nextCursor ?? undefined });
    expect(second.items.map((a) => a.name)).toEqual(['page-3']);
    await expect(store.listAddons('proj-pages', { limit: 2, cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    // A cursor from another project's list cannot be replayed here.
    await expect(
      store.listAddons('proj-a', { limit: 2, cursor: first.nextCursor ?? undefined }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it('deletes an addon and frees its name', async () => {
    const { addon, op } = await created('gone');
    await store.deleteAddon(addon, op.id);
    await expect(store.getAddon('proj-a', addon.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(created('gone')).resolves.toBeDefined();
  });
});
