import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  SystemLogLevel,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { type ICommandHooks, NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type * as z from 'zod/mini';
import type { EnvInput } from '#shared/config/env.ts';
import {
  aliasArgs,
  BUNDLE_METAFILE_CONTEXT,
  BUNDLE_SDK_CONTEXT,
  LAMBDA_ALIASES,
  LAMBDA_BUNDLING,
  LAMBDA_RUNTIME,
  PROJECT_ROOT,
  runtimeClients,
} from '../bundling.ts';
import { acknowledgeGuard } from '../guard.ts';
import { acknowledgeNag } from '../nag.ts';

export interface ProjectFunctionProps<S extends z.ZodMiniObject> {
  /** Entry module, relative to the repository root; it exports `handler`. */
  entry: string;
  description: string;
  /** The function's zod env schema; `environment` is typed from it, so a missing variable fails `tsc`. */
  envSchema: S;
  environment: EnvInput<S>;
  /** @default 10 seconds */
  timeout?: Duration;
  /** @default 1024 MiB: init time shrinks with the CPU share memory buys. */
  memorySize?: number;
  /** @default one month */
  logRetention?: RetentionDays;
  /**
   * Resolve stack traces through the bundle's source map (`--enable-source-maps`). It costs
   * cold start: on the API bundles it measured +35 to 50% module-load time (`npm run bench`).
   * @default true
   */
  sourceMapsInStackTraces?: boolean;
  /** Copy files beside the bundle (shell commands run on this machine after esbuild). */
  afterBundling?: ICommandHooks['afterBundling'];
  /**
   * More clients (`scheduler` for `@aws-sdk/client-scheduler`) loaded from the runtime on first
   * use in this function only, beside LAMBDA_ALIASES': a client it calls on few of its invocations
   * while others call it on most of theirs. Each needs `infra/aws/lambda/sdk/client-<name>.cjs`,
   * and the code may use only its client and commands (errors by name, as isAwsError does).
   */
  runtimeClients?: readonly string[];
}

const definedStrings = (environment: object): Record<string, string> =>
  Object.fromEntries(
    Object.entries(environment)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => [key, String(value)]),
  );

/**
 * The one Lambda construct of the project. It fixes what every function shares: the newest
 * Node.js runtime on ARM64, esbuild bundling with the local esbuild, JSON logs into a log
 * group with retention, active tracing, source maps, and a role of its own that starts
 * empty: permissions come only from the grant helpers of the constructs that own resources.
 */
export class ProjectFunction<S extends z.ZodMiniObject = z.ZodMiniObject>
  extends Construct
  implements iam.IGrantable
{
  readonly function: NodejsFunction;
  /** Entry module, relative to the repository root (the bundle-budget test bundles it). */
  readonly entry: string;
  /** The packages its bundle replaces (esbuild aliases; an API function and a worker differ). */
  readonly aliases: Record<string, string>;
  readonly role: iam.Role;
  readonly logGroup: LogGroup;
  readonly grantPrincipal: iam.IPrincipal;

  constructor(scope: Construct, id: string, props: ProjectFunctionProps<S>) {
    super(scope, id);
    this.entry = props.entry;
    // `-c addons:bundleAwsSdk=false` (the bundle benchmark's comparison): the runtime's SDK, all of it.
    const sdkFromRuntime = String(this.node.tryGetContext(BUNDLE_SDK_CONTEXT)) === 'false';
    this.aliases = sdkFromRuntime ? {} : { ...LAMBDA_ALIASES, ...runtimeClients(props.runtimeClients ?? []) };
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // No AWSLambdaBasicExecutionRole: writing to its own log group is all a function needs.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs ${props.entry}`,
    });
    this.logGroup.grantWrite(this.role);
    acknowledgeNag(
      this.role,
      'IAM5[Resource::*]',
      'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions',
    );
    this.grantPrincipal = this.role;

    acknowledgeGuard(
      this,
      'lambda_inside_vpc_check',
      'The platform functions call only AWS APIs (DynamoDB, Step Functions, RDS, EC2, S3, Secrets Manager, Scheduler) and never connect to a database; in the isolated VPC each of those would need an interface endpoint, for no data path that needs one',
    );
    const afterBundling = props.afterBundling;
    this.function = new NodejsFunction(this, 'Function', {
      entry: join(PROJECT_ROOT, props.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.seconds(10),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.WARN,
      tracing: Tracing.ACTIVE,
      environment: {
        ...definedStrings(props.environment),
        ...(props.sourceMapsInStackTraces === false ? {} : { NODE_OPTIONS: '--enable-source-maps' }),
      },
      bundling: {
        ...LAMBDA_BUNDLING,
        esbuildArgs: aliasArgs(this.aliases),
        ...(sdkFromRuntime ? { bundleAwsSDK: false } : {}),
        // `npm run bench -- bundles` asks for esbuild's metafile beside each bundle (what it is made of).
        ...(this.node.tryGetContext(BUNDLE_METAFILE_CONTEXT) ? { metafile: true } : {}),
        ...(afterBundling
          ? {
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling,
              },
            }
          : {}),
      },
    });
  }
}
