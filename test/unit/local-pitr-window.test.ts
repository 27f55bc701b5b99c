import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ArchiveWindow, InstanceRecord, PitrDriver } from '#infra/local/engines/driver.ts';
import type { EngineDrivers } from '#infra/local/engines/engine-drivers.ts';
import type { InstanceFiles } from '#infra/local/engines/instance-files.ts';
import { PointInTimeRecovery } from '#infra/local/engines/point-in-time.ts';

const ID = 'addon-windowcache';
const archived = (latest: string): ArchiveWindow => ({
  generation: 'g1',
  earliest: '2026-12-01T10:00:00Z',
  latest,
  parts: [{ generation: 'g1', earliest: '2026-12-01T10:00:00Z', latest }],
});

/** A point-in-time recovery over one ready instance whose archive says `latest` (changeable). */
const setup = () => {
  let latest = '2026-12-01T11:00:00Z';
  const pitr = {
    generationOf: vi.fn(async () => 'g1'),
    window: vi.fn(async () => archived(latest)),
  };
  const record = { engine: 'postgresql', state: 'ready' } as unknown as InstanceRecord;
  const recovery = new PointInTimeRecovery({
    files: { readRecord: async () => record, context: () => ({}) } as unknown as InstanceFiles,
    drivers: { driverFor: () => ({ pitr: pitr as unknown as PitrDriver }) } as unknown as EngineDrivers,
    servers: {} as never,
    locks: {} as never,
    restores: { restore: async () => undefined } as never,
    log: () => undefined,
    shutdownSignal: () => new AbortController().signal,
  });
  return { recovery, pitr, archiveMoves: (to: string) => (latest = to) };
};

afterEach(() => {
  vi.useRealTimers();
});

describe('the local restorable window', () => {
  it('answers the GETs of a few seconds from one reading of the archive, concurrent ones included', async () => {
    vi.useFakeTimers();
    const { recovery, pitr, archiveMoves } = setup();
    const [first, second] = await Promise.all([recovery.window(ID), recovery.window(ID)]);
    expect(first).toEqual({
      earliestRestorableTime: '2026-12-01T10:00:00Z',
      latestRestorableTime: '2026-12-01T11:00:00Z',
    });
    expect(second).toEqual(first);
    archiveMoves('2026-12-01T11:05:00Z');
    vi.advanceTimersByTime(4_000);
    await expect(recovery.window(ID)).resolves.toEqual(first);
    expect(pitr.window).toHaveBeenCalledTimes(1);

    // Past the 5 s, the archive is read again: the window read before answers meanwhile, then the
    // window has moved.
    vi.advanceTimersByTime(1_500);
    await expect(recovery.window(ID)).resolves.toEqual(first);
    expect(pitr.window).toHaveBeenCalledTimes(2);
    await vi.waitFor(() =>
      expect(recovery.window(ID)).resolves.toMatchObject({ latestRestorableTime: '2026-12-01T11:05:00Z' }),
    );
    expect(pitr.window).toHaveBeenCalledTimes(2);
  });

  it('does not hold a GET while a slow reading runs, nor after it failed', async () => {
    vi.useFakeTimers();
    const { recovery, pitr } = setup();
    const first = await recovery.window(ID);
    let finish: (window: ArchiveWindow) => void = () => undefined;
    pitr.window.mockImplementationOnce(() => new Promise((resolve) => (finish = resolve)));
    vi.advanceTimersByTime(6_000);
    // The reading hangs (a loaded S3): every caller meanwhile gets the last window at once.
    await expect(recovery.window(ID)).resolves.toEqual(first);
    await expect(recovery.window(ID)).resolves.toEqual(first);
    expect(pitr.window).toHaveBeenCalledTimes(2);
    finish(archived('2026-12-01T11:10:00Z'));
    await vi.waitFor(() =>
      expect(recovery.window(ID)).resolves.toMatchObject({ latestRestorableTime: '2026-12-01T11:10:00Z' }),
    );

    pitr.window.mockRejectedValueOnce(new Error('s3 unreachable'));
    vi.advanceTimersByTime(6_000);
    const last = await recovery.window(ID);
    expect(last).toMatchObject({ latestRestorableTime: '2026-12-01T11:10:00Z' });
    // The failed reading is not kept: the next caller reads again, the last window answering.
    await vi.waitFor(async () => {
      await expect(recovery.window(ID)).resolves.toEqual(last);
      expect(pitr.window).toHaveBeenCalledTimes(4);
    });
  });

  it('reads the archive again after a restore of the instance, and after a failed reading', async () => {
    const { recovery, pitr, archiveMoves } = setup();
    await recovery.window(ID);
    archiveMoves('2026-12-01T12:00:00Z');
    await recovery.restore(ID, ID, '2026-12-01T10:30:00Z', 'op-1');
    await expect(recovery.window(ID)).resolves.toMatchObject({
      latestRestorableTime: '2026-12-01T12:00:00Z',
    });

    pitr.window.mockRejectedValueOnce(new Error('s3 unreachable'));
    archiveMoves('2026-12-01T12:30:00Z');
    await recovery.restore(ID, ID, '2026-12-01T10:30:00Z', 'op-2');
    await expect(recovery.window(ID)).rejects.toThrow('s3 unreachable');
    await expect(recovery.window(ID)).resolves.toMatchObject({
      latestRestorableTime: '2026-12-01T12:30:00Z',
    });
  });
});
