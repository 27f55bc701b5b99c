import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DURATIONS_FILE } from '../test/sequencer.ts';

/**
 * Writes test/durations.json (what test/sequencer.ts orders files by) from vitest's results cache
 * after a full `vitest run`: milliseconds per `project:file`, rounded, sorted longest first. Files
 * the cache does not know keep their previous figure.
 */
const cacheRoot = path.resolve(import.meta.dirname, '..', 'node_modules', '.vite', 'vitest');
const measured: Record<string, number> = {};
for (const dir of readdirSync(cacheRoot)) {
  const file = path.join(cacheRoot, dir, 'results.json');
  const { results } = JSON.parse(readFileSync(file, 'utf8')) as {
    results: Array<[string, { duration?: number }]>;
  };
  for (const [key, { duration }] of results) if (duration) measured[key] = Math.round(duration);
}
let previous: Record<string, number> = {};
try {
  previous = JSON.parse(readFileSync(DURATIONS_FILE, 'utf8'));
} catch {
  // first run: nothing to keep
}
const merged = Object.entries({ ...previous, ...measured }).sort(([, a], [, b]) => b - a);
writeFileSync(DURATIONS_FILE, `${JSON.stringify(Object.fromEntries(merged), null, 2)}\n`);
console.info(`${merged.length} files in ${path.relative(process.cwd(), DURATIONS_FILE)}`);
