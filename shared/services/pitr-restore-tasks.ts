import type { EngineRegistry } from '../engines/registry.ts';
import { ProviderError } from '../errors.ts';
import { type EngineAdapters, parsePointInTimeKey } from '../ports/engine-provider.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import { nowIso } from '../util/ids.ts';
import type { BackupTask } from './backup-workflow-tasks.ts';
import { discardOrFollowRestore, finishRestoreOperation, judgeRestore } from './restore-endpoint.ts';
import { restoredButLoginsFailed } from './restored-logins.ts';
import { failureReason, readableReason } from './workflow-tasks.ts';

/** The restore actions a point-in-time restore runs (restore-addon.asl.json's point-in-time path). */
const PITR_ACTIONS = [
  'startRestore',
  'restoreToPointInTime',
  'describeRestore',
  'completeRestore',
  'failRestore',
] as const;
type PitrAction = (typeof PITR_ACTIONS)[number];
export type PitrTask = Extract<BackupTask, { action: PitrAction }>;
type Task<A extends PitrAction> = Extract<PitrTask, { action: A }>;

/**
 * The restore workflow's `backupId` is a `pointInTimeKey` (`pitr:<source>@<time>`) for a
 * point-in-time restore: its steps run here. Any other restore action with such a source is a
 * workflow mistake and fails loudly rather than treating the key as a backup id.
 */
export const isPointInTimeSource = (task: BackupTask): boolean =>
  'backupId' in task && parsePointInTimeKey(task.backupId) !== undefined;

export interface PitrTaskDeps {
  store: AddonStore;
  engines: EngineRegistry<EngineAdapters>;
  /** The connection details, rewritten if the restore moved the addon (not on RDS: it swaps names). */
  secrets?: SecretStore | undefined;
}

/**
 * The steps of a point-in-time restore in place: `restoreToPointInTime` through the addon's
 * engine's snapshot provider, then the same `describeRestore` loop (`judgeRestore`) and the same
 * discard on failure (`discardOrFollowRestore`) as a snapshot restore, with the point-in-time key
 * standing for the snapshot id. Each step is idempotent: the provider keys its work on the
 * operation id, and the operation already records the time (pitr-service.ts).
 */
export class PitrRestoreTasks {
  constructor(private readonly deps: PitrTaskDeps) {}

  run(task: BackupTask): Promise<unknown> {
    if (!(PITR_ACTIONS as readonly string[]).includes(task.action)) {
      throw new ProviderError(
        `A point-in-time restore has no step '${task.action}'; the workflow took a backup's path`,
        'InvalidWorkflowStep',
      );
    }
    const pitr = task as PitrTask;
    switch (pitr.action) {
      case 'startRestore':
        return this.startRestore(pitr);
      case 'restoreToPointInTime':
        return this.restoreToPointInTime(pitr);
      case 'describeRestore':
        return this.describeRestore(pitr);
      case 'completeRestore':
        return this.finish(pitr, null);
      case 'failRestore':
        return this.failRestore(pitr);
      default: {
        const exhaustive: never = pitr;
        throw new Error(`Unknown point-in-time task ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  private source(task: { backupId: string }) {
    const source = parsePointInTimeKey(task.backupId);
    if (!source) throw new ProviderError(`'${task.backupId}' is not a point-in-time source`);
    return source;
  }

  private adaptersOf(addon: AddonRecord): EngineAdapters {
    return this.deps.engines.of(addon.engine);
  }

  private async startRestore(task: Task<'startRestore'>) {
    const operation = await this.deps.store.getOperation(task.projectId, task.operationId);
    if (operation.status === 'pending') {
      await this.deps.store.updateOperation(task.projectId, task.operationId, {
        status: 'in-progress',
        startedAt: nowIso(),
        progress: { step: 'restoring', percent: 5 },
      });
    }
    // The ASL's choice: `point-in-time` takes the RestoreToPointInTime state.
    return { type: 'point-in-time', compression: null };
  }

  private async restoreToPointInTime(task: Task<'restoreToPointInTime'>) {
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      progress: { step: 'restoring-to-point-in-time', percent: 20 },
    });
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const { snapshots } = this.adaptersOf(addon);
    if (!snapshots.restoreToPointInTime) {
      throw new ProviderError(
        `${addon.engine} addons have no point-in-time recovery on this deployment`,
        'Unsupported',
      );
    }
    const { sourceResourceId, time } = this.source(task);
    await snapshots.restoreToPointInTime(addon.resourceId, sourceResourceId, time, task.operationId);
    return {};
  }

  private async describeRestore(task: Task<'describeRestore'>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const state = await this.adaptersOf(addon).snapshots.describeRestore(
      addon.resourceId,
      task.backupId,
      task.operationId,
    );
    return judgeRestore(this.deps, state, task, addon, 'The point-in-time restore');
  }

  /**
   * A failed restore changes nothing: one still running is discarded and the addon keeps the data
   * it had; one that had finished after all is kept and reported completed, unless it failed
   * while its logins were put right (restored-logins.ts).
   */
  private async failRestore(task: Task<'failRestore'>) {
    if (!task.skipCleanup) {
      const addon = await this.deps.store.findAddon(task.projectId, task.addonId);
      if (addon) {
        const outcome = await discardOrFollowRestore(
          this.deps,
          this.adaptersOf(addon),
          { ...task, snapshotId: task.backupId },
          addon,
        );
        if (outcome === 'completed') {
          return this.finish(
            task,
            await restoredButLoginsFailed(this.deps.store, task, readableReason(task.error)),
          );
        }
      }
    }
    return this.finish(
      task,
      failureReason(task, 'restore to the point in time again, or contact an operator'),
    );
  }

  private finish(task: PitrTask, reason: { code: string; message: string } | null) {
    return finishRestoreOperation(this.deps.store, task, reason);
  }
}
