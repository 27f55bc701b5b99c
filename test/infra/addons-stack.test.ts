import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_RUNTIME, PROJECT_ROOT } from '#infra/aws/bundling.ts';
import { API_FUNCTIONS_PENDING_ON_AWS } from '#infra/aws/constructs/api.ts';
import { STATE_MACHINES_DIR } from '#infra/aws/constructs/workflows.ts';
import { API_FUNCTIONS, routeKey } from '#shared/api/route.ts';
import { allRoutes } from '#shared/api/routes.ts';
import { ENGINES } from '#shared/catalog/engines.ts';
import {
  AddonsFunctionEnvSchema,
  CatalogFunctionEnvSchema,
  CredentialsFunctionEnvSchema,
  MetaFunctionEnvSchema,
  OperationsFunctionEnvSchema,
  parseEnv,
  WorkflowFunctionEnvSchema,
} from '#shared/config/env.ts';
import { WORKFLOWS } from '#shared/ports/workflow-starter.ts';
import { tableDefinition } from '#shared/store/table.ts';
import { logicalIdOf } from '../workflows/support/aws-workflows.ts';
import { isAllowed, roleStatements } from './support/iam.ts';
import { functionEnvironment, resolveIntrinsics } from './support/intrinsics.ts';
import { resourcesOfType, type SynthesizedStack, synthesizeAddons } from './support/stack.ts';

let synthesized: SynthesizedStack;
// Synthesis (cdk-nag included) takes seconds; on a busy 2-core CI machine, tens of them.
const SYNTH_TIMEOUT = 180_000;
beforeAll(() => {
  synthesized = synthesizeAddons();
}, SYNTH_TIMEOUT);

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
    expect(parseEnv(WorkflowFunctionEnvSchema, workflow).POSTGRES_TLS_PARAMETER_GROUPS).toEqual(
      Object.fromEntries(ENGINES.postgresql.versions.aws.map((major) => [major, expect.any(String)])),
    );
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
  it('has isolated subnets only: no internet or NAT gateway, no public IPs', () => {
    const { template } = synthesized;
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    const subnets = props('AWS::EC2::Subnet');
    expect(subnets.length).toBeGreaterThanOrEqual(2);
    for (const subnet of subnets) expect(subnet.MapPublicIpOnLaunch).toBe(false);
    for (const route of props('AWS::EC2::Route')) expect(route.DestinationCidrBlock).not.toBe('0.0.0.0/0');
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
  });

  it('leaves addon security groups and instances to the workflow: CDK creates only the client group', () => {
    const { template } = synthesized;
    template.resourceCountIs('AWS::RDS::DBInstance', 0);
    template.resourceCountIs('AWS::EC2::SecurityGroup', 1);
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: Match.absent(),
      SecurityGroupEgress: [Match.objectLike({ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432 })],
    });
  });

  it('gives RDS a subnet group over the isolated subnets and a TLS parameter group per catalog major', () => {
    const { template } = synthesized;
    const [group] = props('AWS::RDS::DBSubnetGroup');
    expect((group?.SubnetIds as unknown[] | undefined)?.length).toBeGreaterThanOrEqual(2);
    const parameterGroups = props('AWS::RDS::DBParameterGroup');
    expect(parameterGroups.map((group) => group.Family).sort()).toEqual(
      ENGINES.postgresql.versions.aws.map((major) => `postgres${major}`).sort(),
    );
    for (const parameters of parameterGroups) expect(parameters.Parameters).toEqual({ 'rds.force_ssl': '1' });
    template.resourceCountIs('AWS::RDS::DBParameterGroup', ENGINES.postgresql.versions.aws.length);
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
    for (const workflow of ['provision-addon', 'delete-addon'] as const) {
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
