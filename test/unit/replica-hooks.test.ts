import { describe, expect, it } from 'vitest';
import type { InstanceRecord } from '#infra/local/engines/driver.ts';
import { withReplicaCleanup, withReplicaReseed } from '#infra/local/engines/replica-hooks.ts';
import { primaryDataOf } from '#infra/local/engines/replica-record.ts';
import type { LocalReplicas } from '#infra/local/engines/replicas.ts';
import { ProviderError } from '#shared/errors.ts';
import type {
  EngineProvider,
  RestoreState,
  SnapshotProvider,
  UpgradeSpec,
  UpgradeState,
} from '#shared/ports/engine-provider.ts';

/**
 * The local provider hooks that seed replicas again after a restore or an upgrade replaced the
 * primary's data (the seeding itself: test/integration/local-replicas.test.ts), and what counts
 * as replaced data.
 */

/**
 * A LocalReplicas that records the instances it is asked to seed again, failing while `failing`:
 * `reseedStale` at once; `reseedInBackground` starts (false) and has finished by the next call (true).
 */
const recordingReplicas = () => {
  const reseeded: string[] = [];
  const running = new Set<string>();
  const replicas = {
    failing: false,
    reseedStale: async (id: string) => {
      if (replicas.failing) throw new ProviderError('pg_basebackup failed');
      reseeded.push(id);
    },
    reseedInBackground: async (id: string) => {
      if (replicas.failing) throw new ProviderError('pg_basebackup failed');
      if (running.delete(id)) return true;
      reseeded.push(id);
      running.add(id);
      return false;
    },
  };
  return { replicas, asLocal: replicas as unknown as LocalReplicas, reseeded };
};

const snapshotsAnswering = (state: RestoreState, outcome: 'discarded' | 'completed') => {
  const calls: string[] = [];
  const snapshots = {
    describeRestore: async (id: string) => {
      calls.push(`describe ${id}`);
      return state;
    },
    discardRestore: async (id: string) => {
      calls.push(`discard ${id}`);
      return outcome;
    },
    createSnapshot: async (id: string) => {
      calls.push(`snapshot ${id}`);
    },
  } as unknown as SnapshotProvider;
  return { snapshots, calls };
};

const spec: UpgradeSpec = { version: '16', upgradeId: 'op-1', tls: false };

describe('withReplicaReseed', () => {
  it('a restore reported available is still restoring while its replicas are seeded again (in the background), then available', async () => {
    const { asLocal, reseeded } = recordingReplicas();
    const { snapshots, calls } = snapshotsAnswering({ status: 'available' }, 'completed');
    const hooked = withReplicaReseed(snapshots, asLocal);
    await expect(hooked.describeRestore('addon-a', 'snp-1', 'op-1')).resolves.toEqual({
      status: 'restoring',
    });
    expect(reseeded).toEqual(['addon-a']);
    await expect(hooked.describeRestore('addon-a', 'snp-1', 'op-1')).resolves.toEqual({
      status: 'available',
    });
    expect(calls).toEqual(['describe addon-a', 'describe addon-a']);
    expect(reseeded).toEqual(['addon-a']);
  });

  it('a restore still running or failed leaves the replicas alone', async () => {
    for (const state of [{ status: 'restoring' }, { status: 'failed', reason: 'bad' }] as RestoreState[]) {
      const { asLocal, reseeded } = recordingReplicas();
      const { snapshots } = snapshotsAnswering(state, 'discarded');
      await expect(
        withReplicaReseed(snapshots, asLocal).describeRestore('addon-a', 'snp-1', 'op-1'),
      ).resolves.toEqual(state);
      expect(reseeded).toEqual([]);
    }
  });

  it('a discard (the compensation) seeds again the replicas of data put back, whatever its outcome', async () => {
    for (const outcome of ['discarded', 'completed'] as const) {
      const { asLocal, reseeded } = recordingReplicas();
      const { snapshots, calls } = snapshotsAnswering({ status: 'available' }, outcome);
      await expect(
        withReplicaReseed(snapshots, asLocal).discardRestore('addon-b', 'snp-1', 'op-1'),
      ).resolves.toBe(outcome);
      expect(calls).toEqual(['discard addon-b']);
      expect(reseeded).toEqual(['addon-b']);
    }
  });

  it('a replica that cannot be seeded again fails the check (the workflow fails the operation with it)', async () => {
    const { replicas, asLocal } = recordingReplicas();
    replicas.failing = true;
    const { snapshots } = snapshotsAnswering({ status: 'available' }, 'completed');
    await expect(
      withReplicaReseed(snapshots, asLocal).describeRestore('addon-a', 'snp-1', 'op-1'),
    ).rejects.toThrow(/pg_basebackup failed/);
  });

  it('everything else is the snapshot provider itself', async () => {
    const { asLocal, reseeded } = recordingReplicas();
    const { snapshots, calls } = snapshotsAnswering({ status: 'available' }, 'completed');
    await withReplicaReseed(snapshots, asLocal).createSnapshot('addon-c', 'snp-2');
    expect(calls).toEqual(['snapshot addon-c']);
    expect(reseeded).toEqual([]);
  });
});

describe('withReplicaCleanup: upgrades', () => {
  const upgrading = (state: UpgradeState) =>
    ({
      describeUpgrade: async () => state,
      discardUpgrade: async () => 'discarded' as const,
    }) as unknown as EngineProvider;

  it('an upgrade reported available, or discarded, has its replicas seeded again first', async () => {
    const { asLocal, reseeded } = recordingReplicas();
    const provider = withReplicaCleanup(upgrading({ status: 'available' }), asLocal);
    await expect(provider.describeUpgrade?.('addon-u', spec)).resolves.toEqual({ status: 'upgrading' });
    await expect(provider.describeUpgrade?.('addon-u', spec)).resolves.toEqual({ status: 'available' });
    await expect(provider.discardUpgrade?.('addon-u', spec)).resolves.toBe('discarded');
    expect(reseeded).toEqual(['addon-u', 'addon-u']);
  });

  it('an upgrade still running leaves them alone', async () => {
    const { asLocal, reseeded } = recordingReplicas();
    const provider = withReplicaCleanup(upgrading({ status: 'upgrading' }), asLocal);
    await provider.describeUpgrade?.('addon-u', spec);
    expect(reseeded).toEqual([]);
  });
});

describe('primaryDataOf', () => {
  const record = (fields: Partial<InstanceRecord>) => ({ dataDir: 'data', ...fields }) as InstanceRecord;
  const restore = { snapshotId: 'snp-1', restoreId: 'op-1', startedAt: '2026-01-01T00:00:00Z' };

  it('changes with the data directory a restore switches to', () => {
    expect(primaryDataOf(record({}))).toBe('data');
    expect(primaryDataOf(record({ dataDir: 'data-m1abc' }))).not.toBe(primaryDataOf(record({})));
  });

  it('changes with a rollback that had served the restored copy, not with one that had not', () => {
    const before = primaryDataOf(record({}));
    expect(primaryDataOf(record({ restore: { ...restore, state: 'failed', reason: 'x' } }))).toBe(before);
    const served = record({ restore: { ...restore, state: 'failed', reason: 'x', servedRestored: true } });
    expect(primaryDataOf(served)).not.toBe(before);
    // Another such rollback later is another change.
    const again = record({
      restore: { ...restore, restoreId: 'op-2', state: 'failed', servedRestored: true },
    });
    expect(primaryDataOf(again)).not.toBe(primaryDataOf(served));
  });
});
