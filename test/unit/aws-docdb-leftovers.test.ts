import {
  DeleteDBClusterCommand,
  DeleteDBClusterSnapshotCommand,
  DeleteDBInstanceCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DocDBClient,
  InvalidDBClusterStateFault,
  ListTagsForResourceCommand,
  ModifyDBClusterCommand,
} from '@aws-sdk/client-docdb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '#shared/errors.ts';
import { DocdbClusterLeftovers, DocdbSnapshotLeftovers } from '#shared/providers/aws/mongodb/index.ts';
import { restoreIdentifiers } from '#shared/providers/aws/rds/rds-restore.ts';

const docdb = mockClient(DocDBClient);
afterEach(() => docdb.reset());
afterAll(() => docdb.restore());

const ADDON = 'adn-01abcdefghjkmnpqrstvwxyz0';
const RESOURCE = 'addon-01abcdefghjkmnpqrstvwxyz0';
const OLD = new Date('2020-01-01T00:00:00.000Z');
const arnOf = (kind: string, id: string) => `arn:aws:rds:eu-west-1:123456789012:${kind}:${id}`;
const client = () => new DocDBClient({ region: 'eu-west-1' });
/** Tags by ARN: ours, another deployment's, or none. */
const tagged = (tags: Record<string, string>) => {
  docdb.on(ListTagsForResourceCommand).callsFake((input) => ({
    TagList: Object.entries(tags)
      .filter(([arn]) => arn === input.ResourceName)
      .map(([, value]) => ({ Key: 'addons:deployment', Value: value })),
  }));
};

describe('DocumentDB cluster leftovers', () => {
  it("lists only this deployment's addon clusters, and tells a restore's copies and whether the primary is there", async () => {
    const { staging } = restoreIdentifiers(RESOURCE, 'op-restore-1');
    const cluster = (id: string, status = 'available') => ({
      DBClusterIdentifier: id,
      DBClusterArn: arnOf('cluster', id),
      Status: status,
      ClusterCreateTime: OLD,
    });
    docdb.on(DescribeDBClustersCommand).resolves({
      DBClusters: [
        cluster(RESOURCE),
        cluster(staging),
        cluster('addon-theirs0000000000000000'),
        cluster('addon-deleting000000000000', 'deleting'),
        cluster('customer-db'),
      ],
    });
    tagged({
      [arnOf('cluster', RESOURCE)]: 'Addons',
      [arnOf('cluster', staging)]: 'Addons',
      [arnOf('cluster', 'addon-theirs0000000000000000')]: 'AnotherStack',
      [arnOf('cluster', 'customer-db')]: 'Addons',
    });

    const found = await new DocdbClusterLeftovers({ docdb: client(), deployment: 'Addons' }).list();

    expect(found.map(({ kind, id, createdAt }) => ({ kind, id, createdAt }))).toEqual([
      { kind: 'db-cluster', id: RESOURCE, createdAt: OLD },
      { kind: 'db-cluster', id: staging, createdAt: OLD },
    ]);
    expect(found[0]?.owner).toEqual({ kind: 'addon', addonId: ADDON });
    const copy = found[1]?.owner;
    if (copy?.kind !== 'restore-copy') throw new Error('not a restore copy');
    expect(copy).toMatchObject({ addonId: ADDON, primaryPresent: true });
    expect(copy.isCopyFor('op-restore-1')).toBe(true);
    expect(copy.isCopyFor('op-restore-2')).toBe(false);
    expect(docdb.commandCalls(DescribeDBClustersCommand)[0]?.args[0].input).toMatchObject({
      Filters: [{ Name: 'engine', Values: ['docdb'] }],
    });
  });

  it('removes a cluster as the delete workflow does, and says to retry while DocumentDB refuses', async () => {
    docdb.on(DescribeDBClustersCommand).resolves({
      DBClusters: [
        {
          DBClusterIdentifier: RESOURCE,
          Status: 'available',
          DeletionProtection: true,
          DBClusterMembers: [{ DBInstanceIdentifier: `${RESOURCE}-1` }],
        },
      ],
    });
    docdb.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [{ DBInstanceIdentifier: `${RESOURCE}-1`, DBInstanceStatus: 'available' }],
    });
    docdb.on(ModifyDBClusterCommand).resolves({});
    docdb.on(DeleteDBInstanceCommand).resolves({});
    docdb
      .on(DeleteDBClusterCommand)
      .rejectsOnce(new InvalidDBClusterStateFault({ $metadata: {}, message: 'instances not deleting' }))
      .resolves({});
    const leftovers = new DocdbClusterLeftovers({ docdb: client(), deployment: 'Addons' });
    const leftover = {
      kind: 'db-cluster' as const,
      id: RESOURCE,
      owner: { kind: 'addon' as const, addonId: ADDON },
    };

    await expect(leftovers.remove(leftover)).rejects.toBeInstanceOf(TransientError);
    await leftovers.remove(leftover);

    expect(docdb.commandCalls(ModifyDBClusterCommand)[0]?.args[0].input).toEqual({
      DBClusterIdentifier: RESOURCE,
      DeletionProtection: false,
      ApplyImmediately: true,
    });
    expect(docdb.commandCalls(DeleteDBInstanceCommand)[0]?.args[0].input).toEqual({
      DBInstanceIdentifier: `${RESOURCE}-1`,
    });
    expect(docdb.commandCalls(DeleteDBClusterCommand).map((call) => call.args[0].input)).toEqual([
      { DBClusterIdentifier: RESOURCE, SkipFinalSnapshot: true },
      { DBClusterIdentifier: RESOURCE, SkipFinalSnapshot: true },
    ]);
  });
});

describe('DocumentDB cluster snapshot leftovers', () => {
  it("lists this deployment's manual snapshots named after a backup, and deletes them idempotently", async () => {
    const id = `${RESOURCE}-bkp-01gone0000000000000000000`;
    docdb.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [
        {
          DBClusterSnapshotIdentifier: id,
          DBClusterSnapshotArn: arnOf('cluster-snapshot', id),
          Status: 'available',
          SnapshotCreateTime: OLD,
        },
        { DBClusterSnapshotIdentifier: 'rds:addon-x-2020', Status: 'available' },
        {
          DBClusterSnapshotIdentifier: `${RESOURCE}-bkp-01theirs00000000000000000`,
          DBClusterSnapshotArn: arnOf('cluster-snapshot', `${RESOURCE}-bkp-01theirs00000000000000000`),
          Status: 'available',
        },
      ],
    });
    tagged({ [arnOf('cluster-snapshot', id)]: 'Addons' });
    docdb.on(DeleteDBClusterSnapshotCommand).resolves({});
    const leftovers = new DocdbSnapshotLeftovers({ docdb: client(), deployment: 'Addons' });

    const found = await leftovers.list();
    expect(found).toEqual([
      {
        kind: 'db-snapshot',
        id,
        createdAt: OLD,
        owner: { kind: 'backup', addonId: ADDON, backupId: 'bkp-01gone0000000000000000000' },
      },
    ]);
    await leftovers.remove(found[0] as (typeof found)[number]);
    expect(docdb.commandCalls(DeleteDBClusterSnapshotCommand)[0]?.args[0].input).toEqual({
      DBClusterSnapshotIdentifier: id,
    });
    expect(docdb.commandCalls(DescribeDBClusterSnapshotsCommand)[0]?.args[0].input).toMatchObject({
      SnapshotType: 'manual',
    });
  });
});
