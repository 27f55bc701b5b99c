import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_RUNTIME, PROJECT_ROOT } from '#infra/aws/bundling.ts';
import { API_FUNCTIONS_PENDING_ON_AWS } from '#infra/aws/constructs/api.ts';
import { STATE_MACHINES_DIR } from '#infra/aws/constructs/workflows.ts';
import { GUARD_PLUGIN_NAME } from '#infra/aws/guard.ts';
import { API_FUNCTIONS, routeKey } from '#shared/api/route.ts';
import { allRoutes } from '#shared/api/routes.ts';
import { ENGINES } from '#shared/catalog/engines.ts';
import {
  AddonsFunctionEnvSchema,
  BackupsFunctionEnvSchema,
  CatalogFunctionEnvSchema,
  CredentialsFunctionEnvSchema,
  MetaFunctionEnvSchema,
  OperationsFunctionEnvSchema,
  parseEnv,
  RunBackupFunctionEnvSchema,
  SweepFunctionEnvSchema,
  WorkflowFunctionEnvSchema,
} from '#shared/config/env.ts';
import { WORKFLOWS } from '#shared/ports/workflow-starter.ts';
import { JOB_COMMAND } from '#shared/services/backup-workflow-tasks.ts';
import { tableDefinition } from '#shared/store/table.ts';
import { logicalIdOf } from '../workflows/support/aws-workflows.ts';
import { isAllowed, roleStatements } from './support/iam.ts';
import { FAKE_ENV, functionEnvironment, resolveIntrinsics } from './support/intrinsics.ts';
import {
  resourcesOfType,
  SYNTH_TIMEOUT_MS,
  type SynthesizedStack,
  synthesizeAddons,
} from './support/stack.ts';

let synthesized: SynthesizedStack;
beforeAll(() => {
  // cfn-guard included: this file asserts the deployed app has no unacknowledged guard finding.
  synthesized = synthesizeAddons({ guard: true });
}, SYNTH_TIMEOUT_MS);

const resources = (type: string) => resourcesOfType(synthesized.json, type);
const props = (type: string) => resources(type).map(([, resource]) => resource.Properties ?? {});

describe('API', () => {
  it('is an HTTP API whose default stage writes access logs', () => {
    const { template } = synthesized;
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('\\$context.requestId'),
      },
      DefaultRouteSettings: { ThrottlingRateLimit: Match.anyValue(), ThrottlingBurstLimit: Match.anyValue() },
    });
  });

  it('has one Lambda per API function, but those explicitly pending whose entry does not exist yet', () => {
    const deployed = Object.keys(synthesized.stack.api.functions);
    const pending = Object.keys(API_FUNCTIONS_PENDING_ON_AWS);
    expect([...deployed, ...pending].sort()).toEqual([...API_FUNCTIONS].sort());
    for (const [name, { entry }] of Object.entries(API_FUNCTIONS_PENDING_ON_AWS)) {
      expect(
        existsSync(join(PROJECT_ROOT, entry)),
        `${entry} exists: deploy '${name}' in the Api construct`,
      ).toBe(false);
    }
  });

  it('has one route per entry of the route table, with the JWT authorizer exactly where the table asks for auth', () => {
    const routes = props('AWS::ApiGatewayV2::Route');
    const byKey = new Map(routes.map((route) => [route.RouteKey as string, route]));
    const deployedRoutes = allRoutes.filter((route) => !API_FUNCTIONS_PENDING_ON_AWS[route.fn]);
    expect([...byKey.keys()].sort()).toEqual(deployedRoutes.map(routeKey).sort());
    for (const route of deployedRoutes) {
      const deployed = byKey.get(routeKey(route));
      if (route.auth)
        expect(deployed, routeKey(route)).toMatchObject({
          AuthorizationType: 'JWT',
          AuthorizerId: expect.anything(),
        });
      else expect(deployed?.AuthorizationType ?? 'NONE', routeKey(route)).toBe('NONE');
    }
  });

  it('routes each path to the function the route table names', () => {
    const integrations = new Map(
      resources('AWS::ApiGatewayV2::Integration').map(([id, resource]) => [
        id,
        resource.Properties?.IntegrationUri,
      ]),
    );
    const functions = synthesized.stack.api.functions;
    for (const route of props('AWS::ApiGatewayV2::Route')) {
      const tableRoute = allRoutes.find((candidate) => routeKey(candidate) === route.RouteKey);
      const target = (route.Target as { 'Fn::Join': [string, [string, { Ref: string }]] })['Fn::Join'][1][1]
        .Ref;
      const fn = tableRoute ? functions[tableRoute.fn] : undefined;
      expect(fn, String(route.RouteKey)).toBeDefined();
      const uri = integrations.get(target) as { 'Fn::GetAtt': [string, string] };
      expect(uri['Fn::GetAtt'][0]).toBe(fn ? logicalIdOf(synthesized, fn.function) : undefined);
    }
  });

  it('authenticates with Cognito ID tokens of the platform client', () => {
    const { template, stack } = synthesized;
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: {
        // ID tokens carry the client id in `aud`.
        Audience: [{ Ref: logicalIdOf(synthesized, stack.api.userPoolClient) }],
        Issuer: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
      },
    });
  });

  it("puts the caller's projects in a custom attribute only administrators can write", () => {
    const { template } = synthesized;
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      Schema: Match.arrayWith([
        Match.objectLike({ Name: 'projects', AttributeDataType: 'String', Mutable: true }),
      ]),
      UserPoolTier: 'PLUS',
    });
    const [client] = props('AWS::Cognito::UserPoolClient');
    expect(client).toMatchObject({
      GenerateSecret: false,
      ExplicitAuthFlows: expect.arrayContaining(['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH']),
      ReadAttributes: expect.arrayContaining(['custom:projects']),
    });
    // Writable by the app client means writable by every user with their own access token.
    expect(client?.WriteAttributes).toBeDefined();
    expect(client?.WriteAttributes).not.toContain('custom:projects');
  });

  it('gives the docs function the swagger-ui assets directory', () => {
    const { json, stack } = synthesized;
    const meta = stack.api.functions.meta;
    expect(meta).toBeDefined();
    if (!meta) return;
    expect(functionEnvironment(json, logicalIdOf(synthesized, meta.function)).DOCS_ASSETS_DIR).toBe(
      '/var/task',
    );
  });
});

