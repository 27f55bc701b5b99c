import {
  DeleteDBSnapshotCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  InvalidDBSnapshotStateFault,
  RDSClient,
} from '@aws-sdk/client-rds';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '#shared/errors.ts';
import { RdsInstanceLeftovers, RdsSnapshotLeftovers } from '#shared/providers/aws/aws-leftovers.ts';
import { restoreIdentifiers } from '#shared/providers/aws/rds/rds-restore.ts';
import { SfnExecutions } from '#shared/providers/aws/sfn-executions.ts';
import { DumpObjectLeftovers } from '#shared/providers/dump-leftovers.ts';

const rds = mockClient(RDSClient);
const s3 = mockClient(S3Client);
const sfn = mockClient(SFNClient);
afterEach(() => {
  rds.reset();
  s3.reset();
  sfn.reset();
});
afterAll(() => {
  rds.restore();
  s3.restore();
  sfn.restore();
});

const ADDON = 'adn-01abcdefghjkmnpqrstvwxyz0';
const RESOURCE = 'addon-01abcdefghjkmnpqrstvwxyz0';
const ours = [{ Key: 'addons:deployment', Value: 'Addons' }];
const client = () => new RDSClient({ region: 'eu-west-1' });

describe('RDS instance leftovers', () => {
  it("lists only this deployment's addon instances, and tells a restore's copies and whether the primary is there", async () => {
    // Prepare
    const { staging, retired } = restoreIdentifiers(RESOURCE, 'op-restore-1');
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        { DBInstanceIdentifier: retired, DBInstanceStatus: 'available', TagList: ours },
        { DBInstanceIdentifier: staging, DBInstanceStatus: 'available', TagList: ours },
        { DBInstanceIdentifier: 'addon-other', DBInstanceStatus: 'available', TagList: [] },
        { DBInstanceIdentifier: 'addon-01zzzz', DBInstanceStatus: 'deleting', TagList: ours },
        { DBInstanceIdentifier: 'orders-prod', DBInstanceStatus: 'available', TagList: ours },
      ],
    });

    // Act
    const listed = await new RdsInstanceLeftovers({ rds: client(), deployment: 'Addons' }).list();

    // Assess
    expect(listed.map((leftover) => leftover.id)).toEqual([retired, staging]);
    const owner = listed[0]?.owner;
    if (owner?.kind !== 'restore-copy') throw new Error(`unexpected owner ${JSON.stringify(owner)}`);
    expect(owner).toMatchObject({ addonId: ADDON, primaryPresent: false });
    expect(owner.isCopyFor('op-restore-1')).toBe(true);
    expect(owner.isCopyFor('op-restore-2')).toBe(false);
  });
});

describe('RDS read replica leftovers', () => {
  it("lists an addon's read replicas with their number, so a replica above the addon's count is known", async () => {
    // Prepare
    const created = new Date('2026-01-01T00:00:00Z');
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        { DBInstanceIdentifier: RESOURCE, DBInstanceStatus: 'available', TagList: ours },
        {
          DBInstanceIdentifier: `${RESOURCE}-replica-2`,
          DBInstanceStatus: 'available',
          TagList: ours,
          InstanceCreateTime: created,
        },
        { DBInstanceIdentifier: `${RESOURCE}-replica-0`, DBInstanceStatus: 'available', TagList: ours },
        { DBInstanceIdentifier: `${RESOURCE}-replica-3`, DBInstanceStatus: 'available', TagList: [] },
      ],
    });

    // Act
    const listed = await new RdsInstanceLeftovers({ rds: client(), deployment: 'Addons' }).list();

    // Assess: another deployment's replica and a name we never give are left out.
    expect(listed.map((leftover) => [leftover.id, leftover.owner])).toEqual([
      [RESOURCE, { kind: 'addon', addonId: ADDON }],
      [`${RESOURCE}-replica-2`, { kind: 'replica', addonId: ADDON, number: 2 }],
    ]);
    expect(listed[1]?.createdAt).toEqual(created);
  });
});

