import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Annotations, Aws, type CfnResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpUserPoolAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import {
  AccountRecovery,
  ClientAttributes,
  FeaturePlan,
  Mfa,
  StandardThreatProtectionMode,
  StringAttribute,
  UserPool,
  type UserPoolClient,
} from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { PROJECTS_CLAIM } from '#shared/api/http-handler.ts';
import { DEFAULT_RATE_LIMIT, type RateLimitConfig } from '#shared/api/rate-limit.ts';
import { API_FUNCTIONS, type ApiFunctionName, routeKey } from '#shared/api/route.ts';
import { allRoutes } from '#shared/api/routes.ts';
import {
  AddonsFunctionEnvSchema,
  BackupsFunctionEnvSchema,
  CatalogFunctionEnvSchema,
  CredentialsFunctionEnvSchema,
  MetaFunctionEnvSchema,
  OperationsFunctionEnvSchema,
} from '#shared/config/env.ts';
import { DEFAULT_QUOTAS, type Quotas } from '#shared/services/quotas.ts';
import { PROJECT_ROOT } from '../bundling.ts';
import { acknowledgeGuard } from '../guard.ts';
import { acknowledgeNag } from '../nag.ts';
import type { Alerts } from './alerts.ts';
import type { Backups } from './backups.ts';
import type { Data } from './data.ts';
import type { AddonEngine } from './engines/addon-engine.ts';
import { grantLiveImportSecrets } from './live-imports.ts';
import { ProjectFunction } from './project-function.ts';
import type { Schedules } from './schedules.ts';
import { grantSecretGroupSecrets } from './secret-groups.ts';
import type { Workflows } from './workflows.ts';

export interface ApiProps {
  data: Data;
  workflows: Workflows;
  backups: Backups;
  schedules: Schedules;
  /** The engines the stack deploys: the backups API deletes their snapshot backups. */
  engines: readonly AddonEngine[];
  /** @default one month */
  logRetention?: RetentionDays;
  /** Steady-state requests per second across the API. @default 50 */
  rateLimit?: number;
  /** Each caller's (token subject's) limit, applied by every function instance. @default DEFAULT_RATE_LIMIT */
  callerRateLimit?: RateLimitConfig;
  /** Per-project quotas. @default DEFAULT_QUOTAS */
  quotas?: Partial<Quotas>;
  /** Origins whose browser pages may call the API (CORS preflight and headers). @default none */
  corsOrigins?: string[];
  /** Alert rules' alarms and topics: the operations function creates them with the rules. */
  alerts: Alerts;
}

/** The custom user attribute behind the `custom:projects` claim. */
const PROJECTS_ATTRIBUTE = PROJECTS_CLAIM.replace(/^custom:/, '');

/** Lambda's working directory: swagger-ui's files are copied beside the bundle. */
const LAMBDA_TASK_ROOT = '/var/task';
const DOCS_ASSETS = ['swagger-ui.css', 'swagger-ui-bundle.js'];
const swaggerUiDir = () => dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const METHODS: Record<string, HttpMethod> = {
  get: HttpMethod.GET,
  post: HttpMethod.POST,
  patch: HttpMethod.PATCH,
  delete: HttpMethod.DELETE,
};

const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

/**
 * API functions not deployed to AWS yet, with the entry they wait for; their routes are left
 * out. Infra tests require every other API function to be deployed, and fail as soon as a
 * pending entry exists, so this list cannot go stale.
 */
export const API_FUNCTIONS_PENDING_ON_AWS: Partial<
  Record<ApiFunctionName, { entry: string; reason: string }>
> = {};

/**
 * The HTTPS API: an API Gateway HTTP API with one Lambda per API function and one route per
 * entry of the route table, the same table the local gateway and the handlers route on.
 *
 * HTTP API rather than REST API: the handlers take payload format 2.0 and dispatch on its
 * `routeKey`, which the route table produces; its native JWT authorizer validates Cognito
 * tokens without a Lambda; and it costs less with lower latency. What REST API would add
 * (request validation, usage plans, WAF) the handlers' zod validation and stage throttling
 * cover or the platform does not need yet.
 *
 * Bearer tokens are Cognito **ID tokens**: only they carry custom attributes, and the
 * handlers read the caller's projects from `custom:projects`. The alternative, copying the
 * attribute into access tokens with a pre-token-generation trigger, puts a Lambda on every
 * sign-in for no gain here. The app client may read that attribute but not write it, or a
 * user could grant themselves any project; administrators set it.
 */
