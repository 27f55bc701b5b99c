/**
 * Issue 3 benchmark: what each Lambda ships and what it costs to load.
 * - Bundle size of every function, minified, as CDK builds it: the stack is synthesized with
 *   bundling on, through the same project function construct (one set of esbuild options).
 * - Cold module-load time of each bundle in a fresh Node.js process (median of BENCH_RUNS),
 *   with the function's own NODE_OPTIONS.
 * Both against a baseline bundle holding only middy and the Powertools logger, built by the
 * same construct in the same run. Goal: every API bundle under 300 KB and its load time
 * within 1.5x of the baseline. BENCH_STRICT=1 makes a missed goal fail the run.
 * - If the bundling leaves the AWS SDK out (`bundleAwsSDK: false`), the bundles import it from
 *   the Lambda runtime; here the project's `@aws-sdk/*` packages stand in for the runtime's and
 *   their load is measured with the bundle's, so the load time is what a deployed function pays.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type CfnResource, Stack } from 'aws-cdk-lib';
import { createAddonsApp } from '#infra/aws/addons-app.ts';
import { LAMBDA_BUNDLING, PROJECT_ROOT } from '#infra/aws/bundling.ts';
import { ProjectFunction } from '#infra/aws/constructs/project-function.ts';
import { CommonEnvSchema } from '#shared/config/env.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const SIZE_GOAL = 300 * 1024;
const LOAD_GOAL = 1.5;

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

interface Bundle {
  name: string;
  kind: 'api' | 'workflow' | 'baseline';
  dir: string;
  nodeOptions: string;
}

// --- build: synthesize with bundling, exactly as `cdk synth` / `cdk deploy` do -------------
const outdir = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
const cdkContext = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: object })
  .context;
const started = performance.now();
const { app, stack } = createAddonsApp({ context: { ...cdkContext }, outdir });
const baselineStack = new Stack(app, 'BundleBaseline');
const baseline = new ProjectFunction(baselineStack, 'Baseline', {
  entry: 'test/bench/fixtures/baseline-handler.ts',
  description: 'Bundle benchmark baseline: middy and the Powertools logger',
  envSchema: CommonEnvSchema,
  environment: {},
  // Built like the API functions it is compared with.
  sourceMapsInStackTraces: false,
});
app.synth();
console.info(`synthesized with bundling in ${((performance.now() - started) / 1000).toFixed(1)} s`);
// Only the SDK: any other package left out of a bundle must still fail to load, as on Lambda.
const sdkFromRuntime = !(LAMBDA_BUNDLING.bundleAwsSDK as boolean);
if (sdkFromRuntime) {
  mkdirSync(join(outdir, 'node_modules'));
  symlinkSync(join(PROJECT_ROOT, 'node_modules', '@aws-sdk'), join(outdir, 'node_modules', '@aws-sdk'));
  console.info("AWS SDK left to the runtime: the project's @aws-sdk packages stand in for it");
}

const bundleOf = (target: Stack, fn: ProjectFunction, name: string, kind: Bundle['kind']): Bundle => {
  const template = JSON.parse(readFileSync(join(outdir, `${target.artifactId}.template.json`), 'utf8')) as {
    Resources: Record<
      string,
      { Properties: { Code: { S3Key: string }; Environment?: { Variables?: Record<string, unknown> } } }
    >;
  };
  const logicalId = target.resolve((fn.function.node.defaultChild as CfnResource).logicalId) as string;
  const properties = template.Resources[logicalId]?.Properties;
  if (!properties) throw new Error(`${name}: no function ${logicalId} in the template`);
  const hash = properties.Code.S3Key.replace(/\.zip$/, '');
  return {
    name,
    kind,
    dir: join(outdir, `asset.${hash}`),
    nodeOptions: String(properties.Environment?.Variables?.NODE_OPTIONS ?? ''),
  };
};

const bundles: Bundle[] = [
  bundleOf(baselineStack, baseline, 'baseline', 'baseline'),
  ...Object.entries(stack.api.functions).map(([name, fn]) => bundleOf(stack, fn, name, 'api')),
  bundleOf(stack, stack.workflows.taskFunction, 'workflow', 'workflow'),
];

// --- what each bundle is made of, from its source map --------------------------------------
const VLQ = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const decodeVlq = (segment: string): number[] => {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const char of segment) {
    const digit = VLQ.indexOf(char);
    value += (digit & 31) << shift;
    if (digit & 32) shift += 5;
    else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
};

/** Generated bytes attributed to each package (or `project`), from the mappings of the minified bundle. */
const contributors = (bundle: Bundle): Array<[string, number]> => {
  const map = JSON.parse(readFileSync(join(bundle.dir, 'index.mjs.map'), 'utf8')) as {
    sources: string[];
    mappings: string;
  };
  const code = readFileSync(join(bundle.dir, 'index.mjs'), 'utf8').split('\n');
  const owner = map.sources.map((source) => {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
    return match?.[1] ?? 'project';
  });
  const totals = new Map<string, number>();
  // Generated columns restart on every line; source indexes are relative across the whole map.
  let source = 0;
  map.mappings.split(';').forEach((line, lineIndex) => {
    let column = 0;
    const segments = line
      .split(',')
      .filter(Boolean)
      .map((segment) => {
        const [columnDelta = 0, sourceDelta = 0] = decodeVlq(segment);
        column += columnDelta;
        source += sourceDelta;
        return { column, source };
      });
    const lineLength = code[lineIndex]?.length ?? 0;
    segments.forEach((segment, index) => {
      const end = segments[index + 1]?.column ?? lineLength;
      const name = owner[segment.source] ?? 'unknown';
      totals.set(name, (totals.get(name) ?? 0) + Math.max(0, end - segment.column));
    });
  });
  return [...totals.entries()].sort((a, b) => b[1] - a[1]);
};

