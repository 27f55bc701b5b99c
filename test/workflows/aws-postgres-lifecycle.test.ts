import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { type CallEnvironment, deniedPermissions, roleStatements } from '../infra/support/iam.ts';
import { awsWorkflowSuite } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';
import { awsErrors } from './support/fake-aws.ts';

/**
 * provision-addon and delete-addon as deployed: the ASL files with the stack's substitutions,
 * the AWS composition root of the workflow function with the environment CDK gives it, RDS,
 * EC2 and Secrets Manager faked, DynamoDB real. Every AWS command the function sends is
 * recorded; the last block checks the synthesized role allows each of them.
 */

const PROJECT = 'proj-aws';
const { world, recorded, flushCalls, provision, deleteAddon, secretName } = awsWorkflowSuite(PROJECT, {
  namePrefix: 'aws',
});

const deploymentTags = (addonId: string) => [
  { Key: TAG_KEYS.deployment, Value: world().env.DEPLOYMENT_NAME },
  { Key: TAG_KEYS.project, Value: PROJECT },
  { Key: TAG_KEYS.addon, Value: addonId },
];
/** The fake numbers groups in creation order: the project's client group, then the addon's. */
const CLIENT_GROUP = 'sg-00000000000000001';
const FIRST_GROUP = 'sg-00000000000000002';
/** Addon groups left in the fake (project client groups outlive the project's addons). */
const addonGroups = () =>
  [...world().fake.groups.values()].filter((group) => group.name.startsWith('addon-')).length;
const describeGroup = (name: string) => ({
  Filters: [
    { Name: 'vpc-id', Values: [world().env.VPC_ID] },
    { Name: 'group-name', Values: [name] },
  ],
});

