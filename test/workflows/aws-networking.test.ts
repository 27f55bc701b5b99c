import { RDSServiceException } from '@aws-sdk/client-rds';
import { describe, expect, it } from 'vitest';
import { NetworkingService } from '#shared/services/networking.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import { deniedPermissions, roleStatements } from '../infra/support/iam.ts';
import { awsWorkflowSuite } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';

/**
 * update-networking as deployed on an RDS (PostgreSQL) addon: the ASL with the stack's
 * substitutions, the AWS workflow function, RDS and EC2 faked (ModifyDBInstance puts the instance
 * in `modifying`; a parameter group switch stays `pending-reboot` until RebootDBInstance), DynamoDB
 * real. Public: one ingress rule per CIDR on the addon's own group, PubliclyAccessible on, the
 * same endpoint published as `public`; private again revokes them; TLS switches the parameter
 * group and reboots. A failure puts the previous networking back and fails the operation.
 */

const PROJECT = 'proj-net';
const { world, recorded, running, flushCalls, secretOf, callEnvironment } = awsWorkflowSuite(PROJECT, {
  namePrefix: 'net',
});

const ALLOW = ['203.0.113.7/32', '198.51.100.0/24'];

const change = async (
  addon: AddonRecord,
  networking: { tls?: boolean; public?: boolean; allow?: string[] },
) => {
  const service = new NetworkingService({
    store: world().store,
    workflows: world().workflows,
    target: 'aws',
  });
  const { operation } = await service.update(PROJECT, addon.id, { networking });
  // Answered before anything is applied: the workflow carries the change.
  expect(operation.status).toBe('pending');
  await world().workflows.idle();
  return {
    operation: await world().store.getOperation(PROJECT, operation.id),
    addon: await world().store.getAddon(PROJECT, addon.id),
  };
};

const groupOf = (addon: AddonRecord) =>
  [...world().fake.groups.values()].find((group) => group.name === addon.resourceId);

/** The CIDRs the addon's own group admits on the engine port. */
const admittedCidrs = (addon: AddonRecord) =>
  (groupOf(addon)?.permissions ?? []).flatMap((rule) => (rule.IpRanges ?? []).map((range) => range.CidrIp));

const ingressRule = (addon: AddonRecord, cidr: string, description = true) => ({
  GroupId: groupOf(addon)?.id,
  IpPermissions: [
    {
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      IpRanges: [
        { CidrIp: cidr, ...(description ? { Description: 'Allowed while the addon is public' } : {}) },
      ],
    },
  ],
});

const endpointOf = (addon: AddonRecord) => `${addon.resourceId}.abcdefghijkl.eu-west-1.rds.amazonaws.com`;

