/**
 * Times every AWS SDK call this process makes (the platform's own calls to dynalite and s3rver
 * when the bench runs the platform in-process): where a slow read spent its time. Patches the
 * shared `send` of the SDK's clients, so import it before the platform starts.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';

type Send = (
  this: { constructor: { name: string } },
  command: object,
  ...rest: unknown[]
) => Promise<unknown>;

const calls: Array<{ ms: number; what: string }> = [];

for (const client of [DynamoDBClient, S3Client]) {
  let proto: { send?: Send } | null = client.prototype as unknown as { send?: Send };
  while (proto && !Object.hasOwn(proto, 'send')) proto = Object.getPrototypeOf(proto);
  const original = proto?.send;
  if (!proto || !original || (original as { timed?: boolean }).timed) continue;
  const timed: Send = function (command, ...rest) {
    const started = performance.now();
    const done = () =>
      calls.push({
        ms: performance.now() - started,
        what: `${this.constructor.name} ${command.constructor.name}`,
      });
    const result = original.call(this, command, ...rest);
    result.then(done, done);
    return result;
  };
  Object.assign(timed, { timed: true });
  proto.send = timed;
}

/** From now on, calls count afresh. */
export const resetSdkCalls = () => {
  calls.length = 0;
};

/** Per client and command: count, p50, p99 and the slowest, the slowest commands first. */
export const sdkCallSummary = (top = 8): string[] => {
  const by = new Map<string, number[]>();
  for (const { ms, what } of calls) by.set(what, [...(by.get(what) ?? []), ms]);
  return [...by.entries()]
    .map(([what, times]) => ({ what, times: times.sort((a, b) => a - b) }))
    .sort((a, b) => (b.times.at(-1) ?? 0) - (a.times.at(-1) ?? 0))
    .slice(0, top)
    .map(({ what, times }) => {
      const at = (p: number) =>
        (times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? 0).toFixed(1);
      return `${what}: ${times.length} calls, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${(times.at(-1) ?? 0).toFixed(1)} ms`;
    });
};
