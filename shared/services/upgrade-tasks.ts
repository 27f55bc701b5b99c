import * as z from 'zod/mini';
import type { EngineRegistry } from '../engines/registry.ts';
import { ProviderError } from '../errors.ts';
import type { EngineAdapters, EngineProvider, UpgradeSpec } from '../ports/engine-provider.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { BackupArtifacts } from '../providers/backup-artifacts.ts';
import { TERMINAL_STATUSES } from '../schemas/operation.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import type { BackupStore } from '../store/backup-store.ts';
import { nowIso } from '../util/ids.ts';
import { connectionUri } from './credentials.ts';
import { CaughtErrorSchema, CleanupFailureFields, failureReason, WaitFields } from './workflow-tasks.ts';

const Ref = {
  projectId: z.string(),
  addonId: z.string(),
  operationId: z.string(),
  backupId: z.string(),
  version: z.string(),
};
/**
 * Checks (30 s apart) an instance may stay available on its old version with nothing pending
 * after the upgrade was asked before the upgrade is failed: time for the service to show the
 * change, short enough that a dropped upgrade is not waited on for hours.
 */
export const DEFAULT_MAX_UNCHANGED = 6;

export const UpgradeTaskSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('completeUpgradeBackup'), ...Ref }),
  z.object({ action: z.literal('upgradeInstance'), ...Ref }),
  z.object({
    action: z.literal('describeUpgrade'),
    ...Ref,
    ...WaitFields,
    /** Checks in a row that found the instance `unchanged`, and how many fail the upgrade. */
    unchanged: z._default(z.number().check(z.int(), z.minimum(0)), 0),
    maxUnchanged: z._default(z.number().check(z.int(), z.minimum(1)), DEFAULT_MAX_UNCHANGED),
  }),
  z.object({ action: z.literal('completeUpgrade'), ...Ref }),
  z.object({ action: z.literal('failUpgrade'), ...Ref, error: CaughtErrorSchema, ...CleanupFailureFields }),
]);
export type UpgradeTask = z.infer<typeof UpgradeTaskSchema>;
type Task<A extends UpgradeTask['action']> = Extract<UpgradeTask, { action: A }>;

export interface UpgradeTaskDeps {
  store: AddonStore;
  backups: BackupStore;
  artifacts: BackupArtifacts;
  engines: EngineRegistry<EngineAdapters>;
  /** The connection details: rewritten (and the secret groups re-published) when the endpoint changes. */
  secrets: SecretStore;
}

/**
 * The upgrade-addon workflow's own steps (the backup taken first runs the backup workflow's steps).
 * Each is idempotent: Step Functions retries tasks, and a restarted local platform runs the
 * workflow again from the start.
 */
export class UpgradeTasks {
  constructor(private readonly deps: UpgradeTaskDeps) {}