describe('update-networking on AWS (RDS)', () => {
  it('creates RDS addons in the public DB subnet group, private (PubliclyAccessible off)', async () => {
    const addon = await running();
    const settings = world().fake.instances.get(addon.resourceId)?.settings;
    expect(world().env.RDS_SUBNET_GROUP_NAME).toBeTruthy();
    expect(settings).toMatchObject({
      DBSubnetGroupName: world().env.RDS_SUBNET_GROUP_NAME,
      PubliclyAccessible: false,
    });
    expect(admittedCidrs(addon)).toEqual([]);
  });

  it('public: one ingress rule per CIDR, PubliclyAccessible on, waits out `modifying`, publishes the public endpoint', async () => {
    const addon = await running();
    const { operation, addon: after } = await change(addon, { public: true, allow: ALLOW });

    expect(operation).toMatchObject({ type: 'update-networking', status: 'completed', error: null });
    expect(operation.message).toBe(`TLS required; public from ${ALLOW.join(', ')}`);
    expect(after).toMatchObject({
      status: 'running',
      currentOperationId: null,
      tls: true,
      publicAccess: true,
      allowedCidrs: ALLOW,
    });
    expect(world().fake.inputsOf('ec2', 'AuthorizeSecurityGroupIngress')).toEqual(
      ALLOW.map((cidr) => ingressRule(addon, cidr)),
    );
    expect(world().fake.commands('ec2')).not.toContain('RevokeSecurityGroupIngress');
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, PubliclyAccessible: true, ApplyImmediately: true },
    ]);
    // Looked up before the modify, described through `modifying` until available, once more to complete.
    expect(world().fake.commands('rds')).toEqual([
      'DescribeDBInstances',
      'ModifyDBInstance',
      'DescribeDBInstances',
      'DescribeDBInstances',
      'DescribeDBInstances',
    ]);
    // The project's clients keep their rule; the group admits the CIDRs besides, on 5432 only.
    expect(groupOf(addon)?.permissions.some((rule) => rule.UserIdGroupPairs?.length)).toBe(true);
    expect(admittedCidrs(addon)).toEqual(ALLOW);
    const secret = secretOf(addon.id);
    expect(secret).toMatchObject({
      host: endpointOf(addon),
      port: 5432,
      tls: true,
      public: {
        host: endpointOf(addon),
        port: 5432,
        uri: expect.stringMatching(new RegExp(`@${endpointOf(addon)}:5432/\\w+\\?sslmode=require$`)),
      },
    });
    flushCalls();

    // Private again: each rule revoked (one call per CIDR), PubliclyAccessible off, `public` unpublished.
    const privateAgain = await change(after, { public: false });
    expect(privateAgain.operation.status).toBe('completed');
    expect(privateAgain.addon).toMatchObject({ publicAccess: false, allowedCidrs: ALLOW, status: 'running' });
    expect(world().fake.inputsOf('ec2', 'RevokeSecurityGroupIngress')).toEqual(
      ALLOW.map((cidr) => ingressRule(addon, cidr, false)),
    );
    expect(world().fake.commands('ec2')).not.toContain('AuthorizeSecurityGroupIngress');
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, PubliclyAccessible: false, ApplyImmediately: true },
    ]);
    expect(admittedCidrs(addon)).toEqual([]);
    expect(secretOf(addon.id).public).toBeUndefined();
  });

  it('TLS off: the parameter group without rds.force_ssl, a reboot once it is pending, a plain URI', async () => {
    const addon = await running();
    const { operation, addon: after } = await change(addon, { tls: false });

    expect(operation.status).toBe('completed');
    expect(after).toMatchObject({ tls: false, publicAccess: false, status: 'running' });
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance')).toEqual([
      {
        DBInstanceIdentifier: addon.resourceId,
        DBParameterGroupName: world().env.NO_TLS_PARAMETER_GROUPS.postgresql?.['17'],
        ApplyImmediately: true,
      },
    ]);
    expect(world().fake.inputsOf('rds', 'RebootDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId },
    ]);
    expect(world().fake.commands('rds')).toEqual([
      'DescribeDBInstances',
      'ModifyDBInstance',
      'DescribeDBInstances', // modifying
      'DescribeDBInstances', // available, pending-reboot: reboot
      'RebootDBInstance',
      'DescribeDBInstances', // rebooting
      'DescribeDBInstances', // available, in-sync
      'DescribeDBInstances', // complete
    ]);
    expect(world().fake.commands('ec2')).not.toContain('AuthorizeSecurityGroupIngress');
    const secret = secretOf(addon.id);
    expect(secret.tls).toBe(false);
    expect(secret.uri).not.toContain('sslmode');
  });

  it('a refused modify puts the rules back, fails the operation with the reason and releases the addon private', async () => {
    const addon = await running();
    const before = secretOf(addon.id);
    world().fake.failNext.set('ModifyDBInstance', [
      new RDSServiceException({
        name: 'InvalidVPCNetworkStateFault',
        $fault: 'client',
        $metadata: {},
        message: 'Cannot modify a DB instance to publicly accessible: the VPC has no internet gateway',
      }),
    ]);
    const { operation, addon: after } = await change(addon, { public: true, allow: ALLOW });

    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(
      /^The networking change \(TLS required; public from 203\.0\.113\.7\/32, 198\.51\.100\.0\/24\) failed: /,
    );
    expect(operation.error?.message).toContain('the VPC has no internet gateway');
    expect(after).toMatchObject({
      status: 'running',
      currentOperationId: null,
      publicAccess: false,
      allowedCidrs: [],
    });
    // Compensation: the rules authorized before the refused modify are revoked, one per CIDR.
    expect(world().fake.inputsOf('ec2', 'AuthorizeSecurityGroupIngress')).toHaveLength(ALLOW.length);
    expect(world().fake.inputsOf('ec2', 'RevokeSecurityGroupIngress')).toEqual(
      ALLOW.map((cidr) => ingressRule(addon, cidr, false)),
    );
    expect(admittedCidrs(addon)).toEqual([]);
    expect(world().fake.instances.get(addon.resourceId)?.settings.PubliclyAccessible).toBe(false);
    // The published details never changed.
    expect(secretOf(addon.id)).toEqual(before);
  });

  it('the wait is bounded: an instance that stays `modifying` fails the operation and goes back private', async () => {
    const addon = await running();
    const instance = world().fake.instances.get(addon.resourceId);
    if (!instance) throw new Error('no instance');
    // Every check finds the instance still modifying.
    world().workflows.beforeTask = (_workflow, state) => {
      if (state === 'DescribeNetworking') instance.statuses = ['modifying'];
    };
    const { operation, addon: after } = await change(addon, {
      public: true,
      allow: [ALLOW[0] as string],
    }).finally(() => {
      world().workflows.beforeTask = undefined;
    });

    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(/still being applied after 240 checks; giving up/);
    // The look-up before the modify, 240 checks, then the compensation's look-up and describe.
    expect(
      world()
        .fake.commands('rds')
        .filter((command) => command === 'DescribeDBInstances'),
    ).toHaveLength(243);
    expect(after).toMatchObject({ status: 'running', currentOperationId: null, publicAccess: false });
    expect(admittedCidrs(addon)).toEqual([]);
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, PubliclyAccessible: true, ApplyImmediately: true },
      { DBInstanceIdentifier: addon.resourceId, PubliclyAccessible: false, ApplyImmediately: true },
    ]);
  });

  it('refuses to make public an addon created in the isolated subnets, with the reason', async () => {
    const addon = await running();
    const instance = world().fake.instances.get(addon.resourceId);
    if (!instance) throw new Error('no instance');
    instance.settings.DBSubnetGroupName = world().env.DB_SUBNET_GROUP_NAME;
    const { operation, addon: after } = await change(addon, { public: true, allow: ALLOW });

    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(
      /lives in the isolated subnets .* RDS documents a subnet group change only for moving an instance to another VPC: fork the addon/,
    );
    expect(after).toMatchObject({ status: 'running', currentOperationId: null, publicAccess: false });
    expect(world().fake.commands('ec2')).not.toContain('AuthorizeSecurityGroupIngress');
    expect(world().fake.commands('rds')).not.toContain('ModifyDBInstance');
  });
});

describe('the workflow function role', () => {
  it('allows every AWS action update-networking sent, on the resources it sent them to', () => {
    const { json } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, world().synthesized.stack.workflows.taskFunction.role);
    for (const command of [
      'ModifyDBInstance',
      'RebootDBInstance',
      'AuthorizeSecurityGroupIngress',
      'RevokeSecurityGroupIngress',
    ]) {
      expect(recorded.some((call) => call.command === command)).toBe(true);
    }
    expect(deniedPermissions(roleStatements(json, roleId), recorded, callEnvironment())).toEqual([]);
  });
});
