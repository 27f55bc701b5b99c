import { describe, expect, it } from 'vitest';
import type { EngineDriver, InstanceContext, InstanceRecord } from '#infra/local/engines/driver.ts';
import { isFull, StorageGuard } from '#infra/local/engines/storage-guard.ts';

/**
 * The local storage guard's decisions (engines/storage-guard.ts), with the engine and the disk
 * faked: full at the allocation, read-only once per server process, the record written before the
 * engine is set, lifted under 95 %, re-applied to a restarted server as the record says.
 */
const MIB = 1024 * 1024;

const record = (over: Partial<InstanceRecord> = {}): InstanceRecord => ({
  engine: 'postgresql',
  version: '15',
  host: '127.0.0.1',
  port: 5432,
  database: 'app',
  username: 'app',
  dataDir: 'data',
  storageGiB: 20,
  state: 'ready',
  createdAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

/** One instance, 1 MiB to the "GiB": 20 MiB allocated. */
const harness = (initial: InstanceRecord = record(), options: { setReadOnly?: boolean } = {}) => {
  const state = { record: initial, used: 0, pid: 100, busy: false };
  const calls: string[] = [];
  const driver = {
    engine: initial.engine,
    ...(options.setReadOnly === false
      ? {}
      : {
          setReadOnly: async (ctx: InstanceContext, readOnly: boolean) => {
            calls.push(
              `engine ${readOnly ? 'read-only' : 'writable'} (record full: ${ctx.record.storageFull === true})`,
            );
          },
        }),
  } as unknown as EngineDriver;
  const ctx = (): InstanceContext => ({
    resourceId: 'addon-a',
    dir: '/x',
    dataDir: '/x/data',
    socketDir: '/x/run',
    logFile: '/x/server.log',
    record: state.record,
    runAs: undefined,
  });
  const guard = new StorageGuard({
    serving: () => [{ ctx: ctx(), pid: state.pid }],
    underLock: async (_id, fn) => {
      if (state.busy) return false;
      await fn(driver, ctx());
      return true;
    },
    writeRecord: async (_id, next) => {
      calls.push(`record ${next.storageFull ? 'full' : 'writable'}`);
      state.record = next;
    },
    usedBytes: async () => state.used,
    gibBytes: MIB,
  });
  return { state, calls, guard };
};

describe('isFull', () => {
  it('is full at the allocation, and stays full until under 95 % of it', () => {
    expect(isFull(99, 100, false)).toBe(false);
    expect(isFull(100, 100, false)).toBe(true);
    expect(isFull(96, 100, true)).toBe(true);
    expect(isFull(95, 100, true)).toBe(true);
    expect(isFull(94, 100, true)).toBe(false);
  });
});

describe('StorageGuard', () => {
  it('makes a full instance read-only once (record first), not again on every pass', async () => {
    const { state, calls, guard } = harness();
    state.used = 10 * MIB;
    expect((await guard.check()).changes).toEqual([]);
    // The first pass over a server process sets it as the record says (writable).
    expect(calls).toEqual(['engine writable (record full: false)']);
    calls.length = 0;
    state.used = 20 * MIB;
    const pass = await guard.check();
    expect(pass.changes).toEqual([
      { resourceId: 'addon-a', readOnly: true, usedBytes: 20 * MIB, allocatedBytes: 20 * MIB },
    ]);
    expect(calls).toEqual(['record full', 'engine read-only (record full: true)']);
    expect(state.record.storageFull).toBe(true);
    calls.length = 0;
    state.used = 25 * MIB;
    expect((await guard.check()).changes).toEqual([]);
    expect((await guard.check()).changes).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('lifts only under 95 % (hysteresis), e.g. after the storage grew', async () => {
    const { state, calls, guard } = harness(record({ storageFull: true }));
    state.used = 20 * MIB;
    await guard.check();
    calls.length = 0;
    state.used = 19.5 * MIB; // 97.5 %: still full
    expect((await guard.check()).changes).toEqual([]);
    expect(calls).toEqual([]);
    state.record = { ...state.record, storageGiB: 40 }; // a storage growth (scaling.ts)
    const pass = await guard.check();
    expect(pass.changes).toMatchObject([{ readOnly: false, allocatedBytes: 40 * MIB }]);
    expect(calls).toEqual(['record writable', 'engine writable (record full: false)']);
    expect(state.record).not.toHaveProperty('storageFull');
  });

  it('sets a restarted server (a new process) as the record says, without changing the record', async () => {
    const { state, calls, guard } = harness(record({ storageFull: true }));
    state.used = 20 * MIB;
    await guard.check();
    expect(calls).toEqual(['engine read-only (record full: true)']);
    calls.length = 0;
    state.pid = 200; // a plan change, a crash, a platform restart
    expect((await guard.check()).changes).toEqual([]);
    expect(calls).toEqual(['engine read-only (record full: true)']);
  });

  it('leaves busy instances for the next pass, and engines without a storage size alone', async () => {
    const busy = harness();
    busy.state.busy = true;
    busy.state.used = 30 * MIB;
    expect(await busy.guard.check()).toEqual({ changes: [], errors: [] });
    expect(busy.calls).toEqual([]);
    const redis = harness(record({ engine: 'redis' }), { setReadOnly: false });
    redis.state.used = 30 * MIB;
    expect(await redis.guard.check()).toEqual({ changes: [], errors: [] });
    expect(redis.calls).toEqual([]);
  });

  it('takes the addon allocation when the record has none, and reports an engine that refuses', async () => {
    const { storageGiB: _, ...older } = record();
    const { state, calls, guard } = harness(older);
    state.used = 20 * MIB;
    expect((await guard.check()).changes).toEqual([]);
    expect(calls).toEqual([]);
    const pass = await guard.check(async () => 10);
    expect(pass.changes).toMatchObject([{ readOnly: true, allocatedBytes: 10 * MIB }]);

    const refused = new StorageGuard({
      serving: () => [{ ctx: { resourceId: 'addon-a' } as InstanceContext, pid: 1 }],
      underLock: () => Promise.reject(new Error('connection refused')),
      writeRecord: async () => undefined,
      usedBytes: async () => 0,
      gibBytes: MIB,
    });
    expect(await refused.check()).toEqual({
      changes: [],
      errors: [{ resourceId: 'addon-a', error: 'connection refused' }],
    });
  });
});
