import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SnapshotProvider } from '#shared/ports/engine-provider.ts';
import type { WorkflowStarter } from '#shared/ports/workflow-starter.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import type { BackupStore } from '#shared/store/backup-store.ts';
import { newId } from '#shared/util/ids.ts';
import { refusingSnapshots, snapshotDeleters, unreachableArtifacts } from '../support/backups.ts';
import { startTestStore } from '../support/dynamo.ts';
import { backupRecord } from '../support/fixtures.ts';

const EXPIRED = '2020-01-01T00:00:00.000Z';
const noWorkflows: WorkflowStarter = {
  start: () => Promise.reject(new Error('the sweep starts no workflow')),
  stop: () => Promise.reject(new Error('the sweep stops no workflow')),
};

describe('retention sweep', () => {
  let env: Awaited<ReturnType<typeof startTestStore>>;
  let backups: BackupStore;
  beforeAll(async () => {
    env = await startTestStore();
    backups = env.backups;
  });
  afterAll(async () => env?.stop());

  const serviceDeleting = (deleteSnapshot: SnapshotProvider['deleteSnapshot']) =>
    new BackupService({
      store: env.store,
      backups,
      workflows: noWorkflows,
      artifacts: unreachableArtifacts(),
      snapshotDeleters: snapshotDeleters(refusingSnapshots('not here', { deleteSnapshot })),
      target: 'aws',
    });

  it('pages through every expired backup and keeps going past one that cannot be deleted', async () => {
    // Prepare: seven expired backups over four pages of two, one of them undeletable, and a
    // pinned and a live one the sweep must not touch.
    const projectId = `sweep-${newId('p').slice(-6)}`;
    const addonId = newId('adn');
    const expired = Array.from({ length: 7 }, () =>
      backupRecord({ projectId, addonId, source: 'schedule', expiresAt: EXPIRED }),
    );
    const stuck = expired[3];
    const pinned = backupRecord({ projectId, addonId, pinned: true, expiresAt: EXPIRED });
    const live = backupRecord({ projectId, addonId, expiresAt: '2099-01-01T00:00:00.000Z' });
    for (const backup of [...expired, pinned, live]) await backups.putBackup(backup);
    const deletedSnapshots: string[] = [];
    const service = serviceDeleting(async (snapshotId) => {
      if (snapshotId === stuck?.snapshotId) throw new Error('the snapshot is still being copied');
      deletedSnapshots.push(snapshotId);
    });

    // Act
    const outcome = await service.sweepExpired(2);

    // Assess
    const others = expired.filter((backup) => backup !== stuck);
    expect(outcome.deleted.sort()).toEqual(others.map((backup) => backup.id).sort());
    expect(outcome.failed).toEqual([
      { backupId: stuck?.id, projectId, reason: 'the snapshot is still being copied' },
    ]);
    expect(deletedSnapshots.sort()).toEqual(others.map((backup) => backup.snapshotId).sort());
    for (const backup of others) expect(await backups.findBackup(projectId, backup.id)).toBeUndefined();
    for (const backup of [stuck, pinned, live])
      expect(await backups.findBackup(projectId, String(backup?.id))).toBeDefined();
  });

  it('tries an undeletable backup again at the next sweep', async () => {
    // Prepare
    const projectId = `sweep-${newId('p').slice(-6)}`;
    const backup = backupRecord({ projectId, addonId: newId('adn'), expiresAt: EXPIRED });
    await backups.putBackup(backup);
    await serviceDeleting(() => Promise.reject(new Error('busy'))).sweepExpired();

    // Act
    const outcome = await serviceDeleting(async () => undefined).sweepExpired();

    // Assess
    expect(outcome.deleted).toContain(backup.id);
    expect(await backups.findBackup(projectId, backup.id)).toBeUndefined();
  });
});
