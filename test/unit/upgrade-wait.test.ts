import { DescribeDBInstancesCommand, DescribeEventsCommand, RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ProviderError } from '#shared/errors.ts';
import type { UpgradeState } from '#shared/ports/engine-provider.ts';
import { RdsInstances } from '#shared/providers/aws/rds/rds-instances.ts';
import { RdsUpgrades } from '#shared/providers/aws/rds/rds-upgrade.ts';
import { upgradeFailureIn } from '#shared/providers/aws/upgrade-events.ts';
import { DEFAULT_MAX_UNCHANGED, UpgradeTasks } from '#shared/services/upgrade-tasks.ts';

/**
 * The upgrade workflow's bounded wait (upgrade-tasks.ts `describeUpgrade`), with the provider's
 * answers scripted: an instance left on its old version fails the upgrade after a few checks in a
 * row, a change held pending fails it at the overall bound naming what it waited for, and
 * `failed` ends it at once. Then what RDS's describe answers for a change it holds pending.
 */
const STARTED = '2026-12-01T10:00:00.000Z';

const tasksAnswering = (states: UpgradeState[]) => {
  const seen: Array<{ since?: string }> = [];
  const provider = {
    upgradeInstance: async () => {},
    describeUpgrade: async (_id: string, spec: { since?: string }) => {
      seen.push({ since: spec.since });
      return states.length > 1 ? (states.shift() as UpgradeState) : (states[0] as UpgradeState);
    },
  };
  const store = {
    getAddon: async () => ({ id: 'adn-w', resourceId: 'addon-w', engine: 'postgresql', tls: true }),
    getOperation: async () => ({ id: 'op-w', startedAt: STARTED, createdAt: '2026-12-01T09:59:00.000Z' }),
  };
  const tasks = new UpgradeTasks({
    store: store as never,
    backups: {} as never,
    artifacts: {} as never,
    engines: { of: () => ({ provider }) } as never,
    secrets: {} as never,
  });
  return { tasks, seen };
};

const ref = { projectId: 'p', addonId: 'adn-w', operationId: 'op-w', backupId: 'bkp-w', version: '17' };

/** Runs the describe step as the state machine does, passing its result back, until it throws or ends. */
const wait = async (tasks: UpgradeTasks, maxAttempts = 240) => {
  let state = { status: 'upgrading', attempts: 0, unchanged: 0 };
  for (let i = 0; i < 1000; i++) {
    state = (await tasks.run({
      action: 'describeUpgrade',
      ...ref,
      ...state,
      maxAttempts,
      maxUnchanged: 6,
    })) as typeof state;
    if (state.status !== 'upgrading') return state;
  }
  throw new Error('the wait never ended');
};

describe('the upgrade wait', () => {
  it('fails an instance left unchanged after maxUnchanged checks in a row, with the reason, and passes the operation start', async () => {
    const { tasks, seen } = tasksAnswering([
      { status: 'unchanged', reason: 'RDS left instance addon-w on 16.4' },
    ]);

    const error = await wait(tasks).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).message).toBe('RDS left instance addon-w on 16.4 (6 checks in a row)');
    expect((error as ProviderError).code).toBe('UpgradeFailed');
    expect(seen).toHaveLength(6);
    expect(seen[0]).toEqual({ since: STARTED });
    expect(DEFAULT_MAX_UNCHANGED).toBe(6);
  });

  it('an unchanged look between upgrading ones starts the count again: a change shown late completes', async () => {
    const { tasks } = tasksAnswering([
      ...Array.from({ length: 5 }, (): UpgradeState => ({ status: 'unchanged', reason: 'not yet' })),
      { status: 'upgrading' },
      ...Array.from({ length: 5 }, (): UpgradeState => ({ status: 'unchanged', reason: 'not yet' })),
      { status: 'available' },
    ]);

    await expect(wait(tasks)).resolves.toMatchObject({ status: 'available', attempts: 12 });
  });

  it('a change held pending fails at the overall bound, naming what it waited for', async () => {
    const { tasks, seen } = tasksAnswering([
      { status: 'upgrading', detail: 'RDS holds the upgrade of instance addon-w to 17 as pending' },
    ]);

    const error = await wait(tasks, 20).catch((caught: unknown) => caught);

    expect((error as ProviderError).code).toBe('UpgradeWaitTimeout');
    expect((error as ProviderError).message).toBe(
      'The upgrade was still running after 20 checks; giving up: RDS holds the upgrade of instance addon-w to 17 as pending',
    );
    expect(seen).toHaveLength(20);
  });

  it('a failed state ends the wait at the first check', async () => {
    const { tasks, seen } = tasksAnswering([{ status: 'failed', reason: 'PreUpgrade checks failed' }]);

    await expect(wait(tasks)).rejects.toMatchObject({
      code: 'UpgradeFailed',
      message: 'PreUpgrade checks failed',
    });
    expect(seen).toHaveLength(1);
  });
});

describe('RDS upgrade describe', () => {
  const rds = mockClient(RDSClient);
  afterAll(() => rds.restore());
  beforeEach(() => rds.reset());
  const client = new RDSClient({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  // As the provider sends: through the client, whose send the mock replaces.
  const send = ((command: Parameters<RDSClient['send']>[0]) => client.send(command)) as RDSClient['send'];
  const upgrades = new RdsUpgrades(send, new RdsInstances(send), () => 'pg17');
  const instance = (extra: object) =>
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: 'addon-w',
          DBInstanceStatus: 'available',
          EngineVersion: '16.4',
          Endpoint: { Address: 'addon-w.rds', Port: 5432 },
          ...extra,
        },
      ],
    });
  const spec = { version: '17', upgradeId: 'op-w', tls: true, since: STARTED };

  it('available with the new version pending: upgrading, saying RDS holds it', async () => {
    instance({ PendingModifiedValues: { EngineVersion: '17.2' } });

    await expect(upgrades.describe('addon-w', spec)).resolves.toEqual({
      status: 'upgrading',
      detail:
        'RDS holds the upgrade of instance addon-w to 17.2 as pending; the instance is available on 16.4',
    });
    expect(rds.commandCalls(DescribeEventsCommand)).toHaveLength(0);
  });

  it('events RDS refuses to answer leave the reason without them (a diagnostic, not a failure of its own)', async () => {
    instance({});
    rds.on(DescribeEventsCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));

    await expect(upgrades.describe('addon-w', spec)).resolves.toMatchObject({ status: 'unchanged' });
  });
});

describe('which event says an upgrade failed', () => {
  it('the latest message about an upgrade that failed; other events are not reasons', () => {
    expect(
      upgradeFailureIn([
        'Finished DB Instance backup',
        'Database instance is in a state that cannot be upgraded: PreUpgrade checks failed',
        'DB instance restarted',
      ]),
    ).toBe('Database instance is in a state that cannot be upgraded: PreUpgrade checks failed');
    expect(upgradeFailureIn(['Upgrade in progress', 'Database upgrade started', undefined])).toBeUndefined();
    expect(upgradeFailureIn(['Backup failed'])).toBeUndefined();
  });
});