describe('functions', () => {
  const schemas = {
    meta: MetaFunctionEnvSchema,
    catalog: CatalogFunctionEnvSchema,
    addons: AddonsFunctionEnvSchema,
    credentials: CredentialsFunctionEnvSchema,
    operations: OperationsFunctionEnvSchema,
    backups: BackupsFunctionEnvSchema,
  } as const;

  it('give every function an environment its zod schema accepts', () => {
    const { json, stack } = synthesized;
    for (const [name, schema] of Object.entries(schemas)) {
      const fn = stack.api.functions[name as keyof typeof schemas];
      expect(fn, name).toBeDefined();
      if (fn)
        expect(() =>
          parseEnv(schema, functionEnvironment(json, logicalIdOf(synthesized, fn.function))),
        ).not.toThrow();
    }
    const workflow = functionEnvironment(
      json,
      logicalIdOf(synthesized, stack.workflows.taskFunction.function),
    );
    // Every RDS engine's parameter groups, per major, for TLS and for `tls: false`.
    const { TLS_PARAMETER_GROUPS, NO_TLS_PARAMETER_GROUPS } = parseEnv(WorkflowFunctionEnvSchema, workflow);
    for (const groups of [TLS_PARAMETER_GROUPS, NO_TLS_PARAMETER_GROUPS]) {
      // MongoDB's (TLS only): test/infra/mongodb-stack.test.ts.
      expect(
        Object.keys(groups)
          .filter((engine) => engine !== 'mongodb')
          .sort(),
      ).toEqual(['mysql', 'postgresql']);
      for (const engine of ['postgresql', 'mysql'] as const) {
        expect(groups[engine], engine).toEqual(
          Object.fromEntries(ENGINES[engine].versions.aws.map((major) => [major, expect.any(String)])),
        );
      }
    }
    expect(TLS_PARAMETER_GROUPS.mysql?.['8.4']).not.toBe(NO_TLS_PARAMETER_GROUPS.mysql?.['8.4']);
    const envOf = (fn: { function: { node: { defaultChild?: unknown } } }) =>
      functionEnvironment(json, logicalIdOf(synthesized, fn.function));
    expect(() => parseEnv(RunBackupFunctionEnvSchema, envOf(stack.schedules.runBackup))).not.toThrow();
    expect(() => parseEnv(SweepFunctionEnvSchema, envOf(stack.schedules.sweep))).not.toThrow();
  });

  it('run in the VPC-less Lambda network: they call AWS APIs only, never a database', () => {
    for (const fn of props('AWS::Lambda::Function')) expect(fn.VpcConfig).toBeUndefined();
  });
});

describe('data', () => {
  it('is one table with the local definition, PITR, a customer-managed key and deletion protection', () => {
    const { template, stack } = synthesized;
    const definition = tableDefinition('addons');
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: definition.KeySchema,
      AttributeDefinitions: Match.arrayWith(definition.AttributeDefinitions ?? []),
      GlobalSecondaryIndexes: (definition.GlobalSecondaryIndexes ?? []).map((index) =>
        Match.objectLike({
          IndexName: index.IndexName,
          KeySchema: index.KeySchema,
          Projection: { ProjectionType: 'ALL' },
        }),
      ),
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: {
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: { 'Fn::GetAtt': [logicalIdOf(synthesized, stack.data.key), 'Arn'] },
      },
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
      DeletionProtectionEnabled: true,
    });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });
});

