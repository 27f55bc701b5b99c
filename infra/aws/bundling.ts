import { fileURLToPath } from 'node:url';
import { Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, Charset, LogLevel, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';

/** The repository root: entries, the lock file and node_modules are resolved from it. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The newest Node.js runtime aws-cdk-lib offers; every function runs on it (infra tests check). */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;

/**
 * How every Lambda is bundled, in one place: the project function construct passes it to
 * NodejsFunction (local esbuild, no Docker) and the bundle benchmark synthesizes through
 * that construct, so what is measured is what is deployed.
 *
 * - ESM with `module` first in mainFields: the AWS SDK and Powertools ship ES modules, which
 *   esbuild tree-shakes; the CommonJS builds it would otherwise pick cannot be shaken.
 * - The AWS SDK is bundled, not taken from the runtime: the version we test is the version
 *   that runs, and only the commands a function imports are shipped. Leaving it to the
 *   runtime brings the DynamoDB functions' bundles under 300 KB, but their cold module load
 *   doubled when measured (the runtime's CommonJS builds load every command and every
 *   dependency; `npm run bench -- bundles` measures it with `bundleAwsSDK: false`).
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
  banner:
    "import { createRequire as __addonsCreateRequire } from 'node:module'; const require = __addonsCreateRequire(import.meta.url);",
} as const satisfies BundlingOptions;