describe('provision-addon on AWS', () => {
  it("creates the project's client group, the addon's group, the RDS instance (TLS forced) and the secret, waits until available and completes", async () => {
    const { addon, operation } = await provision({ name: 'orders-db' });

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(addon).toMatchObject({
      status: 'running',
      currentOperationId: null,
      tls: true,
      network: { clientSecurityGroupId: CLIENT_GROUP },
    });
    const host = `${addon.resourceId}.abcdefghijkl.eu-west-1.rds.amazonaws.com`;
    expect(addon.endpoint).toEqual({ host, port: 5432 });

    expect(world().fake.commands('ec2')).toEqual([
      'DescribeSecurityGroups',
      'CreateSecurityGroup',
      'RevokeSecurityGroupEgress',
      'AuthorizeSecurityGroupEgress',
      'DescribeSecurityGroups',
      'CreateSecurityGroup',
      'AuthorizeSecurityGroupIngress',
      // Once available (the last describe and publishCredentials): the group users attach.
      'DescribeSecurityGroups',
      'DescribeSecurityGroups',
    ]);
    expect(world().fake.inputsOf('ec2', 'DescribeSecurityGroups')).toEqual([
      describeGroup(`clients-${PROJECT}`),
      describeGroup(addon.resourceId),
      describeGroup(`clients-${PROJECT}`),
      describeGroup(`clients-${PROJECT}`),
    ]);
    expect(world().fake.inputsOf('ec2', 'CreateSecurityGroup')).toEqual([
      {
        GroupName: `clients-${PROJECT}`,
        Description: `Clients of the addons of project ${PROJECT}`,
        VpcId: world().env.VPC_ID,
        TagSpecifications: [
          {
            ResourceType: 'security-group',
            Tags: [
              { Key: TAG_KEYS.deployment, Value: world().env.DEPLOYMENT_NAME },
              { Key: TAG_KEYS.project, Value: PROJECT },
              { Key: TAG_KEYS.role, Value: 'project-clients' },
            ],
          },
        ],
      },
      {
        GroupName: addon.resourceId,
        Description: `PostgreSQL addon ${addon.id} of project ${PROJECT}`,
        VpcId: world().env.VPC_ID,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: deploymentTags(addon.id) }],
      },
    ]);
    expect(world().fake.inputsOf('ec2', 'RevokeSecurityGroupEgress')).toEqual([
      { GroupId: CLIENT_GROUP, IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] },
    ]);
    expect(world().fake.inputsOf('ec2', 'AuthorizeSecurityGroupEgress')).toEqual([
      {
        GroupId: CLIENT_GROUP,
        IpPermissions: [
          {
            IpProtocol: 'tcp',
            FromPort: 5432,
            ToPort: 5432,
            IpRanges: [{ CidrIp: world().env.VPC_CIDR, Description: 'Addons of the project' }],
          },
        ],
      },
    ]);
    expect(world().fake.inputsOf('ec2', 'AuthorizeSecurityGroupIngress')).toEqual([
      {
        GroupId: FIRST_GROUP,
        IpPermissions: [
          {
            IpProtocol: 'tcp',
            FromPort: 5432,
            ToPort: 5432,
            UserIdGroupPairs: [{ GroupId: CLIENT_GROUP, Description: `Clients of project ${PROJECT}` }],
          },
        ],
      },
    ]);

    // Wait, creating; wait, available; publishCredentials checks once more.
    expect(world().fake.commands('rds')).toEqual([
      'CreateDBInstance',
      'DescribeDBInstances',
      'DescribeDBInstances',
      'DescribeDBInstances',
    ]);
    const [created] = world().fake.inputsOf('secretsmanager', 'CreateSecret');
    const password = JSON.parse(String(created?.SecretString)).password as string;
    expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(world().fake.inputsOf('rds', 'CreateDBInstance')).toEqual([
      {
        DBInstanceIdentifier: addon.resourceId,
        Engine: 'postgres',
        EngineVersion: '17',
        AutoMinorVersionUpgrade: true,
        DBInstanceClass: 'db.t4g.micro',
        AllocatedStorage: 20,
        StorageType: 'gp3',
        StorageEncrypted: true,
        KmsKeyId: world().env.STORAGE_KMS_KEY_ID,
        DBName: 'orders_db',
        MasterUsername: 'addonadmin',
        MasterUserPassword: password,
        Port: 5432,
        DBSubnetGroupName: world().env.RDS_SUBNET_GROUP_NAME,
        VpcSecurityGroupIds: [FIRST_GROUP],
        PubliclyAccessible: false,
        MultiAZ: false,
        DBParameterGroupName: world().env.TLS_PARAMETER_GROUPS.postgresql?.['17'],
        BackupRetentionPeriod: 7,
        CopyTagsToSnapshot: true,
        DeletionProtection: true,
        Tags: deploymentTags(addon.id),
      },
    ]);
    expect(world().fake.inputsOf('rds', 'DescribeDBInstances')).toEqual(
      Array(3).fill({ DBInstanceIdentifier: addon.resourceId }),
    );

    expect(world().fake.commands('secretsmanager')).toEqual([
      'GetSecretValue',
      'PutSecretValue',
      'CreateSecret',
      'GetSecretValue',
      'GetSecretValue',
      'PutSecretValue',
    ]);
    expect(created).toEqual({
      Name: secretName(addon.id),
      SecretString: expect.any(String),
      KmsKeyId: world().env.SECRETS_KMS_KEY_ID,
      Description: `Connection details of addon ${addon.id} in project ${PROJECT}`,
      Tags: [
        { Key: 'addons:project', Value: PROJECT },
        { Key: 'addons:addon', Value: addon.id },
      ],
    });
    expect(JSON.parse(String(world().fake.secrets.get(secretName(addon.id))))).toEqual({
      engine: 'postgresql',
      host,
      port: 5432,
      database: 'orders_db',
      username: 'addonadmin',
      password,
      uri: `postgresql://addonadmin:${password}@${host}:5432/orders_db?sslmode=require`,
      tls: true,
    });
  });

  it('retries RDS throttling and reuses the security groups the first attempt created', async () => {
    world().fake.failNext.set('CreateDBInstance', [awsErrors.rdsThrottling()]);
    const { addon, operation } = await provision();

    expect(operation.status).toBe('completed');
    expect(
      world()
        .fake.commands('ec2')
        .filter((command) => command !== 'DescribeSecurityGroups'),
    ).toEqual([
      'CreateSecurityGroup',
      'RevokeSecurityGroupEgress',
      'AuthorizeSecurityGroupEgress',
      'CreateSecurityGroup',
      'AuthorizeSecurityGroupIngress',
    ]);
    const creates = world().fake.inputsOf('rds', 'CreateDBInstance');
    expect(creates).toHaveLength(2);
    expect(creates[1]).toEqual(creates[0]);
    expect(creates[0]).toMatchObject({
      DBInstanceIdentifier: addon.resourceId,
      VpcSecurityGroupIds: [FIRST_GROUP],
    });
  });

  it('retries a throttled describe (RDS and DynamoDB) while the instance is creating, and never compensates', async () => {
    // Prepare: RDS throttles two describes and fails one with a 5xx; DynamoDB throttles the
    // reads of the describe step once the instance exists.
    world().fake.failNext.set('DescribeDBInstances', [
      awsErrors.rdsThrottling(),
      awsErrors.rdsThrottling(),
      Object.assign(awsErrors.rdsThrottling(), { name: 'InternalFailure', $fault: 'server' }),
    ]);
    let dynamoThrottles = 2;
    const fault = (command: string) => {
      if (command !== 'GetItem' || world().fake.instances.size === 0 || dynamoThrottles === 0)
        return undefined;
      dynamoThrottles--;
      return new ProvisionedThroughputExceededException({
        message: 'The level of configured provisioned throughput for the table was exceeded',
        $metadata: { httpStatusCode: 400 },
      });
    };
    world().dynamoFaults.push(fault);

    // Act
    const { addon, operation } = await provision().finally(() => world().dynamoFaults.splice(0));

    // Assess
    expect(dynamoThrottles).toBe(0);
    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(addon).toMatchObject({ status: 'running' });
    expect(world().fake.commands('rds')).not.toContain('DeleteDBInstance');
    expect(world().fake.instances.has(addon.resourceId)).toBe(true);
  });

  it('turns an RDS quota error into a failed operation with the reason, and deletes what it created', async () => {
    world().fake.failNext.set('CreateDBInstance', [awsErrors.rdsQuota()]);
    const { addon, operation } = await provision();

    expect(operation.status).toBe('failed');
    expect(operation.error).toEqual({
      code: 'ProviderError',
      message:
        'An AWS quota was reached while creating the database instance: DB Instance quota exceeded (InstanceQuotaExceeded). Delete unused addons or ask for a higher quota in Service Quotas, then try again.',
    });
    expect(addon).toMatchObject({ status: 'failed', currentOperationId: null, endpoint: null });
    // Compensation: no instance, so the security group can go at once; then the secret.
    expect(world().fake.commands('rds')).toEqual(['CreateDBInstance', 'DescribeDBInstances']);
    expect(world().fake.commands('ec2')).toEqual([
      'DescribeSecurityGroups',
      'CreateSecurityGroup',
      'RevokeSecurityGroupEgress',
      'AuthorizeSecurityGroupEgress',
      'DescribeSecurityGroups',
      'CreateSecurityGroup',
      'AuthorizeSecurityGroupIngress',
      'DescribeSecurityGroups',
      'DeleteSecurityGroup',
    ]);
    // The addon's group goes; the project's client group stays for its other addons.
    expect(world().fake.inputsOf('ec2', 'DeleteSecurityGroup')).toEqual([{ GroupId: FIRST_GROUP }]);
    // The connection details, and the platform's admin login a fork's seed would have made.
    expect(world().fake.inputsOf('secretsmanager', 'DeleteSecret')).toEqual([
      { SecretId: secretName(addon.id), ForceDeleteWithoutRecovery: true },
      { SecretId: `${secretName(addon.id)}/platform-login`, ForceDeleteWithoutRecovery: true },
    ]);
    expect(addonGroups()).toBe(0);
    expect(world().fake.secrets.size).toBe(0);
  });

  it('compensates an instance RDS reports failed: protection off, delete, secret gone; deleting the addon later removes the group', async () => {
    world().fake.script = { statuses: ['creating', 'incompatible-network'] };
    const { addon, operation } = await provision();

    expect(operation.status).toBe('failed');
    expect(operation.error).toEqual({
      code: 'ProviderError',
      message: `RDS reports instance ${addon.resourceId} as incompatible-network: the subnet group has no free IP addresses, or one of its subnets is gone`,
    });
    expect(world().fake.commands('rds')).toEqual([
      'CreateDBInstance',
      'DescribeDBInstances',
      'DescribeDBInstances',
      'DescribeDBInstances',
      'ModifyDBInstance',
      'DeleteDBInstance',
    ]);
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, DeletionProtection: false, ApplyImmediately: true },
    ]);
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, SkipFinalSnapshot: true, DeleteAutomatedBackups: false },
    ]);
    expect(world().fake.secrets.size).toBe(0);
    // RDS still holds the group while the instance is being deleted.
    expect(addonGroups()).toBe(1);

    flushCalls();
    const deletion = await deleteAddon(addon.id);
    expect(deletion).toMatchObject({ status: 'completed', error: null });
    expect(addonGroups()).toBe(0);
    expect(world().fake.instances.size).toBe(0);
    expect(await world().store.findAddon(PROJECT, addon.id)).toBeUndefined();
  });

  it('bounds the wait: an instance stuck in creating fails the operation after 120 checks and is deleted', async () => {
    world().fake.script = { statuses: ['creating'] };
    const { addon, operation } = await provision();

    expect(operation.status).toBe('failed');
    expect(operation.error).toEqual({
      code: 'ProviderError',
      message: 'The instance was still creating after 120 checks; giving up',
    });
    expect(
      world()
        .fake.commands('rds')
        .filter((command) => command === 'DescribeDBInstances'),
    ).toHaveLength(121);
    expect(world().fake.commands('rds').slice(-2)).toEqual(['ModifyDBInstance', 'DeleteDBInstance']);
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, SkipFinalSnapshot: true, DeleteAutomatedBackups: false },
    ]);
    expect(world().fake.secrets.size).toBe(0);
    expect(addon.status).toBe('failed');
  });
});