describe('network', () => {
  it('routes nothing out of the isolated subnets: only live imports go out (one NAT gateway) and the RDS addons public subnets to the internet gateway; no public IPs on launch', () => {
    const { template, json } = synthesized;
    // test/infra/live-import-network.test.ts checks the live-import subnets, group and jobs.
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    const subnets = props('AWS::EC2::Subnet');
    expect(subnets.length).toBeGreaterThanOrEqual(2);
    for (const subnet of subnets) expect(subnet.MapPublicIpOnLaunch).toBe(false);
    const defaultRoutes = Object.entries(json.Resources).filter(
      ([, resource]) =>
        resource.Type === 'AWS::EC2::Route' && resource.Properties?.DestinationCidrBlock === '0.0.0.0/0',
    );
    expect(defaultRoutes.length).toBeGreaterThan(0);
    for (const [id] of defaultRoutes) {
      expect(id).toMatch(/VpcLiveImportsSubnet|VpcEgressSubnet|VpcPublicDatabasesSubnet/);
    }
    // The public database subnets' default route is the internet gateway (RDS PubliclyAccessible).
    const publicDatabaseRoutes = defaultRoutes.filter(([id]) => id.includes('VpcPublicDatabasesSubnet'));
    expect(publicDatabaseRoutes.length).toBe(2);
    for (const [, route] of publicDatabaseRoutes) expect(route.Properties?.GatewayId).toBeDefined();
    template.resourceCountIs('AWS::EC2::InternetGateway', 1);
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
  });

  it('leaves addon and project client security groups and instances to the workflow: CDK creates the job and endpoint groups', () => {
    const { template, json, stack } = synthesized;
    template.resourceCountIs('AWS::RDS::DBInstance', 0);
    // No stack-wide client group: one workload could otherwise reach every project's addons.
    // The third: live-import jobs (test/infra/live-import-network.test.ts).
    template.resourceCountIs('AWS::EC2::SecurityGroup', 3);
    const job = json.Resources[logicalIdOf(synthesized, stack.network.jobSecurityGroup)]?.Properties;
    expect(job?.SecurityGroupIngress).toBeUndefined();
    expect(job?.SecurityGroupEgress).toEqual([
      expect.objectContaining({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: '0.0.0.0/0' }),
    ]);
    // The only ingress in the stack: the interface endpoints admit the jobs on 443.
    const ingress = [
      ...props('AWS::EC2::SecurityGroupIngress'),
      ...props('AWS::EC2::SecurityGroup').flatMap(
        (group) => (group.SecurityGroupIngress as Record<string, unknown>[] | undefined) ?? [],
      ),
    ];
    expect(ingress).toEqual([
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        SourceSecurityGroupId: {
          'Fn::GetAtt': [logicalIdOf(synthesized, stack.network.jobSecurityGroup), 'GroupId'],
        },
      }),
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        SourceSecurityGroupId: {
          'Fn::GetAtt': [logicalIdOf(synthesized, stack.network.liveImportSecurityGroup as never), 'GroupId'],
        },
      }),
    ]);
  });

  it('gives the jobs VPC endpoints for S3 (gateway), ECR, CloudWatch Logs and Secrets Manager, with private DNS', () => {
    const endpoints = props('AWS::EC2::VPCEndpoint');
    const serviceOf = (endpoint: Record<string, unknown>) =>
      JSON.stringify(endpoint.ServiceName).match(/\.(s3|ecr\.api|ecr\.dkr|logs|secretsmanager)"/)?.[1];
    expect(endpoints.map(serviceOf).sort()).toEqual(['ecr.api', 'ecr.dkr', 'logs', 's3', 'secretsmanager']);
    for (const endpoint of endpoints) {
      if (serviceOf(endpoint) === 's3') expect(endpoint.VpcEndpointType).toBe('Gateway');
      else expect(endpoint).toMatchObject({ VpcEndpointType: 'Interface', PrivateDnsEnabled: true });
    }
  });

  it('gives RDS a subnet group over the isolated subnets, one over the public subnets (RDS addons are created there) and, per engine and catalog major, a parameter group with TLS forced and one without', () => {
    const { template, stack, json } = synthesized;
    template.resourceCountIs('AWS::RDS::DBSubnetGroup', 2);
    const subnetIdsOf = (group: { node: { defaultChild?: unknown } }) =>
      JSON.stringify(json.Resources[logicalIdOf(synthesized, group)]?.Properties?.SubnetIds);
    const refsOf = (selection: Parameters<typeof stack.network.vpc.selectSubnets>[0]) =>
      stack.network.vpc
        .selectSubnets(selection)
        .subnets.map((subnet) => logicalIdOf(synthesized, subnet as never));
    const isolated = refsOf(stack.network.databaseSubnets);
    const publicSubnets = refsOf(stack.network.publicDatabaseSubnets);
    expect(isolated).toHaveLength(2);
    expect(publicSubnets).toHaveLength(2);
    for (const id of isolated) expect(subnetIdsOf(stack.rds.subnetGroup)).toContain(id);
    for (const id of publicSubnets) expect(subnetIdsOf(stack.rds.publicSubnetGroup)).toContain(id);
    expect(subnetIdsOf(stack.rds.publicSubnetGroup)).not.toContain(isolated[0]);
    const fn = json.Resources[logicalIdOf(synthesized, stack.workflows.taskFunction.function)];
    const environment = fn?.Properties?.Environment as { Variables: Record<string, unknown> } | undefined;
    expect(environment?.Variables.RDS_SUBNET_GROUP_NAME).toEqual({
      Ref: logicalIdOf(synthesized, stack.rds.publicSubnetGroup),
    });
    const parameterGroups = props('AWS::RDS::DBParameterGroup');
    const families = (parameter: string, value: string) =>
      parameterGroups
        .filter((parameters) => (parameters.Parameters as Record<string, string>)[parameter] === value)
        .map((parameters) => parameters.Family)
        .sort();
    const postgres = ENGINES.postgresql.versions.aws;
    expect(families('rds.force_ssl', '1')).toEqual(postgres.map((major) => `postgres${major}`).sort());
    expect(families('rds.force_ssl', '0')).toEqual(postgres.map((major) => `postgres${major}`).sort());
    // RDS for MySQL: require_secure_transport ON (1) refuses plain connections; OFF (0) for tls: false.
    // DB instance parameter groups take it as 1/0 (Aurora cluster groups as ON/OFF).
    const mysql = ENGINES.mysql.versions.aws;
    expect(mysql).toEqual(['8.0', '8.4']);
    expect(families('require_secure_transport', '1')).toEqual(['mysql8.0', 'mysql8.4']);
    expect(families('require_secure_transport', '0')).toEqual(['mysql8.0', 'mysql8.4']);
    template.resourceCountIs('AWS::RDS::DBParameterGroup', 2 * (postgres.length + mysql.length));
  });
});