  run(task: UpgradeTask): Promise<unknown> {
    switch (task.action) {
      case 'completeUpgradeBackup':
        return this.completeBackup(task);
      case 'upgradeInstance':
        return this.upgradeInstance(task);
      case 'describeUpgrade':
        return this.describeUpgrade(task);
      case 'completeUpgrade':
        return this.complete(task);
      case 'failUpgrade':
        return this.fail(task);
      default: {
        const exhaustive: never = task;
        throw new Error(`Unknown upgrade task ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  private progress(task: Task<UpgradeTask['action']>, step: string, percent: number) {
    return this.deps.store.updateOperation(task.projectId, task.operationId, { progress: { step, percent } });
  }

  private async providerOf(task: Task<UpgradeTask['action']>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const provider = this.deps.engines.of(addon.engine).provider;
    if (!provider.upgradeInstance || !provider.describeUpgrade) {
      throw new ProviderError(
        `${addon.engine} addons cannot be upgraded on this deployment`,
        'UpgradeNotSupported',
      );
    }
    const spec: UpgradeSpec = { version: task.version, upgradeId: task.operationId, tls: addon.tls };
    return {
      addon,
      provider: provider as Required<Pick<EngineProvider, 'upgradeInstance' | 'describeUpgrade'>> &
        EngineProvider,
      spec,
    };
  }

  /** The backup is complete and kept as the way back; the addon stays locked for the upgrade. */
  private async completeBackup(task: Task<'completeUpgradeBackup'>) {
    const backup = await this.deps.backups.getBackup(task.projectId, task.backupId);
    if (backup.status !== 'completed') {
      await this.deps.backups.updateBackup(backup, { status: 'completed', completedAt: nowIso() });
    }
    await this.progress(task, 'backed-up', 40);
    return {};
  }

  private async upgradeInstance(task: Task<'upgradeInstance'>) {
    await this.progress(task, 'upgrading', 50);
    const { addon, provider, spec } = await this.providerOf(task);
    await provider.upgradeInstance(addon.resourceId, spec);
    return {};
  }

  /**
   * One check of the bounded wait: `failed` (the provider says why, e.g. the service's event) ends
   * it at once, `unchanged` after `maxUnchanged` checks in a row, anything else after
   * `maxAttempts`, each with a readable reason; the Catch compensates (the backup stays).
   */
  private async describeUpgrade(task: Task<'describeUpgrade'>) {
    const { addon, provider, spec } = await this.providerOf(task);
    const operation = await this.deps.store.getOperation(task.projectId, task.operationId);
    const since = operation.startedAt ?? operation.createdAt;
    const state = await provider.describeUpgrade(addon.resourceId, { ...spec, since });
    const attempts = task.attempts + 1;
    if (state.status === 'failed') throw new ProviderError(state.reason, 'UpgradeFailed');
    if (state.status === 'available') return { status: 'available', attempts, unchanged: 0 };
    const unchanged = state.status === 'unchanged' ? task.unchanged + 1 : 0;
    if (state.status === 'unchanged' && unchanged >= task.maxUnchanged) {
      throw new ProviderError(`${state.reason} (${unchanged} checks in a row)`, 'UpgradeFailed');
    }
    if (attempts >= task.maxAttempts) {
      const detail = state.status === 'unchanged' ? state.reason : state.detail;
      throw new ProviderError(
        `The upgrade was still running after ${attempts} checks; giving up${detail ? `: ${detail}` : ''}`,
        'UpgradeWaitTimeout',
      );
    }
    return { status: 'upgrading', attempts, unchanged };
  }

  /**
   * The addon runs the new version: recorded, the connection details rewritten where the endpoint
   * changed (which re-publishes the secret groups that link the addon), the lock released.
   */
  private async complete(task: Task<'completeUpgrade' | 'failUpgrade'>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const provider = this.deps.engines.of(addon.engine).provider;
    const state = await provider.describeInstance(addon.resourceId);
    if (state.status === 'available') {
      const secret = await this.deps.secrets.get(task);
      const { host, port } = state.endpoint;
      if (secret && (secret.host !== host || secret.port !== port)) {
        const published = { ...secret, host, port };
        await this.deps.secrets.put(task, { ...published, uri: connectionUri(published) });
      }
    }
    await this.finish(task, addon, null);
    return {};
  }

  private async finish(
    task: Task<'completeUpgrade' | 'failUpgrade'>,
    addon: AddonRecord,
    reason: { code: string; message: string } | null,
  ) {
    if (addon.currentOperationId === task.operationId) {
      await this.deps.store.updateAddonForOperation(
        addon,
        task.operationId,
        reason ? { status: 'running' } : { status: 'running', version: task.version },
        { release: true },
      );
    }
    const operation = await this.deps.store.getOperation(task.projectId, task.operationId);
    if (!TERMINAL_STATUSES.includes(operation.status)) {
      await this.deps.store.updateOperation(task.projectId, task.operationId, {
        status: reason ? 'failed' : 'completed',
        completedAt: nowIso(),
        ...(reason ? { error: reason } : { progress: { step: 'completed', percent: 100 } }),
      });
    }
  }

  /**
   * A failed upgrade leaves the addon on its old version, running: a backup left partial goes
   * (a completed one is kept, the way back), the provider puts the instance back where it still
   * can; an upgrade that had in fact completed is recorded as completed instead.
   */
  private async fail(task: Task<'failUpgrade'>) {
    const reason = failureReason(task, 'the addon keeps its old version; contact an operator');
    const addon = await this.deps.store.findAddon(task.projectId, task.addonId);
    const backup = await this.deps.backups.findBackup(task.projectId, task.backupId);
    if (backup && backup.status !== 'completed') {
      if (!task.skipCleanup) {
        if (backup.snapshotId)
          await this.deps.engines.of(backup.engine).snapshots.deleteSnapshot(backup.snapshotId);
        if (backup.artifact) await this.deps.artifacts.delete(backup.artifact);
      }
      if (backup.status === 'pending' || backup.status === 'in-progress') {
        await this.deps.backups.updateBackup(backup, {
          status: 'failed',
          error: reason,
          completedAt: nowIso(),
        });
      }
    }
    if (!addon) return { failed: true, reason };
    const provider = this.deps.engines.of(addon.engine).provider;
    if (!task.skipCleanup && backup?.status === 'completed' && provider.discardUpgrade) {
      const spec = { version: task.version, upgradeId: task.operationId, tls: addon.tls };
      if ((await provider.discardUpgrade(addon.resourceId, spec)) === 'completed') {
        await this.complete(task);
        return {};
      }
    }
    await this.finish(task, addon, {
      code: reason.code,
      message: `The upgrade to ${task.version} failed and the addon still runs ${addon.version}: ${reason.message}`,
    });
    return { failed: true, reason };
  }
}
