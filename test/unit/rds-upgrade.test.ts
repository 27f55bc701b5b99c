import {
  DescribeDBInstancesCommand,
  DescribeEventsCommand,
  ModifyDBInstanceCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { RdsInstances } from '#shared/providers/aws/rds/rds-instances.ts';
import { RdsUpgrades } from '#shared/providers/aws/rds/rds-upgrade.ts';

/** RDS engine upgrades (rds-upgrade.ts) against a mocked RDS: the ModifyDBInstance call and the describe loop. */
const rds = mockClient(RDSClient);
const client = new RDSClient({ region: 'eu-west-1' });
const send = ((command: never) => client.send(command)) as RDSClient['send'];
const upgrades = new RdsUpgrades(
  send,
  new RdsInstances(send),
  (version, tls) => `pg-${version}-${tls ? 'tls' : 'plain'}`,
);
const spec = { version: '17', upgradeId: 'op-1', tls: true };
const instance = (status: string, version: string, pending?: string) => ({
  DBInstances: [
    {
      DBInstanceIdentifier: 'addon-1',
      DBInstanceStatus: status,
      EngineVersion: version,
      Endpoint: { Address: 'addon-1.example', Port: 5432 },
      ...(pending ? { PendingModifiedValues: { EngineVersion: pending } } : {}),
    },
  ],
});

beforeEach(() => rds.reset());

describe('RDS upgrades', () => {
  it('modifies the instance to the new major with its family parameter group, at once', async () => {
    rds.on(DescribeDBInstancesCommand).resolves(instance('available', '16.4'));
    rds.on(ModifyDBInstanceCommand).resolves({});
    await upgrades.start('addon-1', spec);
    expect(rds.commandCalls(ModifyDBInstanceCommand).map((call) => call.args[0].input)).toEqual([
      {
        DBInstanceIdentifier: 'addon-1',
        EngineVersion: '17',
        AllowMajorVersionUpgrade: true,
        ApplyImmediately: true,
        DBParameterGroupName: 'pg-17-tls',
      },
    ]);
  });

  it('does not modify again an instance already upgrading or upgraded (a retried task)', async () => {
    rds
      .on(DescribeDBInstancesCommand)
      .resolvesOnce(instance('available', '16.4', '17'))
      .resolves(instance('available', '17.1'));
    await upgrades.start('addon-1', spec);
    await upgrades.start('addon-1', spec);
    expect(rds.commandCalls(ModifyDBInstanceCommand)).toEqual([]);
  });

  it('reports upgrading, then available on the new version', async () => {
    rds
      .on(DescribeDBInstancesCommand)
      .resolvesOnce(instance('available', '16.4', '17'))
      .resolvesOnce(instance('upgrading', '16.4'))
      .resolves(instance('available', '17.1'));
    // Held as pending on an available instance: still upgrading, and what is pending is named.
    expect(await upgrades.describe('addon-1', spec)).toEqual({
      status: 'upgrading',
      detail: expect.stringContaining('to 17 as pending'),
    });
    expect(await upgrades.describe('addon-1', spec)).toEqual({ status: 'upgrading' });
    expect(await upgrades.describe('addon-1', spec)).toEqual({
      status: 'available',
      endpoint: { host: 'addon-1.example', port: 5432 },
    });
    expect(await upgrades.discard('addon-1', spec)).toBe('completed');
  });

  it('reports a refused upgrade (available on the old version, nothing pending) as failed with the event that says why, and discards nothing', async () => {
    rds.on(DescribeDBInstancesCommand).resolves(instance('available', '16.4'));
    rds.on(DescribeEventsCommand).resolves({
      Events: [
        { Message: 'Database instance is in a state that cannot be upgraded: PreUpgrade checks failed' },
      ],
    });
    const state = await upgrades.describe('addon-1', spec);
    expect(state).toMatchObject({ status: 'failed' });
    expect(state.status === 'failed' && state.reason).toContain('RDS left instance addon-1 on 16.4');
    expect(await upgrades.discard('addon-1', spec)).toBe('discarded');
  });

  it('reports an upgrade left undone without an event as unchanged (the workflow bounds how long)', async () => {
    rds.on(DescribeDBInstancesCommand).resolves(instance('available', '16.4'));
    rds.on(DescribeEventsCommand).resolves({ Events: [] });
    const state = await upgrades.describe('addon-1', spec);
    expect(state).toMatchObject({ status: 'unchanged' });
    expect(state.status === 'unchanged' && state.reason).toContain('no RDS event of the instance says why');
  });
});
