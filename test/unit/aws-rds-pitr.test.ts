import {
  DBInstanceNotFoundFault,
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { renameSwapLeftovers } from '#shared/providers/aws/addon-resource-names.ts';
import { RdsRestorableWindows } from '#shared/providers/aws/rds/rds-pitr.ts';
import { restoreIdentifiers } from '#shared/providers/aws/rds/rds-restore.ts';

/**
 * RDS point-in-time windows: LatestRestorableTime of the instance and the earliest time of its
 * automated backups (by DbiResourceId); for a deleted instance, its retained automated backups.
 */

const rds = mockClient(RDSClient);
afterEach(() => rds.reset());
afterAll(() => rds.restore());

const RESOURCE = 'addon-01abcdefghjkmnpqrstvwxyz0';
const windows = () => new RdsRestorableWindows(new RDSClient({ region: 'eu-west-1' }));
const notFound = () => new DBInstanceNotFoundFault({ $metadata: {}, message: 'not found' });

describe('the restorable window of an RDS addon', () => {
  it('runs from its automated backups’ earliest time to the instance’s latest restorable time', async () => {
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: RESOURCE }).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: RESOURCE,
          DbiResourceId: 'db-LIVE0EXAMPLE',
          BackupRetentionPeriod: 7,
          LatestRestorableTime: new Date('2026-11-30T11:55:00Z'),
        },
      ],
    });
    rds.on(DescribeDBInstanceAutomatedBackupsCommand, { DbiResourceId: 'db-LIVE0EXAMPLE' }).resolves({
      DBInstanceAutomatedBackups: [
        {
          DbiResourceId: 'db-LIVE0EXAMPLE',
          Status: 'active',
          RestoreWindow: {
            EarliestTime: new Date('2026-11-23T10:00:00Z'),
            LatestTime: new Date('2026-11-30T11:55:00Z'),
          },
        },
      ],
    });
    expect(await windows().describeRestorableWindow(RESOURCE)).toEqual({
      earliestRestorableTime: '2026-11-23T10:00:00.000Z',
      latestRestorableTime: '2026-11-30T11:55:00.000Z',
    });
  });

  it('is null while automated backups are off or none has been taken yet', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [{ DBInstanceIdentifier: RESOURCE, DbiResourceId: 'db-NEW', BackupRetentionPeriod: 7 }],
    });
    expect(await windows().describeRestorableWindow(RESOURCE)).toBeNull();
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: RESOURCE,
          DbiResourceId: 'db-OFF',
          BackupRetentionPeriod: 0,
          LatestRestorableTime: new Date(),
        },
      ],
    });
    expect(await windows().describeRestorableWindow(RESOURCE)).toBeNull();
    expect(rds.commandCalls(DescribeDBInstanceAutomatedBackupsCommand)).toEqual([]);
  });

  it('for a deleted instance, is the window of its latest retained automated backups (a reused name has several)', async () => {
    rds.on(DescribeDBInstancesCommand).rejects(notFound());
    rds.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({
      DBInstanceAutomatedBackups: [
        {
          DBInstanceIdentifier: RESOURCE,
          DbiResourceId: 'db-OLDER',
          Status: 'retained',
          RestoreWindow: {
            EarliestTime: new Date('2026-10-01T00:00:00Z'),
            LatestTime: new Date('2026-10-05T00:00:00Z'),
          },
        },
        {
          DBInstanceIdentifier: 'addon-someoneelse',
          DbiResourceId: 'db-OTHER',
          Status: 'retained',
          RestoreWindow: {
            EarliestTime: new Date('2026-11-01T00:00:00Z'),
            LatestTime: new Date('2026-11-30T00:00:00Z'),
          },
        },
        {
          DBInstanceIdentifier: RESOURCE,
          DbiResourceId: 'db-NEWER',
          Status: 'retained',
          RestoreWindow: {
            EarliestTime: new Date('2026-11-20T00:00:00Z'),
            LatestTime: new Date('2026-11-27T08:00:00Z'),
          },
        },
      ],
    });
    expect(await windows().describeRestorableWindow(RESOURCE)).toEqual({
      earliestRestorableTime: '2026-11-20T00:00:00.000Z',
      latestRestorableTime: '2026-11-27T08:00:00.000Z',
    });
    expect(rds.commandCalls(DescribeDBInstanceAutomatedBackupsCommand)[0]?.args[0].input).toEqual({
      Filters: [{ Name: 'status', Values: ['retained'] }],
    });
  });

  it('is null for a deleted instance whose automated backups are gone', async () => {
    rds.on(DescribeDBInstancesCommand).rejects(notFound());
    rds.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({ DBInstanceAutomatedBackups: [] });
    expect(await windows().describeRestorableWindow(RESOURCE)).toBeNull();
  });
});

describe('leftovers of point-in-time restores', () => {
  it('are recognised as the restore’s copies: they use the snapshot restore’s staging and retired names', () => {
    const { staging, retired } = restoreIdentifiers(RESOURCE, 'op-pitr-1');
    const found = renameSwapLeftovers('db-instance', [
      { id: RESOURCE, createdAt: new Date() },
      { id: staging, createdAt: new Date() },
      { id: retired, createdAt: new Date() },
    ]);
    for (const id of [staging, retired]) {
      const owner = found.find((leftover) => leftover.id === id)?.owner;
      if (owner?.kind !== 'restore-copy') throw new Error(`${id} is not seen as a restore copy`);
      expect(owner.isCopyFor('op-pitr-1')).toBe(true);
      expect(owner.isCopyFor('op-other')).toBe(false);
      expect(owner.primaryPresent).toBe(true);
    }
  });
});