export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly userPool: UserPool;
  readonly userPoolClient: UserPoolClient;
  /** One per name in API_FUNCTIONS, but those in API_FUNCTIONS_PENDING_ON_AWS. */
  readonly functions: Partial<Record<ApiFunctionName, ProjectFunction>>;
  /** The key that signs pagination cursors: generated by CloudFormation, never seen by anyone. */
  readonly cursorKey: Secret;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const { data, workflows, backups, schedules, engines } = props;
    const retention = props.logRetention ?? RetentionDays.ONE_MONTH;

    this.userPool = new UserPool(this, 'Users', {
      // Administrators create users and set their projects.
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      customAttributes: {
        [PROJECTS_ATTRIBUTE]: new StringAttribute({ minLen: 1, maxLen: 2048, mutable: true }),
      },
      passwordPolicy: {
        minLength: 14,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: Mfa.OPTIONAL,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      featurePlan: FeaturePlan.PLUS,
      standardThreatProtectionMode: StandardThreatProtectionMode.FULL_FUNCTION,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledgeNag(
      this.userPool,
      'COG2',
      'MFA is optional (TOTP) so scripts and CI can get ID tokens with USER_PASSWORD_AUTH; users are created by administrators and the Plus plan threat protection blocks risky sign-ins',
    );
    this.userPoolClient = this.userPool.addClient('CliClient', {
      // A public client (CLI, scripts): no secret; SRP for apps, USER_PASSWORD_AUTH for the CLI.
      generateSecret: false,
      authFlows: { userSrp: true, userPassword: true },
      disableOAuth: true,
      preventUserExistenceErrors: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
      readAttributes: new ClientAttributes()
        .withStandardAttributes({ email: true, emailVerified: true })
        .withCustomAttributes(PROJECTS_ATTRIBUTE),
      writeAttributes: new ClientAttributes().withStandardAttributes({ fullname: true }),
    });

    this.cursorKey = new Secret(this, 'CursorKey', {
      description: `${Stack.of(this).stackName}: signs the API's pagination cursors`,
      encryptionKey: data.key,
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledgeNag(
      this.cursorKey,
      'SMG4',
      'An HMAC key only the API reads; rotating it would just invalidate the cursors in flight, and a leaked key lets a caller forge cursors for projects it may already read',
    );
    const callerLimit = props.callerRateLimit ?? DEFAULT_RATE_LIMIT;
    const quotas = { ...DEFAULT_QUOTAS, ...props.quotas };
    const environment = {
      ADDONS_TARGET: 'aws',
      POWERTOOLS_SERVICE_NAME: 'addons-api',
      API_RATE_LIMIT_PER_SECOND: callerLimit.perSecond,
      API_RATE_LIMIT_BURST: callerLimit.burst,
    } as const;
    const cursorEnvironment = { CURSOR_SECRET_ARN: this.cursorKey.secretArn };
    // Request latency is what users feel: no source-map resolution at cold start. Stack traces
    // stay mappable offline with the .map file beside each bundle.
    const common = { logRetention: retention, sourceMapsInStackTraces: false };
    const assetsDir = swaggerUiDir();
    const meta = new ProjectFunction(this, 'MetaFunction', {
      ...common,
      entry: 'functions/api/meta.ts',
      description: 'Health, OpenAPI document and docs page',
      envSchema: MetaFunctionEnvSchema,
      environment: { ...environment, DOCS_ASSETS_DIR: LAMBDA_TASK_ROOT },
      // The committed OpenAPI document is served as a file: no generator in the bundle.
      afterBundling: (_inputDir, outputDir) => [
        ...DOCS_ASSETS.map((asset) => `cp "${join(assetsDir, asset)}" "${join(outputDir, asset)}"`),
        `cp "${join(PROJECT_ROOT, 'openapi.json')}" "${join(outputDir, 'openapi.json')}"`,
      ],
    });
    const catalog = new ProjectFunction(this, 'CatalogFunction', {
      ...common,
      entry: 'functions/api/catalog.ts',
      description: 'Engine catalog',
      envSchema: CatalogFunctionEnvSchema,
      environment,
    });
    const addons = new ProjectFunction(this, 'AddonsFunction', {
      ...common,
      entry: 'functions/api/addons.ts',
      description: 'Create, list, get and delete addons',
      envSchema: AddonsFunctionEnvSchema,
      environment: {
        ...environment,
        TABLE_NAME: data.table.tableName,
        ...cursorEnvironment,
        BACKUP_BUCKET: backups.bucket.bucketName,
        PROVISION_ADDON_STATE_MACHINE_ARN: workflows.stateMachine('provision-addon').stateMachineArn,
        DELETE_ADDON_STATE_MACHINE_ARN: workflows.stateMachine('delete-addon').stateMachineArn,
        SCALE_ADDON_STATE_MACHINE_ARN: workflows.stateMachine('scale-addon').stateMachineArn,
        UPDATE_REPLICAS_STATE_MACHINE_ARN: workflows.stateMachine('update-replicas').stateMachineArn,
        UPDATE_NETWORKING_STATE_MACHINE_ARN: workflows.stateMachine('update-networking').stateMachineArn,
        MAX_ADDONS_PER_PROJECT: quotas.addonsPerProject,
        // An addon created from a live import keeps the source's connection string there.
        SECRET_NAME_PREFIX: data.secretNamePrefix,
        SECRETS_KMS_KEY_ID: data.key.keyArn,
      },
    });
    const credentials = new ProjectFunction(this, 'CredentialsFunction', {
      ...common,
      entry: 'functions/api/credentials.ts',
      // It starts a workflow only for a rotation the engine cannot do at once (Redis on AWS).
      runtimeClients: ['sfn'],
      description: 'Connection details of an addon, secret groups and external services',
      envSchema: CredentialsFunctionEnvSchema,
      environment: {
        ...environment,
        TABLE_NAME: data.table.tableName,
        ...cursorEnvironment,
        SECRET_NAME_PREFIX: data.secretNamePrefix,
        SECRETS_KMS_KEY_ID: data.key.keyArn,
        ROTATE_CREDENTIALS_STATE_MACHINE_ARN: workflows.stateMachine('rotate-credentials').stateMachineArn,
      },
    });
    const operations = new ProjectFunction(this, 'OperationsFunction', {
      ...common,
      entry: 'functions/api/operations.ts',
      description: 'Operations, metrics, events and alert rules of addons',
      envSchema: OperationsFunctionEnvSchema,
      environment: {
        ...environment,
        TABLE_NAME: data.table.tableName,
        ...cursorEnvironment,
        ...props.alerts.environment,
      },
    });
    const backupsFunction = new ProjectFunction(this, 'BackupsFunction', {
      ...common,
      entry: 'functions/api/backups-handler.ts',
      description: 'Backups, restores and backup schedules of addons',
      envSchema: BackupsFunctionEnvSchema,
      environment: {
        ...environment,
        TABLE_NAME: data.table.tableName,
        ...cursorEnvironment,
        BACKUP_BUCKET: backups.bucket.bucketName,
        BACKUP_ADDON_STATE_MACHINE_ARN: workflows.stateMachine('backup-addon').stateMachineArn,
        RESTORE_ADDON_STATE_MACHINE_ARN: workflows.stateMachine('restore-addon').stateMachineArn,
        EXPORT_BACKUP_STATE_MACHINE_ARN: workflows.stateMachine('export-backup').stateMachineArn,
        UPGRADE_ADDON_STATE_MACHINE_ARN: workflows.stateMachine('upgrade-addon').stateMachineArn,
        SCHEDULE_GROUP_NAME: schedules.groupName,
        SCHEDULE_TARGET_ARN: schedules.runBackup.function.functionArn,
        SCHEDULE_ROLE_ARN: schedules.schedulerRole.roleArn,
        SCHEDULE_DEAD_LETTER_ARN: schedules.scheduleDeadLetters.queue.queueArn,
        MAX_SCHEDULES_PER_ADDON: quotas.schedulesPerAddon,
        MIN_SCHEDULE_INTERVAL_MINUTES: quotas.minScheduleIntervalMinutes,
        // Live imports keep their source's connection string in Secrets Manager.
        SECRET_NAME_PREFIX: data.secretNamePrefix,
        SECRETS_KMS_KEY_ID: data.key.keyArn,
      },
    });
    grantLiveImportSecrets(data, backupsFunction, 'create');
    grantLiveImportSecrets(data, addons, 'put');
    this.functions = { meta, catalog, addons, credentials, operations, backups: backupsFunction };

    // Each function may send exactly what its code sends (infra tests record and compare).
    for (const fn of [addons, credentials, operations, backupsFunction]) this.grantCursorKey(fn, data);
    data.grantStore(addons, ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem']);
    workflows.stateMachine('provision-addon').grantStartExecution(addons);
    workflows.stateMachine('delete-addon').grantStartExecution(addons);
    // PATCH of the plan, the storage or Multi-AZ starts a scale operation.
    workflows.stateMachine('scale-addon').grantStartExecution(addons);
    // PATCH of the read replicas starts an update-replicas operation.
    workflows.stateMachine('update-replicas').grantStartExecution(addons);
    // PATCH of networking starts an update-networking operation.
    workflows.stateMachine('update-networking').grantStartExecution(addons);
    // Secret groups and external services (records, idempotency), their secrets, and the sources they read.
    data.grantStore(credentials, ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem']);
    data.grantConnectionDetails(credentials, 'read');
    workflows.stateMachine('rotate-credentials').grantStartExecution(credentials);
    grantSecretGroupSecrets(data, credentials, 'manage');
    // Deleting an addon with `unlinkGroups=true` publishes its groups without it.
    data.grantConnectionDetails(addons, 'read');
    grantSecretGroupSecrets(data, addons, 'publish');
    // Alert rules: their records, states and delivery history, the idempotency records of their
    // create, and their CloudWatch alarms and SNS topics.
    data.grantStore(operations, ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem']);
    props.alerts.grantManage(operations);
    // Metrics are read from CloudWatch when asked (GET .../metrics), never copied into the table;
    // the addons function reads the latest used storage the same way (GET of one addon).
    for (const reader of [operations, addons]) {
      reader.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] }),
      );
      acknowledgeNag(
        reader,
        'IAM5[Resource::*]',
        'cloudwatch:GetMetricData does not support resource-level permissions (the Service Authorization Reference lists no resource type and no condition key for it): `*` is the only resource it accepts; it only reads metric values',
      );
    }
    data.grantStore(backupsFunction, ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem']);
    for (const workflow of ['backup-addon', 'restore-addon', 'export-backup', 'upgrade-addon'] as const) {
      workflows.stateMachine(workflow).grantStartExecution(backupsFunction);
    }
    // An abort stops the backup's execution (which stops its job).
    const backupMachine = workflows.stateMachine('backup-addon');
    backupMachine.grantExecution(backupsFunction, 'states:StopExecution');
    const backupMachineId = Stack.of(this).getLogicalId(backupMachine.node.defaultChild as CfnResource);
    acknowledgeNag(
      backupsFunction,
      `IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${backupMachineId}"}]}]}:*]`,
      'Executions are named after operation ids at run time; StopExecution is limited to executions of the backup-addon state machine',
    );
    // An import's abort stops its restore execution (which stops its job).
    const restoreMachine = workflows.stateMachine('restore-addon');
    restoreMachine.grantExecution(backupsFunction, 'states:StopExecution');
    const restoreMachineId = Stack.of(this).getLogicalId(restoreMachine.node.defaultChild as CfnResource);
    acknowledgeNag(
      backupsFunction,
      `IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${restoreMachineId}"}]}]}:*]`,
      'Executions are named after operation ids at run time; StopExecution is limited to executions of the restore-addon state machine (aborting imports)',
    );
    // GetObject: download links are presigned with this function's role.
    backups.grantArtifacts(backupsFunction, ['GetObject', 'DeleteObject']);
    // Imports: upload URLs are presigned PUTs with this role; starting one reads the file's header.
    backups.grantImports(backupsFunction, ['PutObject', 'GetObject', 'DeleteObject']);
    // An addon created with an upload import: its upload URL is presigned with this role.
    backups.grantImports(addons, ['PutObject']);
    for (const engine of engines) {
      engine.grantSnapshotDeletion(backupsFunction);
      engine.grantSnapshotDownload?.(backupsFunction);
      // Point-in-time: GET of an addon shows its window; a restore checks the time against it.
      engine.grantRestorableWindowRead?.(addons);
      engine.grantRestorableWindowRead?.(backupsFunction);
    }
    schedules.grantManageSchedules(backupsFunction);

    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Addons platform API',
      createDefaultStage: false,
      ...(props.corsOrigins?.length
        ? {
            corsPreflight: {
              allowOrigins: props.corsOrigins,
              allowMethods: [
                CorsHttpMethod.GET,
                CorsHttpMethod.POST,
                CorsHttpMethod.PATCH,
                CorsHttpMethod.DELETE,
              ],
              allowHeaders: ['authorization', 'content-type', 'idempotency-key'],
              exposeHeaders: [
                'location',
                'operation-location',
                'retry-after',
                'ratelimit-limit',
                'ratelimit-remaining',
                'ratelimit-reset',
              ],
              maxAge: Duration.minutes(10),
            },
          }
        : {}),
    });
    const accessLogs = new LogGroup(this, 'AccessLogs', { retention, removalPolicy: RemovalPolicy.DESTROY });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      autoDeploy: true,
      throttle: { rateLimit: props.rateLimit ?? 50, burstLimit: 2 * (props.rateLimit ?? 50) },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            sourceIp: '$context.identity.sourceIp',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
            subject: '$context.authorizer.claims.sub',
          }),
        ),
      },
    });

    const authorizer = new HttpUserPoolAuthorizer('Cognito', this.userPool, {
      userPoolClients: [this.userPoolClient],
      identitySource: ['$request.header.Authorization'],
    });
    const integrations: Partial<Record<ApiFunctionName, HttpLambdaIntegration>> = {};
    for (const name of API_FUNCTIONS) {
      const fn = this.functions[name];
      if (fn) integrations[name] = new HttpLambdaIntegration(`${pascal(name)}Integration`, fn.function);
      else if (!API_FUNCTIONS_PENDING_ON_AWS[name]) {
        Annotations.of(this).addError(`API function '${name}' has no AWS settings in the Api construct`);
      }
    }
    for (const route of allRoutes) {
      const integration = integrations[route.fn];
      if (!integration) continue;
      const method = METHODS[route.method];
      if (!method) throw new Error(`No API Gateway method for ${route.method}`);
      const key = HttpRouteKey.with(route.path, method);
      if (key.key !== routeKey(route))
        throw new Error(`Route key ${key.key} differs from ${routeKey(route)}`);
      const httpRoute = new HttpRoute(this, `${pascal(route.operationId)}Route`, {
        httpApi: this.httpApi,
        routeKey: key,
        integration,
        ...(route.auth ? { authorizer } : {}),
      });
      if (!route.auth) {
        const reason = `${routeKey(route)} is public by design (architecture decision 7): health, the OpenAPI document and the docs page carry no project data`;
        acknowledgeNag(httpRoute, 'APIG4', reason);
        acknowledgeGuard(httpRoute, 'api_gw_v2_authorization_type_configured_check', reason);
      }
      acknowledgeGuard(
        httpRoute,
        'lambda_function_public_access_prohibited_check',
        "The invoke permission names API Gateway and this API's own execute-api ARN as SourceArn; the rule reads only literal strings or Ref/GetAtt, and an environment-agnostic stack can only build that ARN with Fn::Join",
      );
    }
  }

  /**
   * GetSecretValue on the cursor key only (not `grantRead`, which adds DescribeSecret the code
   * never sends), and the decrypt Secrets Manager does with the caller's permissions.
   */
  private grantCursorKey(grantee: iam.IGrantable, data: Data): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [this.cursorKey.secretArn],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt'],
      resourceArns: [data.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
    });
  }

  /** The API's base URL, without a trailing slash (the `$default` stage has no path prefix). */
  get url(): string {
    return this.httpApi.apiEndpoint;
  }
}
