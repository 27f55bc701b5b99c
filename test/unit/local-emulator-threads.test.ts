import { mkdtemp, rm } from 'node:fs/promises';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmulatorThread } from '#infra/local/emulator-thread.ts';
import { BACKGROUND_NICENESS } from '#infra/local/priority.ts';
import { ensureBucket, startS3 } from '#infra/local/s3-emulator.ts';
import { threadNiceness } from '../support/processes.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** How many of this process's threads run at each nice value. */
const threadsByNice = () => {
  const counts = new Map<number, number>();
  for (const nice of threadNiceness(process.pid)) counts.set(nice, (counts.get(nice) ?? 0) + 1);
  return counts;
};

describe('the emulator threads', () => {
  it("run the S3 emulator below the platform's other threads, and dynalite at the platform's priority", async () => {
    const lowered = Math.min(19, getPriority() + BACKGROUND_NICENESS);
    const before = threadsByNice().get(lowered) ?? 0;
    const dir = await mkdtemp(join(tmpdir(), 'addons-emulator-threads-'));
    dirs.push(dir);
    const dynamo = await startEmulatorThread('dynamo', join(dir, 'dynamo'));
    try {
      expect(threadsByNice().get(lowered) ?? 0).toBe(before);
      const s3 = await startS3(dir);
      try {
        expect(threadsByNice().get(lowered) ?? 0).toBe(before + 1);
        // It serves as before.
        await ensureBucket(s3.client, 'lowered');
        await expect(s3.client.send(new ListBucketsCommand({}))).resolves.toMatchObject({
          Buckets: [expect.objectContaining({ Name: 'lowered' })],
        });
      } finally {
        await s3.stop();
      }
    } finally {
      await dynamo.stop();
    }
  }, 30_000);
});
