import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  type IpPermission,
  RevokeSecurityGroupIngressCommand,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { logger } from '#functions/api/logger.ts';
import { createReconcileHandler } from '#functions/schedule/reconcile.ts';
import { BASTION_RULE_DESCRIPTION } from '#shared/providers/aws/addon-security-groups.ts';
import { BastionAccess } from '#shared/providers/aws/bastion-access.ts';

/**
 * The bastion's rule converging on every addon group of the deployment (the reconciler's pass,
 * shared/providers/aws/bastion-access.ts), EC2 faked: added where an addon created before
 * `-c bastion=true` lacks it, on the port its project's clients use; a former bastion's rule
 * revoked; every one revoked once the bastion is off; nothing sent where all is in place.
 */
const ec2 = mockClient(EC2Client);
afterAll(() => ec2.restore());
beforeEach(() => ec2.reset());

const client = new EC2Client({
  region: 'eu-west-1',
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
});
const BASTION = 'sg-0bastion';

const clients = (port: number, group = 'sg-0clients'): IpPermission => ({
  IpProtocol: 'tcp',
  FromPort: port,
  ToPort: port,
  UserIdGroupPairs: [{ GroupId: group, Description: 'Clients of project proj-a' }],
});
const bastionRule = (port: number, group = BASTION): IpPermission => ({
  IpProtocol: 'tcp',
  FromPort: port,
  ToPort: port,
  UserIdGroupPairs: [{ GroupId: group, Description: BASTION_RULE_DESCRIPTION }],
});
const groups = (list: SecurityGroup[]) =>
  ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: list });
const access = (bastionGroupId?: string) =>
  new BastionAccess({ ec2: client, vpcId: 'vpc-0a', deployment: 'Addons', bastionGroupId });
const inputs = (
  command: typeof AuthorizeSecurityGroupIngressCommand | typeof RevokeSecurityGroupIngressCommand,
) => ec2.commandCalls(command).map((call) => call.args[0].input);

