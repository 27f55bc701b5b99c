/**
 * Issue 13 benchmark: what each Lambda ships and what its cold start costs.
 * - Every function the stack deploys, read from the synthesized templates (each
 *   AWS::Lambda::Function and its asset): the stack is synthesized with bundling on, exactly as
 *   `cdk synth` does, with esbuild's metafile beside each bundle (`addons:bundleMetafile`).
 * - Size of each bundle (index.mjs, minified) against its budget (infra/aws/bundling.ts), and
 *   its largest packages and modules, so a regression shows where it came from.
 * - Cold start in fresh Node.js processes (median of BENCH_RUNS): the handler module imported
 *   (its init code) and its first request served (an API route of the function read from the
 *   template, or the worker's own event), every AWS call answered by a local endpoint. The
 *   query-protocol clients load from the "runtime" (the project's @aws-sdk packages stand in).
 * Both against a baseline bundle holding only middy and the Powertools logger, built by the
 * same construct in the same run. Goals: API bundles within 300 KB and a cold start within 1.5x
 * the baseline; workflow and schedule functions within 600 KB. BENCH_STRICT=1 fails the run on
 * a missed goal. The size budgets alone are asserted by test/infra/bundle-budgets.test.ts.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Stack } from 'aws-cdk-lib';
import { createAddonsApp } from '#infra/aws/addons-app.ts';
import { BUNDLE_METAFILE_CONTEXT, BUNDLE_SDK_CONTEXT, PROJECT_ROOT } from '#infra/aws/bundling.ts';
import { ProjectFunction } from '#infra/aws/constructs/project-function.ts';
import { CommonEnvSchema } from '#shared/config/env.ts';
import { startAwsEndpoint } from './support/aws-endpoint.ts';
import { type ColdStart, coldStart, runtimeNodePath } from './support/cold-start.ts';
import { contributors, type LambdaAsset, lambdaAssets } from './support/lambda-assets.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
/** `BENCH_SDK=runtime`: every bundle leaves the whole AWS SDK to the runtime (the comparison in docs/performance.md). */
const SDK_FROM_RUNTIME = process.env.BENCH_SDK === 'runtime';
const COLD_START_GOAL = 1.5;

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;

// --- build: synthesize with bundling, exactly as `cdk synth` / `cdk deploy` do -------------
const outdir = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
const cdkContext = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: object })
  .context;
const started = performance.now();
const { app, stack } = createAddonsApp(
  {
    // Path metadata names each function in the template (the CLI adds it; a bare App does not).
    context: {
      ...cdkContext,
      [BUNDLE_METAFILE_CONTEXT]: true,
      'aws:cdk:enable-path-metadata': true,
      ...(SDK_FROM_RUNTIME ? { [BUNDLE_SDK_CONTEXT]: false } : {}),
    },
    outdir,
  },
  // cfn-guard only reports on the template (its binary takes minutes); `npm run synth` runs it.
  { guard: false },
);
const baselineStack = new Stack(app, 'BundleBaseline');
new ProjectFunction(baselineStack, 'Baseline', {
  entry: 'test/bench/fixtures/baseline-handler.ts',
  description: 'Bundle benchmark baseline: middy and the Powertools logger',
  envSchema: CommonEnvSchema,
  environment: {},
  // Built like the API functions it is compared with.
  sourceMapsInStackTraces: false,
});
try {
  app.synth();
} catch (error) {
  // cdk-nag / cfn-guard findings fail `npm run synth` (and CI) already; the bundles are built.
  console.warn(`synthesis reported: ${(error as Error).message.split('\n')[0]}`);
}
console.info(`synthesized with bundling in ${((performance.now() - started) / 1000).toFixed(1)} s`);

const assets: LambdaAsset[] = [
  ...lambdaAssets(outdir, `${baselineStack.artifactId}.template.json`, true),
  ...lambdaAssets(outdir, `${stack.artifactId}.template.json`),
];
const measured = assets.filter((asset) => asset.kind !== 'cdk');
for (const asset of assets.filter((entry) => entry.kind === 'cdk'))
  console.info(`${asset.name}: a handler CDK provides (no metafile), size only`);

