import { DocDBClient, DocDBServiceException, InvalidDBClusterStateFault } from '@aws-sdk/client-docdb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { findPlan } from '#shared/catalog/engines.ts';
import { ProviderError, TransientError } from '#shared/errors.ts';
import { type InstanceSpec, type RestoreState, resourceIdFor } from '#shared/ports/engine-provider.ts';
import { toPlatformError } from '#shared/providers/aws/aws-errors.ts';
import { DocdbEngineProvider, DocdbSnapshotDeleter } from '#shared/providers/aws/mongodb/index.ts';
import { restoreIdentifiers } from '#shared/providers/aws/rds/rds-restore.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { ADMIN_USERNAME, generatePassword } from '#shared/services/credentials.ts';
import { newId } from '#shared/util/ids.ts';
import { FakeAws } from './support/fake-aws.ts';
import { clusterEndpoint, FakeDocdb } from './support/fake-docdb.ts';

const fake = new FakeAws();
const docdb = new FakeDocdb(fake.calls, fake.failNext);
afterAll(() => {
  docdb.restore();
  fake.restore();
});
beforeEach(() => {
  fake.reset();
  docdb.reset();
});

const $metadata = { httpStatusCode: 400 };
const region = { region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
const KMS_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/storage';

const provider = new DocdbEngineProvider({
  docdb: new DocDBClient(region),
  ec2: new EC2Client(region),
  vpcId: 'vpc-0123',
  vpcCidr: '10.60.0.0/16',
  subnetGroupName: 'addons-db-subnets',
  kmsKeyId: KMS_KEY,
  tlsParameterGroups: { '5.0': 'addons-docdb50-tls' },
  deployment: 'Addons',
});

const spec = (overrides: Partial<InstanceSpec> = {}): InstanceSpec => {
  const addonId = overrides.addonId ?? newId('adn');
  const plan = findPlan('mongodb', 'medium');
  if (!plan) throw new Error('no medium plan');
  return {
    resourceId: resourceIdFor(addonId),
    projectId: 'proj-a',
    addonId,
    engine: 'mongodb',
    version: '5.0',
    plan,
    storageGiB: 10,
    replicas: 0,
    tls: true,
    publicAccess: false,
    database: 'orders',
    username: ADMIN_USERNAME,
    password: generatePassword(),
    ...overrides,
  };
};

/** Describe until the state is not `creating`/`deleting` (the workflow's Wait/Describe loop), bounded. */
const settle = async (resourceId: string, pending: 'creating' | 'deleting') => {
  for (let attempt = 0; attempt < 20; attempt++) {
    const state = await provider.describeInstance(resourceId);
    if (state.status !== pending) return state;
  }
  throw new Error(`${resourceId} still ${pending}`);
};

const provisioned = async (overrides: Partial<InstanceSpec> = {}) => {
  const addon = spec(overrides);
  await provider.createInstance(addon);
  expect(await settle(addon.resourceId, 'creating')).toMatchObject({ status: 'available' });
  fake.calls.length = 0;
  return addon;
};

const restoreUntilDone = async (resourceId: string, snapshotId: string, restoreId: string) => {
  let state: RestoreState = { status: 'restoring' };
  for (let attempt = 0; attempt < 30 && state.status === 'restoring'; attempt++) {
    state = await provider.describeRestore(resourceId, snapshotId, restoreId);
  }
  return state;
};

describe('DocumentDB provisioning', () => {
  it('creates an encrypted, protected DocumentDB 5.0 cluster in the shared subnet group with the TLS parameter group, then one instance per node', async () => {
    const addon = spec({ replicas: 2 });
    await provider.createInstance(addon);

    const [group] = [...fake.groups.values()].filter((entry) => entry.name === addon.resourceId);
    expect(fake.inputsOf('rds', 'CreateDBCluster')).toEqual([
      {
        DBClusterIdentifier: addon.resourceId,
        Engine: 'docdb',
        EngineVersion: '5.0.0',
        MasterUsername: ADMIN_USERNAME,
        MasterUserPassword: addon.password,
        Port: 27017,
        DBSubnetGroupName: 'addons-db-subnets',
        VpcSecurityGroupIds: [group?.id],
        DBClusterParameterGroupName: 'addons-docdb50-tls',
        StorageEncrypted: true,
        KmsKeyId: KMS_KEY,
        BackupRetentionPeriod: 7,
        DeletionProtection: true,
        Tags: [
          { Key: TAG_KEYS.deployment, Value: 'Addons' },
          { Key: TAG_KEYS.project, Value: 'proj-a' },
          { Key: TAG_KEYS.addon, Value: addon.addonId },
        ],
      },
    ]);
    const instances = fake.inputsOf('rds', 'CreateDBInstance');
    expect(instances.map((input) => input.DBInstanceIdentifier)).toEqual(
      [1, 2, 3].map((node) => `${addon.resourceId}-${node}`),
    );
    for (const input of instances) {
      expect(input).toMatchObject({
        DBClusterIdentifier: addon.resourceId,
        DBInstanceClass: 'db.t4g.medium',
        Engine: 'docdb',
        Tags: expect.arrayContaining([{ Key: TAG_KEYS.deployment, Value: 'Addons' }]),
      });
    }
    // The addon's group admits 27017 from the project's client group, which may reach 27017 in the VPC.
    expect(fake.inputsOf('ec2', 'AuthorizeSecurityGroupIngress')).toMatchObject([
      { GroupId: group?.id, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 27017, ToPort: 27017 }] },
    ]);
    expect(fake.inputsOf('ec2', 'AuthorizeSecurityGroupEgress')).toMatchObject([
      { IpPermissions: [{ FromPort: 27017, ToPort: 27017, IpRanges: [{ CidrIp: '10.60.0.0/16' }] }] },
    ]);
  });

  it('refuses an addon without TLS (the API already answers 422), before sending anything', async () => {
    await expect(provider.createInstance(spec({ tls: false }))).rejects.toMatchObject({
      code: 'UnsupportedOption',
    });
    expect(fake.calls).toEqual([]);
  });

  it('is idempotent: a retried create after the cluster was made creates what is missing and nothing twice', async () => {
    const addon = spec({ replicas: 1 });
    fake.failNext.set('CreateDBInstance', [
      new DocDBServiceException({
        name: 'Throttling',
        $fault: 'client',
        $metadata,
        message: 'Rate exceeded',
      }),
    ]);
    await expect(provider.createInstance(addon)).rejects.toBeInstanceOf(TransientError);
    await provider.createInstance(addon);

    expect(docdb.clusters.size).toBe(1);
    expect(docdb.membersOf(addon.resourceId).map((instance) => instance.id)).toEqual([
      `${addon.resourceId}-1`,
      `${addon.resourceId}-2`,
    ]);
    expect(fake.inputsOf('rds', 'CreateDBCluster')).toHaveLength(2);
  });

  it('reports creating until the cluster and every instance are available, then the cluster endpoint on 27017 and the client group', async () => {
    const addon = spec({ replicas: 1 });
    docdb.instanceScript = { statuses: ['creating', 'creating', 'backing-up', 'available'] };
    await provider.createInstance(addon);

    expect(await provider.describeInstance(addon.resourceId)).toEqual({ status: 'creating' });
    const state = await settle(addon.resourceId, 'creating');
    const clientGroup = [...fake.groups.values()].find((group) => group.name === 'clients-proj-a');
    expect(state).toEqual({
      status: 'available',
      endpoint: { host: clusterEndpoint(addon.resourceId), port: 27017 },
      network: { clientSecurityGroupId: clientGroup?.id },
    });
  });

  it('fails when an instance cannot become available by waiting', async () => {
    const addon = spec();
    docdb.instanceScript = { statuses: ['creating', 'incompatible-network'] };
    await provider.createInstance(addon);
    expect(await settle(addon.resourceId, 'creating')).toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('incompatible-network'),
    });
  });

  it('refuses public access and a version the deployment has no parameter group for', async () => {
    await expect(provider.createInstance(spec({ publicAccess: true }))).rejects.toMatchObject({
      code: 'UnsupportedOption',
    });
    await expect(provider.createInstance(spec({ version: '4.0' }))).rejects.toBeInstanceOf(ProviderError);
    expect(fake.calls).toEqual([]);
  });
});

