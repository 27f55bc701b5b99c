import { afterEach, describe, expect, it, vi } from 'vitest';
import { LastReadings } from '#infra/local/engines/last-readings.ts';

/** A reading that ends when the test says so. */
const pending = () => {
  let finish: (value: number) => void = () => undefined;
  const promise = new Promise<number>((resolve) => (finish = resolve));
  return { promise, finish };
};

afterEach(() => {
  vi.useRealTimers();
});

describe('LastReadings (the storage use and the restorable window a GET shows)', () => {
  it('waits for a fresh reading (the storage guard) while other callers get the last value', async () => {
    vi.useFakeTimers();
    const readings = new LastReadings<number>(10_000);
    await expect(readings.get('i', async () => 1)).resolves.toBe(1);
    const walk = pending();
    const fresh = readings.get('i', () => walk.promise, { fresh: true });
    // A GET meanwhile is not held by the walk.
    await expect(readings.get('i', async () => 99)).resolves.toBe(1);
    walk.finish(2);
    await expect(fresh).resolves.toBe(2);
    await expect(readings.get('i', async () => 99)).resolves.toBe(2);
  });

  it('waits for a new reading when what the value was read from changed (its tag), or after forget', async () => {
    const readings = new LastReadings<number>(10_000);
    await readings.get('i', async () => 1, { tag: '/data' });
    await expect(readings.get('i', async () => 2, { tag: '/data-restored' })).resolves.toBe(2);
    readings.forget('i');
    await expect(readings.get('i', async () => 3, { tag: '/data-restored' })).resolves.toBe(3);
  });

  it('reads again at the next call after expire, the last value answering meanwhile', async () => {
    const readings = new LastReadings<number>(10_000);
    await readings.get('i', async () => 1);
    readings.expire('i');
    const read = vi.fn(async () => 2);
    await expect(readings.get('i', read)).resolves.toBe(1);
    expect(read).toHaveBeenCalledTimes(1);
    await vi.waitFor(() => expect(readings.get('i', read)).resolves.toBe(2));
    expect(read).toHaveBeenCalledTimes(1);
  });

  it('keeps no failed first reading: the caller sees the error, the next one reads again', async () => {
    const readings = new LastReadings<number>(10_000);
    await expect(readings.get('i', async () => Promise.reject(new Error('gone')))).rejects.toThrow('gone');
    await expect(readings.get('i', async () => 4)).resolves.toBe(4);
  });
});