describe('bastion access on AWS addon groups', () => {
  it('admits the bastion in groups created before it, on their clients port; leaves the others alone', async () => {
    groups([
      { GroupId: 'sg-0old', IpPermissions: [clients(5432)] },
      { GroupId: 'sg-0new', IpPermissions: [clients(3306), bastionRule(3306)] },
      // Two client groups on one port (a rule each) make one bastion rule.
      { GroupId: 'sg-0two', IpPermissions: [clients(6379), clients(6379, 'sg-0jobs')] },
    ]);

    const summary = await access(BASTION).converge();

    expect(summary).toEqual({ admitted: ['sg-0old 5432', 'sg-0two 6379'], revoked: [], failed: [] });
    expect(inputs(AuthorizeSecurityGroupIngressCommand)).toEqual([
      { GroupId: 'sg-0old', IpPermissions: [bastionRule(5432)] },
      { GroupId: 'sg-0two', IpPermissions: [bastionRule(6379)] },
    ]);
    expect(inputs(RevokeSecurityGroupIngressCommand)).toEqual([]);
    expect(ec2.commandCalls(DescribeSecurityGroupsCommand)[0]?.args[0].input.Filters).toEqual([
      { Name: 'vpc-id', Values: ['vpc-0a'] },
      { Name: 'tag:addons:deployment', Values: ['Addons'] },
      { Name: 'tag-key', Values: ['addons:addon'] },
    ]);
  });

  it('a rule already there (InvalidPermission.Duplicate) is fine, and a second pass sends nothing', async () => {
    groups([{ GroupId: 'sg-0old', IpPermissions: [clients(5432)] }]);
    ec2
      .on(AuthorizeSecurityGroupIngressCommand)
      .rejects(Object.assign(new Error('the rule already exists'), { name: 'InvalidPermission.Duplicate' }));

    await expect(access(BASTION).converge()).resolves.toMatchObject({
      admitted: ['sg-0old 5432'],
      failed: [],
    });

    ec2.reset();
    groups([{ GroupId: 'sg-0old', IpPermissions: [clients(5432), bastionRule(5432)] }]);
    await expect(access(BASTION).converge()).resolves.toEqual({ admitted: [], revoked: [], failed: [] });
    expect(inputs(AuthorizeSecurityGroupIngressCommand)).toEqual([]);
  });

  it('a former bastion (the stack replaced it) loses its rule as the current one gains it', async () => {
    groups([{ GroupId: 'sg-0a', IpPermissions: [clients(5432), bastionRule(5432, 'sg-0former')] }]);

    const summary = await access(BASTION).converge();

    expect(summary).toMatchObject({ admitted: ['sg-0a 5432'], revoked: ['sg-0a 5432'] });
    expect(inputs(RevokeSecurityGroupIngressCommand)).toEqual([
      {
        GroupId: 'sg-0a',
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, UserIdGroupPairs: [{ GroupId: 'sg-0former' }] },
        ],
      },
    ]);
  });

  it('the bastion turned off: every bastion rule is revoked (gone already is fine), nothing admitted', async () => {
    groups([
      { GroupId: 'sg-0a', IpPermissions: [clients(5432), bastionRule(5432)] },
      { GroupId: 'sg-0b', IpPermissions: [clients(27017), bastionRule(27017)] },
      { GroupId: 'sg-0c', IpPermissions: [clients(6379)] },
    ]);
    ec2
      .on(RevokeSecurityGroupIngressCommand, { GroupId: 'sg-0b' })
      .rejects(Object.assign(new Error('no such rule'), { name: 'InvalidPermission.NotFound' }));

    const summary = await access(undefined).converge();

    expect(summary).toEqual({ admitted: [], revoked: ['sg-0a 5432', 'sg-0b 27017'], failed: [] });
    expect(inputs(AuthorizeSecurityGroupIngressCommand)).toEqual([]);
    // The clients' rules stay.
    expect(
      inputs(RevokeSecurityGroupIngressCommand).map((input) => input.IpPermissions?.[0]?.UserIdGroupPairs),
    ).toEqual([[{ GroupId: BASTION }], [{ GroupId: BASTION }]]);
  });

  it('a group EC2 refuses is reported; the others still converge', async () => {
    groups([
      { GroupId: 'sg-0bad', IpPermissions: [clients(5432)] },
      { GroupId: 'sg-0good', IpPermissions: [clients(5432)] },
    ]);
    ec2
      .on(AuthorizeSecurityGroupIngressCommand, { GroupId: 'sg-0bad' })
      .rejects(Object.assign(new Error('not authorized'), { name: 'UnauthorizedOperation' }));

    const summary = await access(BASTION).converge();

    expect(summary.admitted).toEqual(['sg-0good 5432']);
    expect(summary.failed).toEqual([
      { groupId: 'sg-0bad', reason: expect.stringContaining('admitting the bastion in sg-0bad') },
    ]);
  });
});

describe('the reconciler runs the pass', () => {
  const reconciler = {
    run: async () => ({
      operations: { failed: [], restarted: [] },
      locks: { released: [] },
      events: { republished: [], backupHealth: [] },
      leftovers: { removed: [], kept: [], failed: [] },
      errors: [],
    }),
  };
  const handlerWith = (bastion: { converge: () => Promise<never> | ReturnType<BastionAccess['converge']> }) =>
    createReconcileHandler({
      logger,
      metrics: new Metrics({ namespace: 'Addons', serviceName: 'test' }),
      reconciler: reconciler as never,
      bastion,
    });
  const context = {
    functionName: 'reconcile',
    awsRequestId: 'r',
    getRemainingTimeInMillis: () => 60_000,
  } as never;

  it('on every run, its changes in the summary; a pass that fails is a step error, the rest stands', async () => {
    const done = await handlerWith({
      converge: async () => ({ admitted: ['sg-0old 5432'], revoked: [], failed: [] }),
    })({ leftovers: false }, context);
    expect(done).toMatchObject({ bastion: { admitted: ['sg-0old 5432'] }, errors: [] });

    const failed = await handlerWith({
      converge: async () => {
        throw new Error('DescribeSecurityGroups throttled');
      },
    })({ leftovers: false }, context);
    expect(failed.errors).toEqual([{ step: 'bastion', reason: 'DescribeSecurityGroups throttled' }]);
  });
});