describe('workflows', () => {
  const aslFiles = () => readdirSync(STATE_MACHINES_DIR).filter((file) => file.endsWith('.asl.json'));

  it('has a Standard state machine for every workflow the platform runs, and an ASL file for each', () => {
    expect(
      aslFiles()
        .map((file) => file.replace('.asl.json', ''))
        .sort(),
    ).toEqual([...WORKFLOWS].sort());
    expect(Object.keys(synthesized.stack.workflows.stateMachines).sort()).toEqual([...WORKFLOWS].sort());
    for (const machine of props('AWS::StepFunctions::StateMachine')) {
      expect(machine.StateMachineType).toBe('STANDARD');
      expect(machine.DefinitionS3Location).toBeDefined();
    }
  });

  it('substitutes every placeholder of each ASL file, and nothing else', () => {
    const { json, stack } = synthesized;
    for (const workflow of WORKFLOWS) {
      const machine = stack.workflows.stateMachines[workflow];
      if (!machine) continue; // reported by the test above
      const text = readFileSync(join(STATE_MACHINES_DIR, `${workflow}.asl.json`), 'utf8');
      const placeholders = new Set([...text.matchAll(/\$\{(\w+)\}/g)].map((match) => match[1]));
      const substitutions =
        json.Resources[logicalIdOf(synthesized, machine)]?.Properties?.DefinitionSubstitutions;
      expect(Object.keys(substitutions ?? {}).sort(), workflow).toEqual([...placeholders].sort());
    }
  });

  it('lets each state machine invoke the task function its Tasks name', () => {
    const { json, stack } = synthesized;
    const taskFunctionArn = resolveIntrinsics(
      { 'Fn::GetAtt': [logicalIdOf(synthesized, stack.workflows.taskFunction.function), 'Arn'] },
      json,
    );
    for (const workflow of WORKFLOWS) {
      const machine = stack.workflows.stateMachine(workflow);
      const statements = roleStatements(json, logicalIdOf(synthesized, machine.role));
      const invoke = {
        action: 'lambda:InvokeFunction',
        resource: String(taskFunctionArn),
        context: {},
        because: workflow,
      };
      expect(isAllowed(statements, invoke), workflow).toBe(true);
    }
  });
});