describe('RDS snapshot leftovers', () => {
  it('names the backup of each snapshot and leaves other snapshots out', async () => {
    // Prepare
    rds.on(DescribeDBSnapshotsCommand).resolves({
      DBSnapshots: [
        { DBSnapshotIdentifier: `${RESOURCE}-bkp-01aaaa`, Status: 'creating', TagList: ours },
        { DBSnapshotIdentifier: `${RESOURCE}-bkp-01bbbb`, Status: 'available', TagList: [] },
        { DBSnapshotIdentifier: 'manual-by-an-operator', Status: 'available', TagList: ours },
      ],
    });

    // Act
    const listed = await new RdsSnapshotLeftovers({ rds: client(), deployment: 'Addons' }).list();

    // Assess
    expect(listed).toEqual([
      {
        kind: 'db-snapshot',
        id: `${RESOURCE}-bkp-01aaaa`,
        createdAt: expect.any(Date),
        owner: { kind: 'backup', addonId: ADDON, backupId: 'bkp-01aaaa' },
      },
    ]);
  });

  it('reports a snapshot RDS is still creating as not removable yet (retried next run)', async () => {
    // Prepare
    rds
      .on(DeleteDBSnapshotCommand)
      .rejects(
        new InvalidDBSnapshotStateFault({ $metadata: { httpStatusCode: 400 }, message: 'not available' }),
      );
    const source = new RdsSnapshotLeftovers({ rds: client(), deployment: 'Addons' });

    // Act
    const removal = source.remove({
      kind: 'db-snapshot',
      id: `${RESOURCE}-bkp-01aaaa`,
      owner: { kind: 'backup', addonId: ADDON, backupId: 'bkp-01aaaa' },
    });

    // Assess
    await expect(removal).rejects.toBeInstanceOf(TransientError);
  });
});

describe('dump object leftovers', () => {
  it('reads project, addon and backup from each dump and snapshot-copy key and ignores keys of another layout', async () => {
    // Prepare
    s3.on(ListObjectsV2Command, { Prefix: 'dumps/' })
      .resolves({
        Contents: [
          { Key: `dumps/p1/${ADDON}/bkp-01cccc.dump.zst`, LastModified: new Date(0) },
          { Key: `dumps/p1/${ADDON}/bkp-01cccc.dump.zst.result.json`, LastModified: new Date(0) },
          { Key: 'dumps/readme.txt', LastModified: new Date(0) },
        ],
      })
      .on(ListObjectsV2Command, { Prefix: 'snapshots/' })
      .resolves({
        Contents: [
          { Key: `snapshots/p1/${ADDON}/bkp-01dddd.rdb`, LastModified: new Date(0) },
          { Key: 'snapshots/readme.txt', LastModified: new Date(0) },
        ],
      });

    // Act
    const listed = await new DumpObjectLeftovers({
      client: new S3Client({ region: 'eu-west-1' }),
      bucket: 'b',
      snapshotCopies: true,
    }).list();

    // Assess
    expect(listed.map((leftover) => leftover.owner)).toEqual([
      { kind: 'backup', projectId: 'p1', addonId: ADDON, backupId: 'bkp-01cccc' },
      { kind: 'backup', projectId: 'p1', addonId: ADDON, backupId: 'bkp-01cccc' },
      { kind: 'backup', projectId: 'p1', addonId: ADDON, backupId: 'bkp-01dddd' },
    ]);
  });
});

describe('Step Functions executions', () => {
  const executions = () =>
    new SfnExecutions({
      client: new SFNClient({ region: 'eu-west-1' }),
      stateMachineArns: {
        'provision-addon': 'arn:aws:states:eu-west-1:1:stateMachine:p',
        'delete-addon': 'arn:aws:states:eu-west-1:1:stateMachine:d',
        'backup-addon': 'arn:aws:states:eu-west-1:1:stateMachine:b',
        'restore-addon': 'arn:aws:states:eu-west-1:1:stateMachine:r',
        'export-backup': 'arn:aws:states:eu-west-1:1:stateMachine:e',
        'scale-addon': 'arn:aws:states:eu-west-1:1:stateMachine:s',
        'rotate-credentials': 'arn:aws:states:eu-west-1:1:stateMachine:rc',
        'upgrade-addon': 'arn:aws:states:eu-west-1:1:stateMachine:u',
        'update-replicas': 'arn:aws:states:eu-west-1:1:stateMachine:u',
        'update-networking': 'arn:aws:states:eu-west-1:1:stateMachine:n',
      },
    });

  it('tells running, ended and never-started executions apart', async () => {
    // Prepare
    sfn
      .on(DescribeExecutionCommand, { executionArn: 'arn:aws:states:eu-west-1:1:execution:b:op-1' })
      .resolves({ status: 'RUNNING' })
      .on(DescribeExecutionCommand, { executionArn: 'arn:aws:states:eu-west-1:1:execution:b:op-2' })
      .resolves({ status: 'FAILED' })
      .on(DescribeExecutionCommand, { executionArn: 'arn:aws:states:eu-west-1:1:execution:b:op-3' })
      .rejects(new ExecutionDoesNotExist({ $metadata: {}, message: 'no such execution' }));

    // Act
    const states = await Promise.all(
      ['op-1', 'op-2', 'op-3'].map((id) => executions().describe('backup-addon', id)),
    );

    // Assess
    expect(states).toEqual([
      { status: 'running' },
      { status: 'ended', outcome: 'FAILED' },
      { status: 'absent' },
    ]);
  });
});
