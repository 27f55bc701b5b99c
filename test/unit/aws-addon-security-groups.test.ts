import { DocDBClient } from '@aws-sdk/client-docdb';
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  type IpPermission,
  RevokeSecurityGroupEgressCommand,
} from '@aws-sdk/client-ec2';
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ENGINES } from '#shared/catalog/engines.ts';
import { resourceIdFor } from '#shared/ports/engine-provider.ts';
import { AddonSecurityGroups } from '#shared/providers/aws/addon-security-groups.ts';
import { awsEngineAdapters } from '#shared/providers/aws/engines.ts';
import { ENGINE_NAMES } from '#shared/schemas/catalog.ts';

const ec2 = mockClient(EC2Client);
const engineClients = [mockClient(RDSClient), mockClient(DocDBClient), mockClient(ElastiCacheClient)];
afterEach(() => {
  ec2.reset();
  for (const client of engineClients) client.reset();
});
afterAll(() => {
  ec2.restore();
  for (const client of engineClients) client.restore();
});

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

describe("every engine's provisioning, given the deployment's bastion group", () => {
  const ENGINE_PORTS = { postgresql: 5432, mysql: 3306, mongodb: 27017, redis: 6379 } as const;
  const parameterGroups = Object.fromEntries(
    ENGINE_NAMES.map((engine) => [engine, { [ENGINES[engine].defaultVersion.aws]: `${engine}-group` }]),
  );
  for (const engine of ENGINE_NAMES) {
    it(`${engine}: the addon's group admits the bastion on the engine's port`, async () => {
      // A new project and addon: both groups created; the engine's own create then refused, which
      // is after the groups (what this looks at) and ends the call.
      ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
      ec2.on(CreateSecurityGroupCommand).callsFake((input) => ({ GroupId: `sg-${input.GroupName}` }));
      ec2.on(RevokeSecurityGroupEgressCommand).resolves({});
      ec2.on(AuthorizeSecurityGroupEgressCommand).resolves({});
      ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true });
      for (const client of engineClients) {
        (client as ReturnType<typeof mockClient>).onAnyCommand().rejects(new Error('not in this test'));
      }
      const adapters = awsEngineAdapters(
        {
          vpcId: 'vpc-1',
          vpcCidr: '10.60.0.0/16',
          subnetGroupName: 'databases',
          kmsKeyId: 'key',
          deployment: 'Addons',
          tlsParameterGroups: parameterGroups,
          noTlsParameterGroups: parameterGroups,
          cacheSubnetGroupName: 'cache',
          redisDefaultUserId: 'addon-addons-off',
          bastionGroupId: BASTION,
        },
        {
          ec2: new EC2Client({}),
          rds: new RDSClient({}),
          docdb: new DocDBClient({}),
          s3: new S3Client({}),
          elasticache: new ElastiCacheClient({}),
        },
      ).of(engine);
      const entry = ENGINES[engine];
      const addonId = 'adn-abc123';
      const refusal = await adapters.provider
        .createInstance({
          resourceId: resourceIdFor(addonId),
          projectId: 'p1',
          addonId,
          engine,
          version: entry.defaultVersion.aws,
          plan: entry.plans.find((plan) => plan.id === entry.defaultPlan) ?? (entry.plans[0] as never),
          storageGiB: entry.storageGiB.default,
          replicas: 0,
          tls: true,
          publicAccess: false,
          database: 'app',
          username: 'app',
          password: 'a'.repeat(32),
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      // Refused by the engine's own create, after the groups were set up.
      expect(String(refusal)).toContain('not in this test');
      const port = ENGINE_PORTS[engine];
      expect(admitted()).toEqual([
        expect.objectContaining({ port, to: port, source: 'sg-clients-p1' }),
        expect.objectContaining({ port, to: port, source: BASTION }),
      ]);
    });
  }
});
