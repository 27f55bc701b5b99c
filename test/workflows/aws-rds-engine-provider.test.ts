import { CreateSecurityGroupCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  InvalidDBInstanceStateFault,
  KMSKeyNotAccessibleFault,
  RDSClient,
  RDSServiceException,
  StorageQuotaExceededFault,
} from '@aws-sdk/client-rds';
import {
  LimitExceededException,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { findPlan } from '#shared/catalog/engines.ts';
import { ProviderError, TransientError } from '#shared/errors.ts';
import { type InstanceSpec, resourceIdFor } from '#shared/ports/engine-provider.ts';
import { toPlatformError } from '#shared/providers/aws/aws-errors.ts';
import { mysqlRdsProfile } from '#shared/providers/aws/mysql/index.ts';
import { postgresqlRdsProfile } from '#shared/providers/aws/postgresql/index.ts';
import {
  RdsEngineProvider,
  type RdsEngineProviderProps,
} from '#shared/providers/aws/rds/rds-engine-provider.ts';
import { instanceStateOf, isValidDbInstanceIdentifier } from '#shared/providers/aws/rds/rds-instances.ts';
import { restoreIdentifiers } from '#shared/providers/aws/rds/rds-restore.ts';
import { RdsSnapshotDeleter } from '#shared/providers/aws/rds/rds-snapshots.ts';
import { SecretsManagerStore } from '#shared/providers/aws/secrets-manager-store.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { NameSchema } from '#shared/schemas/common.ts';
import { ADMIN_USERNAME, databaseNameFor, generatePassword } from '#shared/services/credentials.ts';
import { newId } from '#shared/util/ids.ts';
import { awsErrors, FakeAws } from './support/fake-aws.ts';

const fake = new FakeAws();
afterAll(() => fake.restore());
beforeEach(() => fake.reset());

const $metadata = { httpStatusCode: 400 };
const region = { region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };

const settings = (parameterGroups: RdsEngineProviderProps['parameterGroups']): RdsEngineProviderProps => ({
  rds: new RDSClient(region),
  ec2: new EC2Client(region),
  vpcId: 'vpc-0123',
  vpcCidr: '10.60.0.0/16',
  subnetGroupName: 'addons-db-subnets',
  kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/storage',
  parameterGroups,
  deployment: 'Addons',
});

const provider = new RdsEngineProvider(
  postgresqlRdsProfile,
  settings({
    tls: { '16': 'addons-postgres16-tls', '17': 'addons-postgres17-tls' },
    noTls: { '16': 'addons-postgres16-plain', '17': 'addons-postgres17-plain' },
  }),
);

const spec = (overrides: Partial<InstanceSpec> = {}): InstanceSpec => {
  const addonId = overrides.addonId ?? newId('adn');
  const plan = findPlan('postgresql', 'nano');
  if (!plan) throw new Error('no nano plan');
  return {
    resourceId: resourceIdFor(addonId),
    projectId: 'proj-a',
    addonId,
    engine: 'postgresql',
    version: '17',
    plan,
    storageGiB: 20,
    replicas: 0,
    tls: false,
    publicAccess: false,
    database: 'orders',
    username: ADMIN_USERNAME,
    password: generatePassword(),
    ...overrides,
  };
};

describe('identifiers sent to AWS', () => {
  // Addon names are DNS labels (NameSchema); addon ids come from newId, but resourceIdFor must
  // hold for anything, so it is fed hostile ids too.
  const names = ['a', 'x'.repeat(40), 'a-b-c-d', 'db9', 'select', 'orders-2024-eu'];
  const ids = [
    newId('adn'),
    'adn-01ARZ3NDEKTSV4RRFFQ69G5FAV',
    'ADN_Upper__Case',
    '9starts-with-a-digit',
    '---',
    'adn-',
    'x'.repeat(200),
    'a--b--c',
    'ümlaut/slash.dot',
  ];

  it.each(ids)('resourceIdFor(%j) is a valid RDS DB instance identifier', (id) => {
    const resourceId = resourceIdFor(id);
    expect(isValidDbInstanceIdentifier(resourceId), resourceId).toBe(true);
    expect(resourceId.length).toBeLessThanOrEqual(63);
  });

  it.each(names)('an addon named %j gives valid identifiers in every request', async (name) => {
    expect(NameSchema.safeParse(name).success).toBe(true);
    const request = spec({ database: databaseNameFor(name), addonId: ids[0] });
    await provider.createInstance(request);

    const [, group] = fake.inputsOf('ec2', 'CreateSecurityGroup');
    const [instance] = fake.inputsOf('rds', 'CreateDBInstance');
    expect(isValidDbInstanceIdentifier(String(instance?.DBInstanceIdentifier))).toBe(true);
    // RDS DBName: a letter, then letters, digits or underscores; 63 at most.
    expect(String(instance?.DBName)).toMatch(/^[A-Za-z][A-Za-z0-9_]{0,62}$/);
    // EC2 group names and descriptions: at most 255 of a restricted set; names may not start with sg-.
    expect(String(group?.GroupName)).toMatch(/^(?!sg-)[A-Za-z0-9 ._\-:/()#,@[\]+=&;{}!$*]{1,255}$/);
    expect(String(group?.Description)).toMatch(/^[A-Za-z0-9 ._\-:/()#,@[\]+=&;{}!$*]{1,255}$/);
  });

  it('refuses an identifier RDS would reject before sending anything', async () => {
    await expect(provider.createInstance(spec({ resourceId: 'addon--x' }))).rejects.toThrow(ProviderError);
    expect(fake.calls).toEqual([]);
  });
});

describe('createInstance', () => {
  it('uses the TLS parameter group of the major when TLS is on', async () => {
    await provider.createInstance(spec({ tls: true, version: '16' }));
    expect(fake.inputsOf('rds', 'CreateDBInstance')[0]).toMatchObject({
      EngineVersion: '16',
      DBParameterGroupName: 'addons-postgres16-tls',
    });
  });

  it('uses the parameter group that does not force TLS when TLS is off (the RDS default forces it from 15 on)', async () => {
    await provider.createInstance(spec());
    expect(fake.inputsOf('rds', 'CreateDBInstance')[0]).toMatchObject({
      DBParameterGroupName: 'addons-postgres17-plain',
    });
  });

  it('fails clearly when the deployment has no TLS parameter group for the major', async () => {
    await expect(provider.createInstance(spec({ tls: true, version: '14' }))).rejects.toMatchObject({
      name: 'ProviderError',
      code: 'Misconfigured',
      message: 'This deployment has no parameter group for PostgreSQL 14 with TLS; redeploy the stack',
    });
  });

  it('is idempotent: a second call finds the group and the instance already there', async () => {
    const request = spec();
    await provider.createInstance(request);
    await provider.createInstance(request);
    expect(fake.commands('ec2')).toEqual([
      // The project's client group, then the addon's.
      'DescribeSecurityGroups',
      'CreateSecurityGroup',
      'RevokeSecurityGroupEgress',
      'AuthorizeSecurityGroupEgress',
      'DescribeSecurityGroups',
      'CreateSecurityGroup',
      'AuthorizeSecurityGroupIngress',
      'DescribeSecurityGroups',
      'DescribeSecurityGroups',
    ]);
    expect(fake.commands('rds')).toEqual(['CreateDBInstance', 'CreateDBInstance']);
    expect(fake.instances.size).toBe(1);
  });

  it('takes over a group a concurrent attempt created between describe and create', async () => {
    const request = spec();
    // The project's client group exists already (an earlier addon of the project).
    fake.groups.set('sg-clients', {
      id: 'sg-clients',
      name: `clients-${request.projectId}`,
      vpcId: 'vpc-0123',
      tags: {},
      permissions: [],
      egress: [{ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, IpRanges: [{ CidrIp: '10.60.0.0/16' }] }],
      enisLeft: 0,
    });
    fake.ec2.on(CreateSecurityGroupCommand).callsFakeOnce((input) => {
      fake.groups.set('sg-raced', {
        id: 'sg-raced',
        name: String(input.GroupName),
        vpcId: String(input.VpcId),
        tags: {},
        permissions: [],
        egress: [],
        enisLeft: 0,
      });
      throw awsErrors.ec2('InvalidGroup.Duplicate', `The security group '${input.GroupName}' already exists`);
    });
    await provider.createInstance(request);
    expect(fake.commands('ec2')).toEqual([
      'DescribeSecurityGroups',
      'DescribeSecurityGroups',
      'DescribeSecurityGroups',
      'AuthorizeSecurityGroupIngress',
    ]);
    expect(fake.inputsOf('ec2', 'AuthorizeSecurityGroupIngress')[0]).toMatchObject({
      GroupId: 'sg-raced',
      IpPermissions: [{ FromPort: 5432, UserIdGroupPairs: [{ GroupId: 'sg-clients' }] }],
    });
    expect(fake.inputsOf('rds', 'CreateDBInstance')[0]).toMatchObject({ VpcSecurityGroupIds: ['sg-raced'] });
  });

  it('refuses engines, replicas and public access it cannot provide', async () => {
    await expect(provider.createInstance(spec({ engine: 'mysql' }))).rejects.toMatchObject({
      code: 'UnsupportedEngine',
    });
    await expect(provider.createInstance(spec({ replicas: 1 }))).rejects.toMatchObject({
      code: 'UnsupportedOption',
    });
    await expect(provider.createInstance(spec({ publicAccess: true }))).rejects.toMatchObject({
      code: 'UnsupportedOption',
    });
    expect(fake.calls).toEqual([]);
  });
});

describe('RDS for MySQL: the same RDS mechanics with the MySQL profile', () => {
  const mysqlProvider = new RdsEngineProvider(
    mysqlRdsProfile,
    settings({
      tls: { '8.0': 'addons-mysql80-tls', '8.4': 'addons-mysql84-tls' },
      noTls: { '8.0': 'addons-mysql80-plain', '8.4': 'addons-mysql84-plain' },
    }),
  );
  const mysqlSpec = (overrides: Partial<InstanceSpec> = {}) =>
    spec({ engine: 'mysql', version: '8.4', tls: true, ...overrides });

  it('creates an RDS for MySQL instance of the major on port 3306 with the TLS parameter group, KMS and tags', async () => {
    const request = mysqlSpec();
    await mysqlProvider.createInstance(request);
    expect(fake.inputsOf('rds', 'CreateDBInstance')[0]).toMatchObject({
      DBInstanceIdentifier: request.resourceId,
      Engine: 'mysql',
      EngineVersion: '8.4',
      AutoMinorVersionUpgrade: true,
      Port: 3306,
      DBParameterGroupName: 'addons-mysql84-tls',
      DBSubnetGroupName: 'addons-db-subnets',
      StorageEncrypted: true,
      KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/storage',
      DBName: 'orders',
      MasterUsername: ADMIN_USERNAME,
      MasterUserPassword: request.password,
      PubliclyAccessible: false,
      DeletionProtection: true,
      Tags: [
        { Key: TAG_KEYS.deployment, Value: 'Addons' },
        { Key: TAG_KEYS.project, Value: 'proj-a' },
        { Key: TAG_KEYS.addon, Value: request.addonId },
      ],
    });
    // The addon's group admits the MySQL port from the project's client group, which may reach
    // that port inside the VPC only.
    const [clientEgress] = fake.inputsOf('ec2', 'AuthorizeSecurityGroupEgress');
    expect(clientEgress).toMatchObject({ IpPermissions: [{ FromPort: 3306, ToPort: 3306 }] });
    const [ingress] = fake.inputsOf('ec2', 'AuthorizeSecurityGroupIngress');
    expect(ingress).toMatchObject({ IpPermissions: [{ IpProtocol: 'tcp', FromPort: 3306, ToPort: 3306 }] });
    expect(String(fake.inputsOf('ec2', 'CreateSecurityGroup')[1]?.Description)).toContain('MySQL addon');
  });

  it('uses the group without require_secure_transport for an addon created with tls: false', async () => {
    await mysqlProvider.createInstance(mysqlSpec({ version: '8.0', tls: false }));
    expect(fake.inputsOf('rds', 'CreateDBInstance')[0]).toMatchObject({
      EngineVersion: '8.0',
      DBParameterGroupName: 'addons-mysql80-plain',
    });
  });

  it('refuses, before sending anything, what RDS for MySQL would reject or the restore job reserves', async () => {
    // PostgreSQL accepts 63 characters and underscores; RDS for MySQL 16 letters or digits.
    await expect(mysqlProvider.createInstance(mysqlSpec({ username: 'addon_admin' }))).rejects.toMatchObject({
      code: 'InvalidRequest',
      message: expect.stringContaining('1 to 16 letters or digits'),
    });
    await expect(mysqlProvider.createInstance(mysqlSpec({ username: 'a'.repeat(17) }))).rejects.toMatchObject(
      {
        code: 'InvalidRequest',
      },
    );
    for (const database of ['mysql', 'addons_restore', 'addons_retired', '1db']) {
      await expect(mysqlProvider.createInstance(mysqlSpec({ database }))).rejects.toMatchObject({
        code: 'InvalidRequest',
      });
    }
    await expect(mysqlProvider.createInstance(mysqlSpec({ engine: 'postgresql' }))).rejects.toMatchObject({
      code: 'UnsupportedEngine',
    });
    await expect(mysqlProvider.createInstance(mysqlSpec({ replicas: 2 }))).rejects.toMatchObject({
      code: 'UnsupportedOption',
    });
    expect(fake.calls).toEqual([]);
    // The same user name is fine for PostgreSQL.
    await provider.createInstance(spec({ username: 'addon_admin' }));
    expect(fake.inputsOf('rds', 'CreateDBInstance')).toHaveLength(1);
  });

  it('fails clearly when the deployment has no MySQL parameter group for the major', async () => {
    const unconfigured = new RdsEngineProvider(mysqlRdsProfile, settings({ tls: {}, noTls: {} }));
    await expect(unconfigured.createInstance(mysqlSpec())).rejects.toMatchObject({
      code: 'Misconfigured',
      message: 'This deployment has no parameter group for MySQL 8.4 with TLS; redeploy the stack',
    });
  });

  it('restores a snapshot to a new MySQL instance on the same port and parameter group, then swaps it in', async () => {
    const request = mysqlSpec();
    fake.script = { statuses: ['available'] };
    fake.snapshotScript = { statuses: ['available'] };
    fake.restoreScript = { statuses: ['available'] };
    await mysqlProvider.createInstance(request);
    const snapshotId = `${request.resourceId}-bkp-1`;
    await mysqlProvider.createSnapshot(request.resourceId, snapshotId);
    expect(await mysqlProvider.describeSnapshot(snapshotId)).toEqual({
      status: 'available',
      sizeBytes: 20 * 1024 ** 3,
    });
    await mysqlProvider.restoreSnapshot(request.resourceId, snapshotId, 'op-1');
    const { staging } = restoreIdentifiers(request.resourceId, 'op-1');
    expect(fake.inputsOf('rds', 'RestoreDBInstanceFromDBSnapshot')[0]).toMatchObject({
      DBInstanceIdentifier: staging,
      DBSnapshotIdentifier: snapshotId,
      Port: 3306,
      DBParameterGroupName: 'addons-mysql84-tls',
      DeletionProtection: true,
    });
    let state = 'restoring';
    for (let i = 0; i < 8 && state === 'restoring'; i++) {
      state = (await mysqlProvider.describeRestore(request.resourceId, snapshotId, 'op-1')).status;
    }
    expect(state).toBe('available');
    const swapped = fake.instances.get(request.resourceId);
    expect(swapped?.settings).toMatchObject({ Engine: 'mysql', EngineVersion: '8.4' });
    expect(swapped?.tags).toContainEqual({ Key: TAG_KEYS.restore, Value: 'op-1' });
  });
});

describe('project isolation', () => {
  const groupNamed = (name: string) => [...fake.groups.values()].find((group) => group.name === name);

  it('gives each project one client group, tagged with the deployment and project, reaching only the engine port in the VPC', async () => {
    await provider.createInstance(spec({ projectId: 'proj-a' }));
    await provider.createInstance(spec({ projectId: 'proj-a' }));
    await provider.createInstance(spec({ projectId: 'proj-b' }));

    const clientsA = groupNamed('clients-proj-a');
    const clientsB = groupNamed('clients-proj-b');
    expect([...fake.groups.values()].filter((group) => group.name.startsWith('clients-'))).toHaveLength(2);
    expect(clientsA?.tags).toEqual({
      'addons:deployment': 'Addons',
      'addons:project': 'proj-a',
      'addons:role': 'project-clients',
    });
    expect(clientsA?.egress).toEqual([
      {
        IpProtocol: 'tcp',
        FromPort: 5432,
        ToPort: 5432,
        IpRanges: [{ CidrIp: '10.60.0.0/16', Description: 'Addons of the project' }],
      },
    ]);
    expect(clientsB?.id).not.toEqual(clientsA?.id);
  });

  it("admits on each addon's group only its own project's client group", async () => {
    const a = spec({ projectId: 'proj-a' });
    const b = spec({ projectId: 'proj-b' });
    await provider.createInstance(a);
    await provider.createInstance(b);

    const sources = (resourceId: string) =>
      groupNamed(resourceId)?.permissions.flatMap((permission) => ({
        port: permission.FromPort,
        groups: permission.UserIdGroupPairs?.map((pair) => pair.GroupId),
        cidrs: permission.IpRanges ?? [],
      }));
    expect(sources(a.resourceId)).toEqual([
      { port: 5432, groups: [groupNamed('clients-proj-a')?.id], cidrs: [] },
    ]);
    expect(sources(b.resourceId)).toEqual([
      { port: 5432, groups: [groupNamed('clients-proj-b')?.id], cidrs: [] },
    ]);
    expect(groupNamed(a.resourceId)?.tags).toEqual({
      'addons:deployment': 'Addons',
      'addons:project': 'proj-a',
      'addons:addon': a.addonId,
    });
  });

  it("tells who may connect once the instance is available: the project's client group", async () => {
    const request = spec({ projectId: 'proj-a' });
    fake.script = { statuses: ['available'] };
    await provider.createInstance(request);
    expect(await provider.describeInstance(request.resourceId)).toMatchObject({
      status: 'available',
      network: { clientSecurityGroupId: groupNamed('clients-proj-a')?.id },
    });
  });
});

describe('describeInstance', () => {
  it.each([
    ['creating', { status: 'creating' }],
    ['backing-up', { status: 'creating' }],
    ['modifying', { status: 'creating' }],
    ['configuring-enhanced-monitoring', { status: 'creating' }],
    ['deleting', { status: 'deleting' }],
    ['available', { status: 'available', endpoint: { host: 'db.example', port: 5432 } }],
    ['storage-optimization', { status: 'available', endpoint: { host: 'db.example', port: 5432 } }],
  ])('maps %s', (status, state) => {
    expect(
      instanceStateOf({
        DBInstanceIdentifier: 'addon-x',
        DBInstanceStatus: status,
        Endpoint: { Address: 'db.example', Port: 5432 },
      }),
    ).toEqual(state);
  });

  it.each([
    'failed',
    'incompatible-parameters',
    'inaccessible-encryption-credentials',
    'storage-full',
    'stopped',
  ])('reports %s as failed with a reason', (status) => {
    const state = instanceStateOf({ DBInstanceIdentifier: 'addon-x', DBInstanceStatus: status });
    expect(state.status).toBe('failed');
    expect(state.status === 'failed' && state.reason).toMatch(
      new RegExp(`^RDS reports instance addon-x as ${status}: `),
    );
  });

  it('is not available before RDS publishes an endpoint', () => {
    expect(instanceStateOf({ DBInstanceIdentifier: 'addon-x', DBInstanceStatus: 'available' })).toEqual({
      status: 'creating',
    });
  });

  it('reports absent when neither the instance nor its group exist', async () => {
    expect(await provider.describeInstance('addon-missing')).toEqual({ status: 'absent' });
    expect(fake.commands('ec2')).toEqual(['DescribeSecurityGroups']);
  });
});

describe('deleteInstance', () => {
  it('skips ModifyDBInstance when deletion protection is already off', async () => {
    const request = spec();
    await provider.createInstance(request);
    const instance = fake.instances.get(request.resourceId);
    if (instance) instance.deletionProtection = false;
    await provider.deleteInstance(request.resourceId);
    expect(fake.commands('rds')).toEqual(['CreateDBInstance', 'DescribeDBInstances', 'DeleteDBInstance']);
  });

  it('leaves a group still held by RDS to describeInstance instead of failing', async () => {
    const request = spec();
    await provider.createInstance(request);
    fake.instances.clear();
    const addonGroup = () => [...fake.groups.values()].find((group) => group.name === request.resourceId);
    const group = addonGroup();
    if (group) group.enisLeft = 1;

    await expect(provider.deleteInstance(request.resourceId)).resolves.toBeUndefined();
    expect(addonGroup()).toBeDefined();
    expect(await provider.describeInstance(request.resourceId)).toEqual({ status: 'absent' });
    expect(addonGroup()).toBeUndefined();
    // The project's client group stays for the project's other and later addons.
    expect([...fake.groups.values()].map((left) => left.name)).toEqual([`clients-${request.projectId}`]);
  });

  it('turns an instance RDS cannot delete yet into a TransientError', async () => {
    const request = spec();
    await provider.createInstance(request);
    fake.failNext.set('ModifyDBInstance', [awsErrors.rdsInvalidState(request.resourceId, 'creating')]);
    await expect(provider.deleteInstance(request.resourceId)).rejects.toBeInstanceOf(TransientError);
  });
});

describe('snapshots', () => {
  const available = async () => {
    const request = spec();
    fake.script = { statuses: ['available'] };
    await provider.createInstance(request);
    return request.resourceId;
  };

  it('creates a snapshot once: a retried create finds it there', async () => {
    const resourceId = await available();
    await provider.createSnapshot(resourceId, `${resourceId}-bkp-1`);
    await provider.createSnapshot(resourceId, `${resourceId}-bkp-1`);
    expect(fake.inputsOf('rds', 'CreateDBSnapshot')).toHaveLength(2);
    expect(fake.snapshots.size).toBe(1);
  });

  it('reports creating, then available with the allocated storage as size, then absent once deleted (twice)', async () => {
    const resourceId = await available();
    const id = `${resourceId}-bkp-2`;
    await provider.createSnapshot(resourceId, id);
    expect(await provider.describeSnapshot(id)).toEqual({ status: 'creating' });
    expect(await provider.describeSnapshot(id)).toEqual({ status: 'available', sizeBytes: 20 * 1024 ** 3 });
    await provider.deleteSnapshot(id);
    await new RdsSnapshotDeleter(new RDSClient(region)).deleteSnapshot(id);
    expect(await provider.describeSnapshot(id)).toEqual({ status: 'absent' });
  });

  it('explains the 100 manual snapshots quota', async () => {
    fake.failNext.set('CreateDBSnapshot', [
      new RDSServiceException({
        name: 'SnapshotQuotaExceeded',
        $fault: 'client',
        $metadata,
        message: 'quota',
      }),
    ]);
    const resourceId = await available();
    await expect(provider.createSnapshot(resourceId, `${resourceId}-bkp-3`)).rejects.toMatchObject({
      name: 'ProviderError',
      message: expect.stringContaining('100 manual snapshots per Region'),
    });
  });

  it('derives staging and retired identifiers RDS accepts, whatever the length of the addon identifier', () => {
    for (const resourceId of [resourceIdFor(newId('adn')), `addon-${'x'.repeat(57)}`, 'addon-a']) {
      const { staging, retired } = restoreIdentifiers(resourceId, newId('op'));
      for (const id of [staging, retired]) {
        expect(isValidDbInstanceIdentifier(id), id).toBe(true);
        expect(id.startsWith('addon-')).toBe(true);
      }
      expect(staging).not.toBe(retired);
    }
  });

  it('carries on a restore from whatever step a previous call reached, and repeats none', async () => {
    const resourceId = await available();
    const snapshotId = `${resourceId}-bkp-4`;
    fake.snapshotScript = { statuses: ['available'] };
    fake.restoreScript = { statuses: ['available'] };
    await provider.createSnapshot(resourceId, snapshotId);
    await provider.restoreSnapshot(resourceId, snapshotId, 'op-1');
    // A retried restoreSnapshot: the staging instance is there, nothing is sent but describes.
    await provider.restoreSnapshot(resourceId, snapshotId, 'op-1');
    expect(fake.inputsOf('rds', 'RestoreDBInstanceFromDBSnapshot')).toHaveLength(1);

    const states: string[] = [];
    for (let i = 0; i < 8; i++) {
      states.push((await provider.describeRestore(resourceId, snapshotId, 'op-1')).status);
    }
    expect(states.indexOf('available')).toBeGreaterThan(0);
    expect(states.slice(states.indexOf('available'))).toEqual(
      Array(8 - states.indexOf('available')).fill('available'),
    );
    // Each rename and the deletion happened exactly once, however often describeRestore ran.
    const renames = fake.inputsOf('rds', 'ModifyDBInstance').filter((input) => input.NewDBInstanceIdentifier);
    expect(renames).toHaveLength(2);
    expect(fake.inputsOf('rds', 'DeleteDBInstance')).toHaveLength(1);
    expect(fake.instances.get(resourceId)?.tags).toContainEqual({ Key: TAG_KEYS.restore, Value: 'op-1' });
    // Retried after the swap, restoreSnapshot recognises its own restore and sends nothing.
    await provider.restoreSnapshot(resourceId, snapshotId, 'op-1');
    expect(fake.inputsOf('rds', 'RestoreDBInstanceFromDBSnapshot')).toHaveLength(1);
  });
});

describe('AWS errors as platform errors', () => {
  const sdk = (name: string, $fault: 'client' | 'server' = 'client') =>
    new RDSServiceException({ name, $fault, $metadata, message: `${name} happened` });

  it.each([
    ['RDS throttling', sdk('Throttling')],
    ['EC2 throttling', awsErrors.ec2('RequestLimitExceeded', 'Request limit exceeded.')],
    [
      'Secrets Manager throttling',
      new SecretsManagerServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        $metadata,
        message: 'slow down',
      }),
    ],
    ['a busy instance', new InvalidDBInstanceStateFault({ $metadata, message: 'Instance is backing-up' })],
    ['a server fault', sdk('InternalFailure', 'server')],
  ])('%s is transient', (_label, error) => {
    expect(toPlatformError(error, 'doing it')).toBeInstanceOf(TransientError);
  });

  it.each([
    ['QuotaExceeded', new StorageQuotaExceededFault({ $metadata, message: 'Storage quota exceeded' })],
    ['QuotaExceeded', awsErrors.ec2('SecurityGroupLimitExceeded', 'too many groups')],
    ['QuotaExceeded', new LimitExceededException({ $metadata, message: 'too many secrets' })],
    ['InvalidRequest', sdk('InvalidParameterCombination')],
    ['InvalidRequest', sdk('InvalidParameterValue')],
    ['Misconfigured', new KMSKeyNotAccessibleFault({ $metadata, message: 'key disabled' })],
    ['AccessDenied', awsErrors.ec2('UnauthorizedOperation', 'You are not authorized')],
    ['InsufficientCapacity', sdk('InsufficientDBInstanceCapacity')],
    ['AwsError', sdk('SomethingNew')],
  ])('%s: a ProviderError with a sentence, not a stack trace', (code, error) => {
    const mapped = toPlatformError(error, 'creating the database instance');
    expect(mapped).toBeInstanceOf(ProviderError);
    expect(mapped).toMatchObject({ code });
    expect(mapped.message).toContain('creating the database instance');
    expect(mapped.message).not.toMatch(/\n\s+at /);
    expect(mapped.cause).toBe(error);
  });

  it('maps errors of the Secrets Manager store too', async () => {
    const store = new SecretsManagerStore({
      client: new SecretsManagerClient(region),
      prefix: 'addons/Test/',
    });
    fake.failNext.set('GetSecretValue', [
      new SecretsManagerServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        $metadata,
        message: 'slow',
      }),
    ]);
    await expect(store.get({ projectId: 'p', addonId: 'a' })).rejects.toBeInstanceOf(TransientError);
  });
});
