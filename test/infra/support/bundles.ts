import { join } from 'node:path';
import { CfnResource } from 'aws-cdk-lib';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { createAddonsApp } from '#infra/aws/addons-app.ts';
import { type FunctionKind, functionKind, LAMBDA_BUNDLING, PROJECT_ROOT } from '#infra/aws/bundling.ts';
import { ProjectFunction } from '#infra/aws/constructs/project-function.ts';
import { cdkJsonContext } from './stack.ts';

/**
 * The esbuild options NodejsFunction derives from LAMBDA_BUNDLING (infra/aws/bundling.ts), for
 * tests that need the bundles without a full synthesis with bundling (most of two minutes).
 * The source map is left out: it is a separate file, and the bundle only gains its last line.
 */
export const lambdaEsbuildOptions = (aliases: Record<string, string>): BuildOptions => ({
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: LAMBDA_BUNDLING.target,
  mainFields: [...LAMBDA_BUNDLING.mainFields],
  minify: LAMBDA_BUNDLING.minify,
  charset: 'utf8',
  banner: { js: LAMBDA_BUNDLING.banner },
  alias: aliases,
  absWorkingDir: PROJECT_ROOT,
  logLevel: 'error',
});

export interface StackFunction {
  /** The construct path of the AWS::Lambda::Function, without the stack name. */
  path: string;
  kind: FunctionKind;
  /** The entry module of a ProjectFunction; undefined for a handler CDK itself provides. */
  entry?: string;
  /** The packages its bundle replaces (esbuild aliases). */
  aliases?: Record<string, string>;
}

/**
 * Every AWS::Lambda::Function in the stack's construct tree (what the template holds), with the
 * entry of the ProjectFunction that builds it. Bundling is skipped: only the tree is needed.
 */
export const stackFunctions = (): StackFunction[] => {
  const { stack } = createAddonsApp({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  return stack.node
    .findAll()
    .filter((node) => CfnResource.isCfnResource(node) && node.cfnResourceType === 'AWS::Lambda::Function')
    .map((node) => {
      const owner = node.node.scopes.findLast((scope) => scope instanceof ProjectFunction) as
        | ProjectFunction
        | undefined;
      const path = node.node.path.split('/').slice(1).join('/');
      return {
        path,
        kind: functionKind(node.node.path),
        ...(owner ? { entry: owner.entry, aliases: owner.aliases } : {}),
      };
    });
};

/** Each entry bundled as a Lambda bundle: its size in bytes and its esbuild metafile inputs. */
export const bundleEntries = async (entries: string[], aliases: Record<string, string>) => {
  const result = await build({
    ...lambdaEsbuildOptions(aliases),
    entryPoints: entries.map((entry) => join(PROJECT_ROOT, entry)),
    outdir: join(PROJECT_ROOT, '.bench', 'bundle-budgets'),
    outExtension: { '.js': '.mjs' },
    entryNames: '[dir]/[name]',
    outbase: PROJECT_ROOT,
    write: false,
    metafile: true,
  });
  const metafile = result.metafile as Metafile;
  return new Map(
    Object.values(metafile.outputs)
      .filter((output) => output.entryPoint)
      .map((output) => [output.entryPoint as string, { bytes: output.bytes, inputs: output.inputs }]),
  );
};
