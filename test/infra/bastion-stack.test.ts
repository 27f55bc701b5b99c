import { beforeAll, describe, expect, it } from 'vitest';
import { parseFlag } from '#infra/aws/addons-app.ts';
import { BASTION_OUTPUT } from '#infra/aws/addons-stack.ts';
import type { Bastion } from '#infra/aws/constructs/bastion.ts';
import { parseEnv, ReconcileFunctionEnvSchema, WorkflowFunctionEnvSchema } from '#shared/config/env.ts';
import { BASTION_OUTPUT as TUNNEL_LOOKS_UP } from '../../cli/tunnel.ts';
import { logicalIdOf } from '../workflows/support/aws-workflows.ts';
import { deniedPermissions, roleStatements } from './support/iam.ts';
import { functionEnvironment, resolveIntrinsics } from './support/intrinsics.ts';
import {
  resourcesOfType,
  SYNTH_TIMEOUT_MS,
  type SynthesizedStack,
  synthesizeAddons,
} from './support/stack.ts';

/**
 * The opt-in Session Manager bastion (`-c bastion=true`, docs/networking.md): absent from the
 * default stack (the one the other infra files share), and with the flag one more synthesis, as
 * `cdk synth -c bastion=true` runs it, cdk-nag and cfn-guard included. cfn-guard checks the
 * resources the bastion adds or changes; addons-stack.test.ts checks the default stack's.
 */
let standard: SynthesizedStack;
let withBastion: SynthesizedStack;
let bastion: Bastion;

const resourceOf = (synthesized: SynthesizedStack, construct: { node: { defaultChild?: unknown } }) => {
  const resource = synthesized.json.Resources[logicalIdOf(synthesized, construct)];
  if (!resource) throw new Error('no such resource');
  return resource.Properties ?? {};
};
const groupIdOf = (synthesized: SynthesizedStack, group: { node: { defaultChild?: unknown } }) => ({
  'Fn::GetAtt': [logicalIdOf(synthesized, group), 'GroupId'],
});
const workflowEnv = (synthesized: SynthesizedStack) =>
  parseEnv(
    WorkflowFunctionEnvSchema,
    functionEnvironment(
      synthesized.json,
      logicalIdOf(synthesized, synthesized.stack.workflows.taskFunction.function),
    ),
  );
const reconcilerEnv = (synthesized: SynthesizedStack) =>
  parseEnv(
    ReconcileFunctionEnvSchema,
    functionEnvironment(
      synthesized.json,
      logicalIdOf(synthesized, synthesized.stack.reconciler.function.function),
    ),
  );