describe('backups', () => {
  const bucketOf = (construct: { node: { defaultChild?: unknown } }) =>
    synthesized.json.Resources[logicalIdOf(synthesized, construct)] ?? { Type: 'missing' };

  it('keeps dumps in a KMS-encrypted, private, TLS-only bucket with access logs, retained with the stack gone', () => {
    const { stack, json } = synthesized;
    const bucket = bucketOf(stack.backups.bucket) as {
      Properties: Record<string, unknown>;
      DeletionPolicy?: string;
    };
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [logicalIdOf(synthesized, stack.data.key), 'Arn'] },
            },
            BucketKeyEnabled: true,
          },
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: {
        DestinationBucketName: { Ref: logicalIdOf(synthesized, stack.backups.accessLogs) },
      },
    });
    // No versioning: a deleted backup must really be gone.
    expect(bucket.Properties.VersioningConfiguration).toBeUndefined();
    const policy = resourcesOfType(json, 'AWS::S3::BucketPolicy')
      .map(([, resource]) => resource.Properties ?? {})
      .find(
        (properties) =>
          JSON.stringify(properties.Bucket) ===
          JSON.stringify({ Ref: logicalIdOf(synthesized, stack.backups.bucket) }),
      );
    expect(policy?.PolicyDocument).toMatchObject({
      Statement: expect.arrayContaining([
        expect.objectContaining({
          Effect: 'Deny',
          Action: 's3:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      ]),
    });
  });

  it('aborts incomplete multipart uploads after a day, expires import uploads, and never expires dumps by age (pinned and manual backups are kept)', () => {
    const bucket = bucketOf(synthesized.stack.backups.bucket) as { Properties: Record<string, unknown> };
    expect(bucket.Properties.LifecycleConfiguration).toEqual({
      Rules: [
        {
          Id: 'abort-incomplete-uploads',
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          Status: 'Enabled',
        },
        { Id: 'expire-import-uploads', Prefix: 'imports/', ExpirationInDays: 3, Status: 'Enabled' },
      ],
    });
  });

  it('runs jobs as ARM64 Fargate tasks logging to a group with retention, in a cluster with Container Insights', () => {
    const { template, json, stack } = synthesized;
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
    const task = json.Resources[logicalIdOf(synthesized, stack.backups.taskDefinition)]?.Properties ?? {};
    expect(task).toMatchObject({
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [
        expect.objectContaining({
          Name: 'job',
          Essential: true,
          Command: JOB_COMMAND,
          LogConfiguration: expect.objectContaining({
            LogDriver: 'awslogs',
            Options: expect.objectContaining({
              'awslogs-group': { Ref: logicalIdOf(synthesized, stack.backups.logGroup) },
            }),
          }),
        }),
      ],
    });
    expect(
      json.Resources[logicalIdOf(synthesized, stack.backups.logGroup)]?.Properties?.RetentionInDays,
    ).toEqual(expect.any(Number));
  });

  it('lets the backup, restore, provision (fork seed), upgrade and rotate-credentials state machines run exactly the job task definition, and pass exactly its two roles', () => {
    const { json, stack } = synthesized;
    const resolve = (value: unknown) => resolveIntrinsics(value, json) as string;
    const taskDefinition = resolve({ Ref: logicalIdOf(synthesized, stack.backups.taskDefinition) });
    const cluster = resolve({ 'Fn::GetAtt': [logicalIdOf(synthesized, stack.backups.cluster), 'Arn'] });
    const roles = [
      stack.backups.taskDefinition.taskRole,
      stack.backups.taskDefinition.obtainExecutionRole(),
    ].map((role) => resolve({ 'Fn::GetAtt': [logicalIdOf(synthesized, role as never), 'Arn'] }));
    const permission = (action: string, resource: string, context: Record<string, string> = {}) => ({
      action,
      resource,
      context,
      because: 'runTask.sync',
    });
    for (const workflow of WORKFLOWS) {
      const statements = roleStatements(
        json,
        logicalIdOf(synthesized, stack.workflows.stateMachine(workflow).role),
      );
      // provision-addon: the restore job that seeds a fork from a dump backup; upgrade-addon: the
      // dump job of the backup taken first, where the engine has no storage snapshots;
      // rotate-credentials: the login job of RDS addons.
      const runsJobs =
        workflow === 'backup-addon' ||
        workflow === 'restore-addon' ||
        workflow === 'provision-addon' ||
        workflow === 'upgrade-addon' ||
        workflow === 'rotate-credentials';
      expect(
        isAllowed(statements, permission('ecs:RunTask', taskDefinition, { 'ecs:cluster': cluster })),
        workflow,
      ).toBe(runsJobs);
      if (!runsJobs) continue;
      const runTask = statements.filter((statement) => [statement.Action].flat().includes('ecs:RunTask'));
      expect(runTask.map((statement) => statement.Resource)).toEqual([taskDefinition]);
      const passRole = statements.filter((statement) => [statement.Action].flat().includes('iam:PassRole'));
      expect(passRole.flatMap((statement) => [statement.Resource].flat()).sort()).toEqual([...roles].sort());
      for (const action of ['events:PutTargets', 'events:PutRule', 'events:DescribeRule']) {
        expect(
          isAllowed(
            statements,
            permission(
              action,
              'arn:aws:events:eu-west-1:123456789012:rule/StepFunctionsGetEventsForECSTaskRule',
            ),
          ),
          action,
        ).toBe(true);
      }
      for (const action of ['ecs:StopTask', 'ecs:DescribeTasks']) {
        expect(
          isAllowed(
            statements,
            permission(
              action,
              `arn:aws:ecs:eu-west-1:123456789012:task/${resolve({ Ref: logicalIdOf(synthesized, stack.backups.cluster) })}/abc`,
            ),
          ),
          action,
        ).toBe(true);
      }
    }
  });

  it('lets EventBridge Scheduler invoke the run-backup function, and nothing else', () => {
    const { json, stack } = synthesized;
    const statements = roleStatements(json, logicalIdOf(synthesized, stack.schedules.schedulerRole));
    const runBackup = resolveIntrinsics(
      { 'Fn::GetAtt': [logicalIdOf(synthesized, stack.schedules.runBackup.function), 'Arn'] },
      json,
    );
    const deadLetters = resolveIntrinsics(
      { 'Fn::GetAtt': [logicalIdOf(synthesized, stack.schedules.scheduleDeadLetters.queue), 'Arn'] },
      json,
    );
    expect(statements).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: [runBackup, `${runBackup}:$LATEST`] },
      // Undeliverable firings go to the dead-letter queue, encrypted with the platform key via SQS.
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: deadLetters },
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: expect.stringContaining(':key/'),
        Condition: { StringEquals: { 'kms:ViaService': expect.stringMatching(/^sqs\./) } },
      },
    ]);
    const trust = json.Resources[logicalIdOf(synthesized, stack.schedules.schedulerRole)]?.Properties
      ?.AssumeRolePolicyDocument as { Statement: Array<Record<string, unknown>> };
    expect(trust.Statement).toEqual([
      expect.objectContaining({
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: expect.objectContaining({
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        }),
      }),
    ]);
    synthesized.template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', {
      Name: stack.schedules.groupName,
    });
  });

  it('gives the schedule target, run-backup and sweep KMS-encrypted, TLS-only dead-letter queues, each with an alarm', () => {
    const { template, json, stack } = synthesized;
    const { schedules } = stack;
    const queues = [
      schedules.scheduleDeadLetters,
      schedules.runBackupDeadLetters,
      schedules.sweepDeadLetters,
    ];
    const keyId = logicalIdOf(synthesized, stack.data.key);
    for (const deadLetters of queues) {
      const queueId = logicalIdOf(synthesized, deadLetters.queue);
      expect(json.Resources[queueId]?.Properties).toMatchObject({
        KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
        MessageRetentionPeriod: 14 * 24 * 3600,
      });
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: queueId }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
    for (const [fn, deadLetters] of [
      [schedules.runBackup, schedules.runBackupDeadLetters],
      [schedules.sweep, schedules.sweepDeadLetters],
    ] as const) {
      const functionId = logicalIdOf(synthesized, fn.function);
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: functionId },
        DestinationConfig: {
          OnFailure: { Destination: { 'Fn::GetAtt': [logicalIdOf(synthesized, deadLetters.queue), 'Arn'] } },
        },
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId } }],
      });
    }
  });

  it('sweeps retention hourly', () => {
    const { template, stack } = synthesized;
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalIdOf(synthesized, stack.schedules.sweep.function), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
        }),
      ],
    });
  });
});

