import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AddonSecurityGroups } from '#shared/providers/aws/addon-security-groups.ts';

const ec2 = mockClient(EC2Client);
afterEach(() => ec2.reset());
afterAll(() => ec2.restore());

const SPEC = { resourceId: 'adn-a1-r1', projectId: 'p1', addonId: 'adn-a1', label: 'Test addon' };
const CLIENTS = 'sg-clients';
const BASTION = 'sg-bastion';

const groups = (bastionGroupId?: string) =>
  new AddonSecurityGroups({
    ec2: new EC2Client({}),
    vpcId: 'vpc-1',
    vpcCidr: '10.60.0.0/16',
    deployment: 'Addons',
    port: 5432,
    ...(bastionGroupId ? { bastionGroupId } : {}),
  });

/** The addon's group exists already, with these ingress rules. */
const existingGroup = (permissions: IpPermission[]) =>
  ec2
    .on(DescribeSecurityGroupsCommand)
    .resolves({ SecurityGroups: [{ GroupId: 'sg-addon', IpPermissions: permissions }] });

const from = (groupId: string): IpPermission => ({
  IpProtocol: 'tcp',
  FromPort: 5432,
  ToPort: 5432,
  UserIdGroupPairs: [{ GroupId: groupId }],
});

const admitted = () =>
  ec2
    .commandCalls(AuthorizeSecurityGroupIngressCommand)
    .flatMap((call) => call.args[0].input.IpPermissions ?? [])
    .map((rule) => ({
      port: rule.FromPort,
      to: rule.ToPort,
      source: rule.UserIdGroupPairs?.[0]?.GroupId,
      description: rule.UserIdGroupPairs?.[0]?.Description,
    }));

describe("an addon's security group and the deployment's bastion", () => {
  it('admits the bastion group on the engine port beside the project clients', async () => {
    existingGroup([]);
    ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true });
    expect(await groups(BASTION).ensureAddonGroup(SPEC, CLIENTS)).toBe('sg-addon');
    expect(admitted()).toEqual([
      { port: 5432, to: 5432, source: CLIENTS, description: 'Clients of project p1' },
      { port: 5432, to: 5432, source: BASTION, description: 'Session Manager bastion of the deployment' },
    ]);
  });

  it('adds only the missing rule to a group that admits the clients already (an addon from before the bastion)', async () => {
    existingGroup([from(CLIENTS)]);
    ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true });
    await groups(BASTION).ensureAddonGroup(SPEC, CLIENTS);
    expect(admitted().map((rule) => rule.source)).toEqual([BASTION]);
  });

  it('changes nothing when both are admitted, and admits no bastion in a deployment without one', async () => {
    existingGroup([from(CLIENTS), from(BASTION)]);
    await groups(BASTION).ensureAddonGroup(SPEC, CLIENTS);
    expect(admitted()).toEqual([]);
    ec2.reset();
    existingGroup([]);
    ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true });
    await groups().ensureAddonGroup(SPEC, CLIENTS);
    expect(admitted().map((rule) => rule.source)).toEqual([CLIENTS]);
  });
});