const SESSION_SERVICES = ['ec2messages', 'ssm', 'ssmmessages'];
const serviceOf = (endpoint: { Properties?: Record<string, unknown> }) =>
  JSON.stringify(endpoint.Properties?.ServiceName).match(/\.([a-z0-9]+)"\]\]\}$/)?.[1];

describe('the Session Manager bastion', () => {
  beforeAll(() => {
    standard = synthesizeAddons();
    withBastion = synthesizeAddons({ context: { bastion: 'true' }, guard: 'changes' });
    if (!withBastion.stack.bastion) throw new Error('-c bastion=true made no bastion');
    bastion = withBastion.stack.bastion;
  }, SYNTH_TIMEOUT_MS * 2);

  it('is off by default: no instance, no Session Manager endpoints, no output, no group for the workflows', () => {
    expect(standard.stack.bastion).toBeUndefined();
    expect(resourcesOfType(standard.json, 'AWS::EC2::Instance')).toEqual([]);
    const services = resourcesOfType(standard.json, 'AWS::EC2::VPCEndpoint').map(([, endpoint]) =>
      serviceOf(endpoint),
    );
    expect(services.filter((service) => SESSION_SERVICES.includes(service ?? ''))).toEqual([]);
    expect(standard.json.Outputs?.[BASTION_OUTPUT]).toBeUndefined();
    expect(workflowEnv(standard).BASTION_SECURITY_GROUP_ID).toBeUndefined();
  });

  it('passes cdk-nag and the Control Tower controls with the flag on', () => {
    expect(withBastion.nagFindings).toEqual([]);
    expect(withBastion.guardFindings).toEqual([]);
    // What the flag adds and changes is what cfn-guard checked: the default stack's resources are
    // checked by addons-stack.test.ts.
    expect(withBastion.guardChecked).toEqual(
      expect.arrayContaining(
        [
          bastion.instance,
          bastion.role,
          bastion.securityGroup,
          withBastion.stack.workflows.taskFunction.function,
          withBastion.stack.reconciler.function.function,
        ].map((construct) => logicalIdOf(withBastion, construct)),
      ),
    );
  });

  it('is one Amazon Linux 2023 ARM t4g.nano: no key, no public address, IMDSv2 only, an encrypted root volume', () => {
    const instances = resourcesOfType(withBastion.json, 'AWS::EC2::Instance');
    expect(instances).toHaveLength(1);
    const instance = resourceOf(withBastion, bastion.instance);
    expect(instance.InstanceType).toBe('t4g.nano');
    expect(instance.KeyName).toBeUndefined();
    expect(instance.MetadataOptions).toEqual({ HttpTokens: 'required' });
    expect(instance.BlockDeviceMappings).toEqual([
      { DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeSize: 8, VolumeType: 'gp3' } },
    ]);
    expect(instance.NetworkInterfaces).toEqual([
      expect.objectContaining({
        AssociatePublicIpAddress: false,
        GroupSet: [groupIdOf(withBastion, bastion.securityGroup)],
        SubnetId: {
          Ref: logicalIdOf(withBastion, withBastion.stack.network.vpc.isolatedSubnets[0] as never),
        },
      }),
    ]);
    const image = withBastion.json as { Parameters?: Record<string, { Default?: string }> };
    const imageParameter = (instance.ImageId as { Ref: string }).Ref;
    expect(image.Parameters?.[imageParameter]?.Default).toMatch(/al2023-ami-kernel-.*-arm64$/);
  });

  it('admits nothing inbound, and sends only HTTPS and the engine ports inside the VPC', () => {
    const group = resourceOf(withBastion, bastion.securityGroup);
    expect(group.SecurityGroupIngress).toBeUndefined();
    const ownGroup = JSON.stringify(groupIdOf(withBastion, bastion.securityGroup));
    const ingressRules = resourcesOfType(withBastion.json, 'AWS::EC2::SecurityGroupIngress').filter(
      ([, rule]) => JSON.stringify(rule.Properties?.GroupId) === ownGroup,
    );
    expect(ingressRules).toEqual([]);
    const vpcCidr = { 'Fn::GetAtt': [logicalIdOf(withBastion, withBastion.stack.network.vpc), 'CidrBlock'] };
    const enginePorts = withBastion.stack.engines.map((engine) => engine.port);
    expect(enginePorts.sort()).toEqual([27017, 3306, 5432, 6379].sort());
    expect(group.SecurityGroupEgress).toEqual([
      expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 }),
      ...withBastion.stack.engines.map((engine) =>
        expect.objectContaining({
          CidrIp: vpcCidr,
          IpProtocol: 'tcp',
          FromPort: engine.port,
          ToPort: engine.port,
        }),
      ),
    ]);
  });

  it('has the SSM, SSM messages and EC2 messages endpoints in its subnet, reachable from its group only', () => {
    const endpoints = resourcesOfType(withBastion.json, 'AWS::EC2::VPCEndpoint').filter(([, endpoint]) =>
      SESSION_SERVICES.includes(serviceOf(endpoint) ?? ''),
    );
    expect(endpoints.map(([, endpoint]) => serviceOf(endpoint)).sort()).toEqual(SESSION_SERVICES);
    const subnet = (
      resourceOf(withBastion, bastion.instance).NetworkInterfaces as Array<{ SubnetId: unknown }>
    )[0]?.SubnetId;
    const groups = new Set<string>();
    for (const [, endpoint] of endpoints) {
      expect(endpoint.Properties).toMatchObject({ VpcEndpointType: 'Interface', PrivateDnsEnabled: true });
      expect(endpoint.Properties?.SubnetIds).toEqual([subnet]);
      groups.add(JSON.stringify(endpoint.Properties?.SecurityGroupIds));
    }
    expect(groups.size).toBe(1);
    const [endpointGroup] = JSON.parse([...groups][0] as string) as Array<{ 'Fn::GetAtt': [string, string] }>;
    const admitted = resourcesOfType(withBastion.json, 'AWS::EC2::SecurityGroupIngress')
      .map(([, rule]) => rule.Properties ?? {})
      .filter((rule) => JSON.stringify(rule.GroupId) === JSON.stringify(endpointGroup));
    expect(admitted).toEqual([
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        SourceSecurityGroupId: groupIdOf(withBastion, bastion.securityGroup),
      }),
    ]);
  });

  it('runs as a role with AmazonSSMManagedInstanceCore and nothing else', () => {
    const role = resourceOf(withBastion, bastion.role);
    expect(role.ManagedPolicyArns).toEqual([
      {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore'],
        ],
      },
    ]);
    expect(role.Policies).toBeUndefined();
    const roleRef = JSON.stringify({ Ref: logicalIdOf(withBastion, bastion.role) });
    const attached = resourcesOfType(withBastion.json, 'AWS::IAM::Policy').filter(([, policy]) =>
      JSON.stringify(policy.Properties?.Roles ?? []).includes(roleRef),
    );
    expect(attached).toEqual([]);
  });

  it("is admitted by every new addon's group: the workflows get its group, as they get the job group", () => {
    // The provisioning (AddonSecurityGroups.ensureAddonGroup, test/unit/aws-addon-security-groups.test.ts)
    // adds the rule from this group on the engine port of each addon's group.
    expect(workflowEnv(withBastion).BASTION_SECURITY_GROUP_ID).toBe(
      resolveIntrinsics(groupIdOf(withBastion, bastion.securityGroup), withBastion.json),
    );
  });

  it("reaches addons created before it: the reconciler gets its group and may change the deployment's addon groups only", () => {
    // BastionAccess (test/unit/aws-bastion-access.test.ts) adds the missing rules and, without a
    // bastion, revokes a former one's.
    expect(reconcilerEnv(withBastion).BASTION_SECURITY_GROUP_ID).toBe(
      resolveIntrinsics(groupIdOf(withBastion, bastion.securityGroup), withBastion.json),
    );
    expect(reconcilerEnv(standard).BASTION_SECURITY_GROUP_ID).toBeUndefined();
    const statements = roleStatements(
      standard.json,
      logicalIdOf(standard, standard.stack.reconciler.function.role),
    );
    const change = (command: string, deployment: string) => ({
      service: 'ec2' as const,
      command,
      input: { GroupId: 'sg-0addon' },
      resourceTags: { 'addons:deployment': deployment, 'addons:addon': 'adn-old' },
    });
    const ours = ['AuthorizeSecurityGroupIngress', 'RevokeSecurityGroupIngress'].map((command) =>
      change(command, 'Addons'),
    );
    expect(
      deniedPermissions(
        statements,
        [{ service: 'ec2', command: 'DescribeSecurityGroups', input: {} }, ...ours],
        {},
      ),
    ).toEqual([]);
    expect(
      deniedPermissions(statements, [change('AuthorizeSecurityGroupIngress', 'Other')], {}),
    ).toHaveLength(1);
  });

  it('names its instance in the output `addons tunnel` looks up', () => {
    expect(TUNNEL_LOOKS_UP).toBe(BASTION_OUTPUT);
    expect(withBastion.json.Outputs?.[BASTION_OUTPUT]).toMatchObject({
      Value: { Ref: logicalIdOf(withBastion, bastion.instance) },
    });
  });
});

describe('the -c bastion context flag', () => {
  it('is on for true (a boolean in cdk.json, a string from -c), off when absent or false, refused otherwise', () => {
    expect(parseFlag('bastion', 'true')).toBe(true);
    expect(parseFlag('bastion', true)).toBe(true);
    expect(parseFlag('bastion', undefined)).toBe(false);
    expect(parseFlag('bastion', 'false')).toBe(false);
    expect(() => parseFlag('bastion', 'yes')).toThrow('-c bastion must be true or false, not "yes"');
  });
});