describe('DocumentDB teardown', () => {
  it('turns protection off, deletes the instances, then the cluster without a final snapshot, then the security group', async () => {
    const addon = await provisioned({ replicas: 1 });
    await provider.deleteInstance(addon.resourceId);

    expect(fake.inputsOf('rds', 'ModifyDBCluster')).toEqual([
      { DBClusterIdentifier: addon.resourceId, DeletionProtection: false, ApplyImmediately: true },
    ]);
    expect(fake.inputsOf('rds', 'DeleteDBInstance')).toEqual([
      { DBInstanceIdentifier: `${addon.resourceId}-1` },
      { DBInstanceIdentifier: `${addon.resourceId}-2` },
    ]);
    expect(fake.inputsOf('rds', 'DeleteDBCluster')).toEqual([
      { DBClusterIdentifier: addon.resourceId, SkipFinalSnapshot: true },
    ]);
    expect(await settle(addon.resourceId, 'deleting')).toEqual({ status: 'absent' });
    expect(docdb.clusters.size).toBe(0);
    expect(docdb.instances.size).toBe(0);
    expect([...fake.groups.values()].some((group) => group.name === addon.resourceId)).toBe(false);
    // Idempotent: nothing left, nothing to do.
    await provider.deleteInstance(addon.resourceId);
  });

  it('asks to be retried (TransientError) while the cluster is still being created, and deletes it on the retry', async () => {
    const addon = spec();
    await provider.createInstance(addon);

    await expect(provider.deleteInstance(addon.resourceId)).rejects.toBeInstanceOf(TransientError);
    // Step Functions retries; by then DocumentDB shows the cluster available and lets it go.
    await provider.describeInstance(addon.resourceId);
    await provider.deleteInstance(addon.resourceId);
    expect(fake.inputsOf('rds', 'DeleteDBCluster')).toHaveLength(1);
    expect(await settle(addon.resourceId, 'deleting')).toEqual({ status: 'absent' });
  });

  it('maps DocumentDB busy clusters to TransientError', () => {
    const error = new InvalidDBClusterStateFault({ $metadata, message: 'busy' });
    expect(toPlatformError(error, 'doing it')).toBeInstanceOf(TransientError);
  });
});

