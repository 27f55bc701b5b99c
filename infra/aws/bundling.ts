import { fileURLToPath } from 'node:url';
import { Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, Charset, LogLevel, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';

/** The repository root: entries, the lock file and node_modules are resolved from it. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The newest Node.js runtime aws-cdk-lib offers; every function runs on it (infra tests check). */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;

/** Context key: `-c addons:bundleMetafile=true` writes esbuild's metafile (index.meta.json) beside each bundle. */
export const BUNDLE_METAFILE_CONTEXT = 'addons:bundleMetafile';

/**
 * Context key: `-c addons:bundleAwsSdk=false` leaves the whole AWS SDK to the Lambda runtime
 * (no aliases either), for `BENCH_SDK=runtime npm run bench -- bundles` to compare both ways.
 */
export const BUNDLE_SDK_CONTEXT = 'addons:bundleAwsSdk';

/**
 * Size budgets of the minified bundles (index.mjs), by kind of function: the API answers users
 * (cold start is the first request's latency), the workflow and schedule functions do not.
 * Checked by test/infra/bundle-budgets.test.ts; `npm run bench -- bundles` prints them.
 */
export const BUNDLE_BUDGETS = { api: 300 * 1024, worker: 600 * 1024 } as const;
export type FunctionKind = keyof typeof BUNDLE_BUDGETS;
/** The API functions live under the Api construct; every other platform function is a worker. */
export const functionKind = (constructPath: string): FunctionKind =>
  constructPath.split('/').includes('Api') ? 'api' : 'worker';

const lambdaModule = (file: string) => fileURLToPath(new URL(`./lambda/${file}`, import.meta.url));

/** Aliases that load these `@aws-sdk/client-<name>` packages from the runtime on first use. */
export const runtimeClients = (clients: readonly string[]): Record<string, string> =>
  Object.fromEntries(
    clients.map((client) => [`@aws-sdk/client-${client}`, lambdaModule(`sdk/client-${client}.cjs`)]),
  );

/**
 * Packages replaced inside the Lambda bundles (esbuild aliases), each measured with
 * `npm run bench -- bundles` (docs/performance.md):
 * - the SDK's default credential chain by the environment-only provider the Lambda runtime
 *   needs (about 130 KB less in every function that calls AWS);
 * - the query-protocol clients whose models do not tree-shake, and S3 (100 KB of model), by a
 *   stand-in that loads the runtime's client on first use: a function parses EC2's 550 KB model
 *   only when it calls EC2, and S3's only when it touches an object;
 * - the S3 presigner by the runtime's, handed the runtime's S3 client behind the stand-in: the
 *   API functions presign upload and download links without bundling S3 (about 150 KB less in
 *   the addons and backups functions).
 */
export const LAMBDA_ALIASES: Record<string, string> = {
  '@aws-sdk/credential-provider-node': lambdaModule('credentials.ts'),
  ...runtimeClients(['ec2', 'rds', 'elasticache', 'docdb', 'cloudwatch', 's3', 'sns']),
  '@aws-sdk/s3-request-presigner': lambdaModule('sdk/s3-request-presigner.cjs'),
};

/** The esbuild arguments of a function's aliases. */
export const aliasArgs = (aliases: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(aliases).map(([from, to]) => [`--alias:${from}`, to]));

/**
 * How every Lambda is bundled, in one place: the project function construct passes it to
 * NodejsFunction (local esbuild, no Docker) and the bundle benchmark synthesizes through
 * that construct, so what is measured is what is deployed.
 *
 * - ESM with `module` first in mainFields: the AWS SDK and Powertools ship ES modules, which
 *   esbuild tree-shakes; the CommonJS builds it would otherwise pick cannot be shaken.
 * - The AWS SDK is bundled, not taken from the runtime: the version we test is the version
 *   that runs, and only the commands a function imports are shipped. Leaving all of it to the
 *   runtime brings the DynamoDB functions' bundles under 300 KB, but their cold module load
 *   doubled when measured (the runtime's CommonJS builds load every command and every
 *   dependency). Two exceptions, by measurement (LAMBDA_ALIASES, docs/performance.md): the
 *   default credential chain (Lambda needs only its environment's credentials) and the
 *   query-protocol clients that do not tree-shake, which load from the runtime on first use.
 * - The banner gives bundled CommonJS dependencies a `require` for Node.js built-ins, which an
 *   ES module does not have.
 * - Source maps without sources: readable stack traces (`--enable-source-maps`) at a fraction
 *   of the size.
 */
export const LAMBDA_BUNDLING = {
  format: OutputFormat.ESM,
  target: 'node24',
  mainFields: ['module', 'main'],
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  bundleAwsSDK: true,
  charset: Charset.UTF8,
  logLevel: LogLevel.WARNING,
  forceDockerBundling: false,
  esbuildArgs: aliasArgs(LAMBDA_ALIASES),
  banner:
    "import { createRequire as __addonsCreateRequire } from 'node:module'; const require = __addonsCreateRequire(import.meta.url);",
} as const satisfies BundlingOptions;