describe('delete-addon on AWS', () => {
  it('turns deletion protection off, deletes the instance, waits for it and its security group, removes the secret', async () => {
    const { addon } = await provision();
    flushCalls();

    const operation = await deleteAddon(addon.id);

    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(await world().store.findAddon(PROJECT, addon.id)).toBeUndefined();
    expect(world().fake.commands('rds')).toEqual([
      'DescribeDBInstances',
      'ModifyDBInstance',
      'DeleteDBInstance',
      'DescribeDBInstances', // deleting
      'DescribeDBInstances', // deleting
      'DescribeDBInstances', // gone; its security group still has RDS's network interfaces
      'DescribeDBInstances', // gone, and so is the group
    ]);
    expect(world().fake.inputsOf('rds', 'ModifyDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, DeletionProtection: false, ApplyImmediately: true },
    ]);
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: addon.resourceId, SkipFinalSnapshot: true, DeleteAutomatedBackups: false },
    ]);
    expect(world().fake.commands('ec2')).toEqual([
      'DescribeSecurityGroups',
      'DeleteSecurityGroup',
      'DescribeSecurityGroups',
      'DeleteSecurityGroup',
    ]);
    expect(world().fake.inputsOf('ec2', 'DeleteSecurityGroup')).toEqual([
      { GroupId: FIRST_GROUP },
      { GroupId: FIRST_GROUP },
    ]);
    // The connection details, and the platform's admin login a credential rotation would have made.
    expect(world().fake.commands('secretsmanager')).toEqual(['DeleteSecret', 'DeleteSecret']);
    expect(world().fake.inputsOf('secretsmanager', 'DeleteSecret')).toEqual([
      { SecretId: secretName(addon.id), ForceDeleteWithoutRecovery: true },
      { SecretId: `${secretName(addon.id)}/platform-login`, ForceDeleteWithoutRecovery: true },
    ]);
    expect(world().fake.instances.size + addonGroups() + world().fake.secrets.size).toBe(0);
  });

  it('retries while RDS refuses to delete an instance that is busy', async () => {
    const { addon } = await provision();
    world().fake.failNext.set('DeleteDBInstance', [
      awsErrors.rdsInvalidState(addon.resourceId, 'backing-up'),
    ]);

    const operation = await deleteAddon(addon.id);

    expect(operation.status).toBe('completed');
    expect(world().fake.inputsOf('rds', 'DeleteDBInstance')).toHaveLength(2);
  });
});

describe('the workflow function role', () => {
  it('allows every AWS action the workflow function sent, on the resources it sent them to', () => {
    const { json } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, world().synthesized.stack.workflows.taskFunction.role);
    const statements = roleStatements(json, roleId);
    const env: CallEnvironment = {
      tableKeyArn: world().env.SECRETS_KMS_KEY_ID,
      secretsKeyArn: world().env.SECRETS_KMS_KEY_ID,
    };
    expect(recorded.length).toBeGreaterThan(100);
    expect(statements.length).toBeGreaterThan(5);
    expect(deniedPermissions(statements, recorded, env)).toEqual([]);
  });
  // That it allows nothing else is checked in aws-backup-workflows.test.ts, whose runs use every
  // action of the role (provision, backup, restore and delete).
});