describe('DocumentDB cluster snapshots', () => {
  it('takes a tagged cluster snapshot, reports it available without a size, and deletes it idempotently', async () => {
    const addon = await provisioned();
    const snapshotId = `${addon.resourceId}-bkp-1`;
    await provider.createSnapshot(addon.resourceId, snapshotId);
    await provider.createSnapshot(addon.resourceId, snapshotId);

    expect(fake.inputsOf('rds', 'CreateDBClusterSnapshot')[0]).toEqual({
      DBClusterSnapshotIdentifier: snapshotId,
      DBClusterIdentifier: addon.resourceId,
      Tags: [
        { Key: TAG_KEYS.deployment, Value: 'Addons' },
        { Key: TAG_KEYS.source, Value: addon.resourceId },
      ],
    });
    expect(await provider.describeSnapshot(snapshotId)).toEqual({ status: 'creating' });
    expect(await provider.describeSnapshot(snapshotId)).toEqual({ status: 'available', sizeBytes: null });
    await new DocdbSnapshotDeleter(new DocDBClient(region)).deleteSnapshot(snapshotId);
    await provider.deleteSnapshot(snapshotId);
    expect(await provider.describeSnapshot(snapshotId)).toEqual({ status: 'absent' });
  });
});

describe('DocumentDB restore: to a new cluster, then swapped in by renames', () => {
  const snapshotOf = async (resourceId: string) => {
    const snapshotId = `${resourceId}-bkp-1`;
    await provider.createSnapshot(resourceId, snapshotId);
    fake.calls.length = 0;
    return snapshotId;
  };

  it('restores into a staging cluster with the addon’s network and parameter group, adds the same instances, swaps, and deletes the old cluster; the endpoint stays', async () => {
    const addon = await provisioned({ replicas: 1 });
    const snapshotId = await snapshotOf(addon.resourceId);
    const { staging, retired } = restoreIdentifiers(addon.resourceId, 'op-restore-1');

    await provider.restoreSnapshot(addon.resourceId, snapshotId, 'op-restore-1');
    await provider.restoreSnapshot(addon.resourceId, snapshotId, 'op-restore-1');
    const [group] = [...fake.groups.values()].filter((entry) => entry.name === addon.resourceId);
    expect(fake.inputsOf('rds', 'RestoreDBClusterFromSnapshot')).toEqual([
      {
        DBClusterIdentifier: staging,
        SnapshotIdentifier: snapshotId,
        Engine: 'docdb',
        EngineVersion: '5.0.0',
        Port: 27017,
        DBSubnetGroupName: 'addons-db-subnets',
        VpcSecurityGroupIds: [group?.id],
        DBClusterParameterGroupName: 'addons-docdb50-tls',
        // Protected once it is the addon's: a failed staging cluster must stay deletable.
        DeletionProtection: false,
        Tags: [
          { Key: TAG_KEYS.deployment, Value: 'Addons' },
          { Key: TAG_KEYS.project, Value: 'proj-a' },
          { Key: TAG_KEYS.addon, Value: addon.addonId },
          { Key: TAG_KEYS.restore, Value: 'op-restore-1' },
        ],
      },
    ]);

    expect(await restoreUntilDone(addon.resourceId, snapshotId, 'op-restore-1')).toEqual({
      status: 'available',
    });
    expect(fake.inputsOf('rds', 'CreateDBInstance')).toMatchObject([
      {
        DBInstanceIdentifier: `${staging}-1`,
        DBClusterIdentifier: staging,
        DBInstanceClass: 'db.t4g.medium',
      },
      {
        DBInstanceIdentifier: `${staging}-2`,
        DBClusterIdentifier: staging,
        DBInstanceClass: 'db.t4g.medium',
      },
    ]);
    expect(fake.inputsOf('rds', 'ModifyDBCluster').filter((input) => input.NewDBClusterIdentifier)).toEqual([
      { DBClusterIdentifier: addon.resourceId, NewDBClusterIdentifier: retired, ApplyImmediately: true },
      { DBClusterIdentifier: staging, NewDBClusterIdentifier: addon.resourceId, ApplyImmediately: true },
    ]);
    expect(fake.inputsOf('rds', 'DeleteDBCluster')).toEqual([
      { DBClusterIdentifier: retired, SkipFinalSnapshot: true },
    ]);
    const swapped = docdb.clusters.get(addon.resourceId);
    expect(swapped?.tags).toContainEqual({ Key: TAG_KEYS.restore, Value: 'op-restore-1' });
    expect(swapped?.deletionProtection).toBe(true);
    expect(await provider.describeInstance(addon.resourceId)).toMatchObject({
      status: 'available',
      endpoint: { host: clusterEndpoint(addon.resourceId), port: 27017 },
    });
    // A retried start after the swap changes nothing; a discard reports the restore completed.
    await provider.restoreSnapshot(addon.resourceId, snapshotId, 'op-restore-1');
    expect(await provider.discardRestore(addon.resourceId, snapshotId, 'op-restore-1')).toBe('completed');
    expect(fake.inputsOf('rds', 'RestoreDBClusterFromSnapshot')).toHaveLength(1);
  });

  it('keeps the addon’s cluster and deletes the staging one when the restored cluster fails before the swap', async () => {
    const addon = await provisioned();
    const snapshotId = await snapshotOf(addon.resourceId);
    docdb.restoreScript = { statuses: ['creating', 'incompatible-restore'] };
    const { staging } = restoreIdentifiers(addon.resourceId, 'op-restore-2');

    await provider.restoreSnapshot(addon.resourceId, snapshotId, 'op-restore-2');
    expect(await restoreUntilDone(addon.resourceId, snapshotId, 'op-restore-2')).toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('keeps its data'),
    });
    expect(fake.inputsOf('rds', 'ModifyDBCluster').some((input) => input.NewDBClusterIdentifier)).toBe(false);
    expect(docdb.clusters.get(addon.resourceId)?.tags.some((tag) => tag.Key === TAG_KEYS.restore)).toBe(
      false,
    );
    expect(fake.inputsOf('rds', 'DeleteDBCluster')).toEqual([
      { DBClusterIdentifier: staging, SkipFinalSnapshot: true },
    ]);
  });

  it('discards a restore before the swap by deleting the staging cluster', async () => {
    const addon = await provisioned();
    const snapshotId = await snapshotOf(addon.resourceId);
    await provider.restoreSnapshot(addon.resourceId, snapshotId, 'op-restore-3');
    await provider.describeRestore(addon.resourceId, snapshotId, 'op-restore-3');
    const { staging } = restoreIdentifiers(addon.resourceId, 'op-restore-3');

    expect(await provider.discardRestore(addon.resourceId, snapshotId, 'op-restore-3')).toBe('discarded');
    expect(fake.inputsOf('rds', 'DeleteDBCluster')).toEqual([
      { DBClusterIdentifier: staging, SkipFinalSnapshot: true },
    ]);
    expect(docdb.clusters.get(addon.resourceId)?.deletionProtection).toBe(true);
  });

  it('discards a restore between the renames by renaming the addon’s cluster back first (TransientError until done)', async () => {
    const addon = await provisioned();
    const snapshotId = await snapshotOf(addon.resourceId);
    const { staging, retired } = restoreIdentifiers(addon.resourceId, 'op-restore-4');
    await provider.restoreSnapshot(addon.resourceId, snapshotId, 'op-restore-4');
    for (let attempt = 0; attempt < 20 && docdb.clusters.has(addon.resourceId); attempt++) {
      await provider.describeRestore(addon.resourceId, snapshotId, 'op-restore-4');
    }
    // Between the renames: nothing answers to the addon's identifier.
    expect(docdb.clusters.has(addon.resourceId)).toBe(false);
    expect(docdb.clusters.has(retired)).toBe(true);

    let outcome: string | undefined;
    for (let attempt = 0; attempt < 5 && !outcome; attempt++) {
      outcome = await provider
        .discardRestore(addon.resourceId, snapshotId, 'op-restore-4')
        .catch((error: unknown) => {
          expect(error).toBeInstanceOf(TransientError);
          return undefined;
        });
    }
    expect(outcome).toBe('discarded');
    expect(fake.inputsOf('rds', 'ModifyDBCluster').filter((input) => input.NewDBClusterIdentifier)).toEqual([
      { DBClusterIdentifier: addon.resourceId, NewDBClusterIdentifier: retired, ApplyImmediately: true },
      { DBClusterIdentifier: retired, NewDBClusterIdentifier: addon.resourceId, ApplyImmediately: true },
    ]);
    expect(docdb.clusters.get(addon.resourceId)?.tags.some((tag) => tag.Key === TAG_KEYS.restore)).toBe(
      false,
    );
    expect(docdb.clusters.get(staging)?.deletingDescribes).toBeDefined();
  });
});
