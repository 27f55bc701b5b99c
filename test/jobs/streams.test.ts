import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { Sha256Counter, TailGate } from '#shared/jobs/streams.ts';

const chunks = (count: number, size: number) =>
  Array.from({ length: count }, (_, index) => Buffer.alloc(size, index % 251));

const collector = () => {
  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk);
      callback();
    },
  });
  return { sink, bytes: () => Buffer.concat(received) };
};

describe('Sha256Counter', () => {
  it('passes the bytes through while counting and hashing them', async () => {
    const input = chunks(10, 1000);
    const counter = new Sha256Counter();
    const { sink, bytes } = collector();

    await pipeline(Readable.from(input), counter, sink);

    const all = Buffer.concat(input);
    expect(bytes()).toEqual(all);
    expect(counter.bytes).toBe(10_000);
    expect(counter.sha256).toBe(createHash('sha256').update(all).digest('hex'));
  });

  it('fails the stream when the end check throws, knowing the digest', async () => {
    let seen: string | undefined;
    const counter = new Sha256Counter({
      beforeEnd: async (self) => {
        seen = self.sha256;
        throw new Error('mismatch');
      },
    });

    await expect(pipeline(Readable.from(chunks(2, 10)), counter, collector().sink)).rejects.toThrow(
      'mismatch',
    );
    expect(seen).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('TailGate', () => {
  it('holds back at least the last holdBytes until released', async () => {
    const { sink, bytes } = collector();
    let passedBeforeRelease = -1;
    const gate = new TailGate(2500, async (tail) => {
      passedBeforeRelease = bytes().length;
      expect(tail.length).toBeGreaterThanOrEqual(2500);
    });

    await pipeline(Readable.from(chunks(10, 1000)), gate, sink);

    expect(passedBeforeRelease).toBeLessThanOrEqual(10_000 - 2500);
    expect(bytes()).toEqual(Buffer.concat(chunks(10, 1000)));
  });

  it('never passes the held tail on when the release is refused', async () => {
    const { sink, bytes } = collector();
    const gate = new TailGate(2500, async () => {
      throw new Error('checksum mismatch');
    });

    await expect(pipeline(Readable.from(chunks(10, 1000)), gate, sink)).rejects.toThrow('checksum mismatch');
    expect(bytes().length).toBeLessThanOrEqual(10_000 - 2500);
  });
});
