import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench`: every test/bench/*.bench.ts in its own process, one after another, so one
 * benchmark's memory or child processes cannot skew the next. Each prints its own ratios
 * against a baseline measured in the same run. `npm run bench -- NAME` runs the matching ones.
 */
const dir = fileURLToPath(new URL('.', import.meta.url));
const filter = process.argv[2];
const benches = readdirSync(dir)
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => !filter || file.includes(filter))
  .sort();
let failed = 0;
for (const bench of benches) {
  console.info(`\n=== ${bench} ===`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${bench}`], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
if (failed) {
  console.error(`${failed} benchmark(s) failed`);
  process.exit(1);
}