// --- cold starts, round-robin so machine noise spreads over every function alike ------------
const endpoint = await startAwsEndpoint();
const nodePath = runtimeNodePath(outdir, PROJECT_ROOT);
if (SDK_FROM_RUNTIME) {
  // ES module imports ignore NODE_PATH: the bundles find the stand-in SDK beside them, above their directories.
  mkdirSync(join(outdir, 'node_modules'));
  symlinkSync(join(PROJECT_ROOT, 'node_modules', '@aws-sdk'), join(outdir, 'node_modules', '@aws-sdk'));
  console.info("the whole AWS SDK left to the runtime: the project's @aws-sdk packages stand in for it");
}
const samples = new Map<string, ColdStart[]>(measured.map((asset) => [asset.name, []]));
const firstCalls = new Map<string, string[]>();
for (let run = 0; run < RUNS; run++) {
  for (const asset of measured) {
    samples.get(asset.name)?.push(await coldStart(asset, endpoint.url, nodePath));
    const calls = endpoint.takeCalls();
    if (run === 0) firstCalls.set(asset.name, calls);
  }
}
await endpoint.close();

// --- report -------------------------------------------------------------------------------
const rows = assets.map((asset) => {
  const bytes = asset.file ? readFileSync(asset.file) : Buffer.alloc(0);
  const runs = samples.get(asset.name) ?? [];
  return {
    ...asset,
    size: asset.file ? statSync(asset.file).size : 0,
    gzip: gzipSync(bytes).length,
    loadMs: median(runs.map((entry) => entry.loadMs)),
    coldMs: median(runs.map((entry) => entry.totalMs)),
    outcome: runs[0]?.outcome ?? '',
  };
});
const base = rows.find((row) => row.kind === 'baseline');
if (!base) throw new Error('no baseline');

console.info(
  `\nbundles (index.mjs, minified) and cold starts (median of ${RUNS} fresh processes: import, then the first request)\n`,
);
const header = [
  'function'.padEnd(28),
  'size'.padStart(9),
  'budget'.padStart(9),
  'gzip'.padStart(9),
  'load'.padStart(9),
  'cold'.padStart(9),
  'x base'.padStart(7),
  '  first request',
];
console.info(header.join(' '));
const misses: string[] = [];
for (const row of rows) {
  const ratio = row.coldMs / base.coldMs;
  if (row.budget && row.size > row.budget)
    misses.push(`${row.name}: ${kb(row.size)} is over its ${kb(row.budget)} budget`);
  if (row.kind === 'api' && ratio > COLD_START_GOAL)
    misses.push(`${row.name}: cold start ${ratio.toFixed(2)}x the baseline, goal ${COLD_START_GOAL}x`);
  const calls = firstCalls.get(row.name) ?? [];
  console.info(
    [
      row.name.padEnd(28),
      kb(row.size).padStart(9),
      (row.budget ? kb(row.budget) : '-').padStart(9),
      kb(row.gzip).padStart(9),
      (Number.isNaN(row.loadMs) ? '-' : ms(row.loadMs)).padStart(9),
      (Number.isNaN(row.coldMs) ? '-' : ms(row.coldMs)).padStart(9),
      (Number.isNaN(ratio) ? '-' : `${ratio.toFixed(2)}x`).padStart(7),
      `  ${row.outcome}${calls.length ? ` (${calls.join(', ')})` : ''}`,
    ].join(' '),
  );
}

console.info('\nwhat each bundle is made of (bytes of minified output, from the esbuild metafile)\n');
for (const row of rows) {
  if (!row.metafile) continue;
  const { packages, modules } = contributors(row.metafile);
  const list = (entries: Array<[string, number]>, count: number) =>
    entries
      .slice(0, count)
      .map(([name, bytes]) => `${name} ${kb(bytes)}`)
      .join(', ');
  console.info(`${row.name}\n  packages: ${list(packages, 8)}\n  modules:  ${list(modules, 5)}`);
}

mkdirSync(join(PROJECT_ROOT, '.bench'), { recursive: true });
writeFileSync(
  join(PROJECT_ROOT, '.bench', SDK_FROM_RUNTIME ? 'bundles-sdk-runtime.json' : 'bundles.json'),
  `${JSON.stringify(
    rows.map((row) => ({
      name: row.name,
      kind: row.kind,
      size: row.size,
      budget: row.budget,
      gzip: row.gzip,
      loadMs: row.loadMs,
      coldStartMs: row.coldMs,
      coldStartRatio: row.coldMs / base.coldMs,
      firstRequest: row.outcome,
      packages: (row.metafile ? contributors(row.metafile).packages.slice(0, 12) : []).map(
        ([name, bytes]) => ({ name, bytes }),
      ),
    })),
    null,
    2,
  )}\n`,
);
rmSync(outdir, { recursive: true, force: true });

if (misses.length) {
  console.info(`\n${misses.length} goal(s) missed:\n  ${misses.join('\n  ')}`);
  if (process.env.BENCH_STRICT === '1') process.exit(1);
} else {
  console.info('\nevery function meets its goals');
}
