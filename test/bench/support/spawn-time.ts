import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { performance } from 'node:perf_hooks';

/**
 * How long this process's event loop stood still in `spawn()`: it returns only once the child
 * has exec'd (libuv waits for the exec to report a failure), so on a loaded machine each spawn
 * holds the caller for as long as the new child waits for a CPU, besides the fork itself. Import
 * it before the platform: every `spawn` of the process (ES modules included) is then timed.
 */
const samples: Array<{ ms: number; command: string }> = [];
const original = childProcess.spawn;
childProcess.spawn = ((...args: Parameters<typeof original>) => {
  const started = performance.now();
  try {
    return original(...args);
  } finally {
    samples.push({ ms: performance.now() - started, command: String(args[0]).split('/').pop() ?? '' });
  }
}) as typeof original;
syncBuiltinESMExports();

export const resetSpawnTimes = () => {
  samples.length = 0;
};

/** `n spawns held the event loop x ms in all (p50, max), by command`. */
export const spawnTimeSummary = (): string => {
  if (samples.length === 0) return 'no spawns';
  const sorted = samples.map((sample) => sample.ms).sort((a, b) => a - b);
  const total = sorted.reduce((sum, value) => sum + value, 0);
  const byCommand = new Map<string, number>();
  for (const { command } of samples) byCommand.set(command, (byCommand.get(command) ?? 0) + 1);
  const p50 = sorted[Math.floor(sorted.length / 2)] ?? 0;
  return `${samples.length} spawns held the event loop ${total.toFixed(0)} ms in all (each p50 ${p50.toFixed(1)} ms, max ${(sorted.at(-1) ?? 0).toFixed(1)} ms): ${[...byCommand].map(([command, n]) => `${command} ${n}`).join(', ')}`;
};