// --- cold module load in fresh processes ----------------------------------------------------
const LOADER = `const started = performance.now();
await import(process.argv[1]);
process.stdout.write(String(performance.now() - started));`;

const loadOnce = (bundle: Bundle): number => {
  const file = pathToFileURL(join(bundle.dir, 'index.mjs')).href;
  const options = bundle.nodeOptions ? bundle.nodeOptions.split(/\s+/) : [];
  const result = spawnSync(process.execPath, [...options, '--input-type=module', '-e', LOADER, file], {
    encoding: 'utf8',
    // The Lambda environment has no project node_modules beside the bundle; neither does this.
    cwd: tmpdir(),
    env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', AWS_LAMBDA_FUNCTION_NAME: bundle.name },
  });
  if (result.status !== 0) throw new Error(`${bundle.name}: the bundle failed to load:\n${result.stderr}`);
  return Number(result.stdout);
};

// Round-robin, so machine noise spreads over every bundle alike.
const samples = new Map<string, number[]>(bundles.map((bundle) => [bundle.name, []]));
for (let run = 0; run < RUNS; run++)
  for (const bundle of bundles) samples.get(bundle.name)?.push(loadOnce(bundle));

// --- report -------------------------------------------------------------------------------
const rows = bundles.map((bundle) => {
  const size = statSync(join(bundle.dir, 'index.mjs')).size;
  const gzip = gzipSync(readFileSync(join(bundle.dir, 'index.mjs'))).length;
  return { ...bundle, size, gzip, load: median(samples.get(bundle.name) ?? []) };
});
const base = rows[0];
if (!base) throw new Error('no baseline');

console.info(`\nbundle sizes (index.mjs, minified) and cold load (median of ${RUNS} fresh processes)\n`);
console.info(
  `${'function'.padEnd(12)} ${'size'.padStart(10)} ${'x base'.padStart(7)} ${'gzip'.padStart(10)} ${'load'.padStart(9)} ${'x base'.padStart(7)}  goal`,
);
const misses: string[] = [];
for (const row of rows) {
  const sizeRatio = row.size / base.size;
  const loadRatio = row.load / base.load;
  let goal = '';
  if (row.kind === 'api') {
    const sizeOk = row.size < SIZE_GOAL;
    const loadOk = loadRatio <= LOAD_GOAL;
    goal = `${sizeOk ? 'size ok' : 'SIZE MISSED'}, ${loadOk ? 'load ok' : 'LOAD MISSED'}`;
    if (!sizeOk) misses.push(`${row.name}: ${kb(row.size)} is not under ${kb(SIZE_GOAL)}`);
    if (!loadOk)
      misses.push(`${row.name}: loads in ${loadRatio.toFixed(2)}x the baseline, goal ${LOAD_GOAL}x`);
  }
  console.info(
    `${row.name.padEnd(12)} ${kb(row.size).padStart(10)} ${sizeRatio.toFixed(2).padStart(6)}x ${kb(row.gzip).padStart(10)} ${`${row.load.toFixed(1)} ms`.padStart(9)} ${loadRatio.toFixed(2).padStart(6)}x  ${goal}`,
  );
}

console.info('\nlargest contributors per bundle (bytes of minified output, from the source maps)\n');
for (const row of rows) {
  const top = contributors(row)
    .slice(0, 6)
    .map(([name, bytes]) => `${name} ${kb(bytes)}`)
    .join(', ');
  console.info(`${row.name.padEnd(12)} ${top}`);
}

mkdirSync(join(PROJECT_ROOT, '.bench'), { recursive: true });
writeFileSync(
  join(PROJECT_ROOT, '.bench', 'bundles.json'),
  `${JSON.stringify(
    rows.map(({ name, kind, size, gzip, load }) => ({ name, kind, size, gzip, loadMs: load })),
    null,
    2,
  )}\n`,
);
rmSync(outdir, { recursive: true, force: true });

if (misses.length) {
  console.info(`\n${misses.length} goal(s) missed:\n  ${misses.join('\n  ')}`);
  if (process.env.BENCH_STRICT === '1') process.exit(1);
} else {
  console.info('\nevery API bundle meets its goals');
}