describe('alarm notifications', () => {
  const topicId = () => logicalIdOf(synthesized, synthesized.stack.alarms.topic);
  const keyId = () => logicalIdOf(synthesized, synthesized.stack.alarms.key);
  const fromAlarmsOfThisAccount = {
    StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
    ArnLike: { 'aws:SourceArn': Match.objectLike({ 'Fn::Join': Match.anyValue() }) },
  };

  it('go to one topic encrypted with its own rotated key, TLS-only, that CloudWatch alarms of this account may publish to', () => {
    const { template, json } = synthesized;
    template.resourceCountIs('AWS::SNS::Topic', 1);
    expect(json.Resources[topicId()]?.Properties).toMatchObject({
      KmsMasterKeyId: { 'Fn::GetAtt': [keyId(), 'Arn'] },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId() }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: fromAlarmsOfThisAccount,
          }),
        ]),
      },
    });
    expect(json.Resources[keyId()]?.Properties).toMatchObject({ EnableKeyRotation: true });
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: fromAlarmsOfThisAccount,
          }),
        ]),
      },
    });
  });

  it('publish the topic ARN as the AlarmTopicArn output, and subscribe nobody without -c alarmEmail', () => {
    expect(synthesized.json.Outputs?.AlarmTopicArn).toMatchObject({ Value: { Ref: topicId() } });
    synthesized.template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('invariants over the whole stack', () => {
  it('every function runs on ARM64 and the chosen runtime, traced, with JSON logs into its own log group', () => {
    const functions = props('AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(0);
    for (const fn of functions) {
      expect(fn).toMatchObject({
        Architectures: ['arm64'],
        Runtime: LAMBDA_RUNTIME.name,
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogFormat: 'JSON', LogGroup: expect.anything() },
      });
    }
    expect(LAMBDA_RUNTIME.name).toBe('nodejs24.x');
  });

  it('every bucket is private, TLS-only and encrypted', () => {
    const buckets = resources('AWS::S3::Bucket');
    // Backups, their access logs, the Redis snapshot exports... and the web console's files.
    expect(buckets).toHaveLength(4);
    const policies = props('AWS::S3::BucketPolicy').map((policy) => JSON.stringify(policy));
    for (const [id, bucket] of buckets) {
      expect(bucket.Properties?.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(bucket.Properties?.BucketEncryption, id).toBeDefined();
      expect(
        policies.some((policy) => policy.includes(`"Ref":"${id}"`) && policy.includes('aws:SecureTransport')),
        id,
      ).toBe(true);
    }
  });

  it('every alarm notifies the platform alarm topic, on ALARM and on OK', () => {
    const alarms = resources('AWS::CloudWatch::Alarm');
    // The dead-letter queues' and the schedule functions' alarms at least.
    expect(alarms.length).toBeGreaterThanOrEqual(5);
    const topic = { Ref: logicalIdOf(synthesized, synthesized.stack.alarms.topic) };
    for (const [id, alarm] of alarms) {
      expect(alarm.Properties?.AlarmActions, id).toEqual([topic]);
      expect(alarm.Properties?.OKActions, id).toEqual([topic]);
    }
  });

  it('every log group has a retention', () => {
    const groups = props('AWS::Logs::LogGroup');
    expect(groups.length).toBeGreaterThan(0);
    for (const group of groups) expect(group.RetentionInDays).toEqual(expect.any(Number));
  });

  it('every table is encrypted with a customer-managed key and has PITR', () => {
    for (const table of props('AWS::DynamoDB::Table')) {
      expect(table.SSESpecification).toMatchObject({
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: expect.anything(),
      });
      expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    }
  });

  it('every state machine logs everything and is traced', () => {
    const machines = props('AWS::StepFunctions::StateMachine');
    expect(machines.length).toBeGreaterThan(0);
    for (const machine of machines) {
      expect(machine).toMatchObject({
        LoggingConfiguration: { Level: 'ALL', Destinations: [expect.anything()] },
        TracingConfiguration: { Enabled: true },
      });
    }
  });

  it('no role has managed policies, and no statement grants a wildcard action', () => {
    for (const role of props('AWS::IAM::Role')) expect(role.ManagedPolicyArns).toBeUndefined();
    for (const policy of props('AWS::IAM::Policy')) {
      for (const statement of (policy.PolicyDocument as { Statement: Array<{ Action: string | string[] }> })
        .Statement) {
        for (const action of [statement.Action].flat()) expect(action).not.toMatch(/(^\*$|:\*$)/);
      }
    }
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('has no unacknowledged finding', () => {
    expect(synthesized.nagFindings).toEqual([]);
  });

  it('acknowledges each finding with a specific reason', () => {
    const acknowledgements = synthesized.stack.node
      .findAll()
      .flatMap((construct) =>
        construct.node.metadata
          .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((entry) => Object.entries(entry.data as Record<string, string>)),
      )
      .filter(([rule]) => rule.startsWith('AwsSolutions::'));
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const [rule, reason] of acknowledgements) {
      expect(reason.length, rule).toBeGreaterThanOrEqual(40);
      expect(reason, rule).not.toMatch(/\b(todo|fixme|suppress(ed)?|ignore)\b/i);
    }
  });
});

describe('AWS Control Tower proactive controls (cfn-guard)', () => {
  const guardAcknowledgements = () =>
    synthesized.stack.node
      .findAll()
      .flatMap((construct) =>
        construct.node.metadata
          .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((entry) => Object.entries(entry.data as Record<string, string>)),
      )
      .filter(([rule]) => rule.startsWith(`${GUARD_PLUGIN_NAME}::`))
      .map(([rule, reason]) => [rule.slice(GUARD_PLUGIN_NAME.length + 2), reason] as const);

  it('has no unacknowledged finding', () => {
    expect(synthesized.guardFindings).toEqual([]);
  });

  it('acknowledges only the rules that do not fit, each with a specific reason', () => {
    const acknowledgements = guardAcknowledgements();
    for (const [rule, reason] of acknowledgements) {
      expect(reason.length, rule).toBeGreaterThanOrEqual(40);
      expect(reason, rule).not.toMatch(/\b(todo|fixme|suppress(ed)?|ignore)\b/i);
    }
    // The rules fixed in the stack must stay fixed, not be acknowledged away.
    expect([...new Set(acknowledgements.map(([rule]) => rule))].sort()).toEqual([
      'api_gw_v2_authorization_type_configured_check',
      'cloudfront_access_logs_enabled_check',
      'cloudfront_custom_ssl_certificate_check',
      'cloudfront_origin_failover_enabled_check',
      'cloudfront_security_policy_check',
      'cloudfront_sni_enabled_check',
      'lambda_function_public_access_prohibited_check',
      'lambda_inside_vpc_check',
      'rds_db_parameter_group_tls_check',
      's3_bucket_default_encryption_kms_check',
      's3_bucket_logging_enabled_check',
      's3_bucket_object_lock_enabled_check',
      's3_bucket_versioning_enabled_check',
      'sqs_dlq_check',
    ]);
  });

  it('runs the job container as a non-root user on a read-only root filesystem with a memory limit', () => {
    const [task] = props('AWS::ECS::TaskDefinition');
    const containers = task?.ContainerDefinitions as Array<Record<string, unknown>>;
    expect(containers).toHaveLength(1);
    expect(containers[0]).toMatchObject({
      User: '1000:1000',
      ReadonlyRootFilesystem: true,
      Memory: expect.any(Number),
      // Every job connection verifies the RDS server certificate.
      Environment: expect.arrayContaining([
        { Name: 'PGSSLMODE', Value: 'verify-full' },
        { Name: 'PGSSLROOTCERT', Value: '/etc/ssl/certs/rds-global-bundle.pem' },
        { Name: 'ADDONS_MYSQL_SSL_MODE', Value: 'verify-identity' },
        { Name: 'ADDONS_MYSQL_SSL_CA', Value: '/etc/ssl/certs/rds-global-bundle.pem' },
      ]),
    });
    const dockerfile = readFileSync(join(PROJECT_ROOT, 'infra/images/Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  it('encrypts every log group with a key CloudWatch Logs may use, kept for a year', () => {
    const keys = resources('AWS::KMS::Key');
    const logsKeyId = logicalIdOf(synthesized, synthesized.stack.logEncryption.key);
    for (const group of props('AWS::Logs::LogGroup')) {
      expect(group.KmsKeyId).toEqual({ 'Fn::GetAtt': [logsKeyId, 'Arn'] });
      expect(group.RetentionInDays).toBeGreaterThanOrEqual(365);
    }
    const policy = JSON.stringify(keys.find(([id]) => id === logsKeyId)?.[1].Properties?.KeyPolicy);
    expect(policy).toContain('kms:EncryptionContext:aws:logs:arn');
    // Every key refuses grants that are not for an AWS service acting for a caller.
    for (const [id, key] of keys) {
      expect(JSON.stringify(key.Properties?.KeyPolicy), id).toContain('kms:GrantIsForAWSResource');
    }
  });
});

describe('deployment isolation in IAM', () => {
  const deployment = () => synthesized.stack.deploymentName;
  const arn = (service: string, resource: string) =>
    `arn:${FAKE_ENV.partition}:${service}:${FAKE_ENV.region}:${FAKE_ENV.account}:${resource}`;
  const workflowStatements = () =>
    roleStatements(synthesized.json, logicalIdOf(synthesized, synthesized.stack.workflows.taskFunction.role));
  const allowed = (action: string, resource: string, context: Record<string, string | string[]> = {}) =>
    isAllowed(workflowStatements(), { action, resource, context, because: 'test' });
  const ours = () => ({ 'rds:db-tag/addons:deployment': deployment() });
  const theirs = { 'rds:db-tag/addons:deployment': 'AnotherStack' };
  const tagging = (value: string, keys = ['addons:deployment', 'addons:project']) => ({
    'aws:RequestTag/addons:deployment': value,
    'aws:TagKeys': keys,
  });

  it("conditions every statement that changes RDS or EC2 resources on this deployment's tag, but for the references creates must name", () => {
    const mutating = /^(rds:(Create|Modify|Delete|Restore|AddTags)|ec2:(Create|Authorize|Revoke|Delete))/;
    // Read by a create or restore only, never changed: the subnet group, our parameter groups, the
    // engine's default option group (which cannot carry our tag), DocumentDB's cluster parameter
    // groups, and our VPC.
    const referenced = /:(subgrp|pg|og|cluster-pg):|:vpc\//;
    const roles = resourcesOfType(synthesized.json, 'AWS::IAM::Role').map(([id]) => id);
    let checked = 0;
    for (const role of roles) {
      for (const statement of roleStatements(synthesized.json, role)) {
        const actions = [statement.Action].flat();
        if (!actions.some((action) => mutating.test(action))) continue;
        const resources = [statement.Resource].flat();
        if (resources.every((resource) => referenced.test(resource))) continue;
        checked += 1;
        expect(JSON.stringify(statement.Condition), `${role}: ${actions.join(',')}`).toContain(
          `/addons:deployment":"${deployment()}"`,
        );
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  it("lets the workflow change and delete this deployment's instances, snapshots and groups, never another's or untagged ones", () => {
    const db = arn('rds', 'db:addon-x');
    const snapshot = arn('rds', 'snapshot:addon-x-bkp-1');
    const group = arn('ec2', 'security-group/sg-1');
    for (const action of ['rds:ModifyDBInstance', 'rds:DeleteDBInstance', 'rds:CreateDBSnapshot']) {
      expect(allowed(action, db, ours()), action).toBe(true);
      expect(allowed(action, db, theirs), action).toBe(false);
      expect(allowed(action, db), action).toBe(false);
    }
    for (const action of ['rds:DeleteDBSnapshot', 'rds:RestoreDBInstanceFromDBSnapshot']) {
      expect(allowed(action, snapshot, { 'rds:snapshot-tag/addons:deployment': deployment() }), action).toBe(
        true,
      );
      expect(
        allowed(action, snapshot, { 'rds:snapshot-tag/addons:deployment': 'AnotherStack' }),
        action,
      ).toBe(false);
    }
    for (const action of [
      'ec2:AuthorizeSecurityGroupIngress',
      'ec2:AuthorizeSecurityGroupEgress',
      'ec2:RevokeSecurityGroupEgress',
      'ec2:DeleteSecurityGroup',
    ]) {
      expect(allowed(action, group, { 'aws:ResourceTag/addons:deployment': deployment() }), action).toBe(
        true,
      );
      expect(allowed(action, group, { 'aws:ResourceTag/addons:deployment': 'AnotherStack' }), action).toBe(
        false,
      );
      expect(allowed(action, group), action).toBe(false);
    }
  });

  it('requires creates to tag what they create as this deployment’s, with platform tag keys only', () => {
    const db = arn('rds', 'db:addon-x');
    const snapshot = arn('rds', 'snapshot:addon-x-bkp-1');
    const group = arn('ec2', 'security-group/sg-new');
    for (const [action, resource] of [
      ['rds:CreateDBInstance', db],
      ['rds:RestoreDBInstanceFromDBSnapshot', db],
      ['rds:CreateDBSnapshot', snapshot],
      ['rds:AddTagsToResource', db],
      ['ec2:CreateSecurityGroup', group],
    ] as const) {
      expect(allowed(action, resource, tagging(deployment())), action).toBe(true);
      expect(allowed(action, resource), `${action} untagged`).toBe(false);
      expect(allowed(action, resource, tagging('AnotherStack')), action).toBe(false);
      expect(allowed(action, resource, tagging(deployment(), ['addons:deployment', 'owner'])), action).toBe(
        false,
      );
    }
  });

  it("lets the workflow create MySQL instances as it does PostgreSQL ones: tagged as ours, with this deployment's MySQL parameter groups and RDS's MySQL option groups only", () => {
    const { json, stack } = synthesized;
    const env = parseEnv(
      WorkflowFunctionEnvSchema,
      functionEnvironment(json, logicalIdOf(synthesized, stack.workflows.taskFunction.function)),
    );
    const db = arn('rds', 'db:addon-x');
    const pg = (name: string | undefined) => arn('rds', `pg:${String(name)}`);
    for (const action of ['rds:CreateDBInstance', 'rds:RestoreDBInstanceFromDBSnapshot']) {
      for (const major of ENGINES.mysql.versions.aws) {
        expect(allowed(action, pg(env.TLS_PARAMETER_GROUPS.mysql?.[major])), `${action} ${major}`).toBe(true);
        expect(allowed(action, pg(env.NO_TLS_PARAMETER_GROUPS.mysql?.[major])), `${action} ${major}`).toBe(
          true,
        );
        expect(allowed(action, arn('rds', `og:default:mysql-${major.replace('.', '-')}`)), action).toBe(true);
      }
      // Not RDS's default groups (they do not force TLS), not another engine's option groups.
      expect(allowed(action, pg('default.mysql8.4')), action).toBe(false);
      expect(allowed(action, arn('rds', 'og:default:mariadb-10-11')), action).toBe(false);
      expect(allowed(action, db, tagging(deployment())), action).toBe(true);
      expect(allowed(action, db, tagging('AnotherStack')), action).toBe(false);
    }
    // Once created, a MySQL instance is an `addon-` instance like any other: same conditions.
    for (const action of ['rds:ModifyDBInstance', 'rds:DeleteDBInstance', 'rds:CreateDBSnapshot']) {
      expect(allowed(action, db, ours()), action).toBe(true);
      expect(allowed(action, db, theirs), action).toBe(false);
    }
  });

  it("cannot retag another deployment's instance as its own to take it over", () => {
    expect(
      allowed('rds:AddTagsToResource', arn('rds', 'db:addon-x'), { ...tagging(deployment()), ...theirs }),
    ).toBe(false);
  });
});
