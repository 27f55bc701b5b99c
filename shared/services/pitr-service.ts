import { findPlan, hasCapability } from '../catalog/engines.ts';
import { engineFacts } from '../engines/index.ts';
import type { EngineRegistry } from '../engines/registry.ts';
import { ConflictError, UnsupportedError } from '../errors.ts';
import { pointInTimeKey, type RestorableWindow, type SnapshotProvider } from '../ports/engine-provider.ts';
import type { WorkflowStarter } from '../ports/workflow-starter.ts';
import type { Addon } from '../schemas/addon.ts';
import type { Target } from '../schemas/catalog.ts';
import type { Operation } from '../schemas/operation.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import { userFacingMessage } from '../util/redact.ts';
import { failOperationAndRelease, newOperation, toAddon } from './operation-lock.ts';

/** What reads an engine's restorable window: its snapshot provider, or a reader made only for it. */
export type RestorableWindowReader = Pick<SnapshotProvider, 'describeRestorableWindow'>;

/** Addon statuses in which an instance exists to ask about (not while it is created or deleted). */
const WITH_INSTANCE: readonly AddonRecord['status'][] = [
  'running',
  'updating',
  'backing-up',
  'restoring',
  'upgrading',
];

const SECOND_MS = 1000;

/**
 * The window to the second, as the API shows it and a restore checks it: the earliest second
 * rounded up and the latest rounded down, so every second shown is one a restore can land on.
 * Null when rounding leaves nothing (a window under a second long).
 */
export const toSecondsWindow = (window: RestorableWindow): RestorableWindow | null => {
  const earliest = Math.ceil(Date.parse(window.earliestRestorableTime) / SECOND_MS) * SECOND_MS;
  const latest = Math.floor(Date.parse(window.latestRestorableTime) / SECOND_MS) * SECOND_MS;
  if (!Number.isFinite(earliest) || !Number.isFinite(latest) || latest < earliest) return null;
  const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
  return { earliestRestorableTime: iso(earliest), latestRestorableTime: iso(latest) };
};

/** RDS keeps automated backups this many days when a plan does not say (rds-engine-provider.ts). */
const RDS_DEFAULT_RETENTION_DAYS = 7;

/** On AWS: the plan's `pitrRetentionDays`, which provisioning and scaling give RDS. */
export const planRetentionDays = (addon: Pick<AddonRecord, 'engine' | 'plan'>): number =>
  findPlan(addon.engine, addon.plan)?.pitrRetentionDays ?? RDS_DEFAULT_RETENTION_DAYS;

export interface PitrServiceDeps {
  store: AddonStore;
  workflows: WorkflowStarter;
  /** Each engine's window reader; an engine without one (or without `pitr`) has no window. */
  windows: EngineRegistry<RestorableWindowReader>;
  target: Target;
  /** How many days back an addon's window is kept (the plan's on AWS, the platform's locally). */
  retentionDays?: (addon: Pick<AddonRecord, 'engine' | 'plan'>) => number | undefined;
}

/**
 * Point-in-time recovery of an addon in place: the window it can be restored into, and a restore
 * to one second inside it through the restore-addon workflow (the provider's
 * `restoreToPointInTime`, then the same Wait/Describe loop and the same discard on failure as a
 * snapshot restore). The workflow's source is `pointInTimeKey(resourceId, time)` in `backupId`.
 */
export class PitrService {
  constructor(private readonly deps: PitrServiceDeps) {}

  private offersPitr(addon: Pick<AddonRecord, 'engine'>): boolean {
    return hasCapability(addon.engine, this.deps.target, 'pitr') && this.deps.windows.has(addon.engine);
  }

  /** The days of point-in-time recovery the addon promises; undefined where it has none. */
  retentionDaysOf(addon: Pick<AddonRecord, 'engine' | 'plan'>): number | undefined {
    return this.offersPitr(addon) ? this.deps.retentionDays?.(addon) : undefined;
  }

  /** The addon's window to the second, or null (no `pitr` here, no instance, or no window yet). */
  async windowOf(addon: AddonRecord): Promise<RestorableWindow | null> {
    if (!this.offersPitr(addon) || !WITH_INSTANCE.includes(addon.status)) return null;
    const reader = this.deps.windows.of(addon.engine);
    const window = await reader.describeRestorableWindow?.(addon.resourceId);
    return window ? toSecondsWindow(window) : null;
  }

  /** One addon as GET shows it: with its restorable window. */
  async getAddon(projectId: string, addonId: string): Promise<Addon> {
    const record = await this.deps.store.getAddon(projectId, addonId);
    return { ...toAddon(record), restorableWindow: await this.windowOf(record) };
  }

  /**
   * Restore the addon in place to `pointInTime` (seconds precision, inside the window): 422 naming
   * `body.pointInTime` where the engine has no `pitr` here or the time is outside the window, 409
   * when another operation is in flight or the addon is not running.
   */
  async restore(
    projectId: string,
    addonId: string,
    pointInTime: string,
  ): Promise<{ addon: Addon; operation: Operation }> {
    const addon = await this.deps.store.getAddon(projectId, addonId);
    const field = 'body.pointInTime';
    if (!this.offersPitr(addon)) {
      const name = engineFacts(addon.engine).catalog.displayName;
      throw new UnsupportedError(
        `${name} addons have no point-in-time recovery on this deployment (capability pitr is off); restore a backup instead`,
        [{ path: field, message: `point-in-time recovery is not available for ${addon.engine} here` }],
      );
    }
    if (addon.status !== 'running' && !addon.currentOperationId) {
      throw new ConflictError(
        `Addon '${addon.name}' is ${addon.status}; only a running addon can be restored`,
        {},
      );
    }
    const time = new Date(Date.parse(pointInTime)).toISOString().replace('.000Z', 'Z');
    const window = await this.windowOf(addon);
    if (!window) {
      throw new UnsupportedError(
        'The addon has no restorable window yet: its first automated backup or base backup has not completed',
        [{ path: field, message: 'no restorable window yet' }],
      );
    }
    const { earliestRestorableTime: earliest, latestRestorableTime: latest } = window;
    if (time < earliest || time > latest) {
      throw new UnsupportedError(
        `${time} is outside the addon's restorable window, ${earliest} to ${latest}`,
        [{ path: field, message: `must lie between ${earliest} and ${latest}` }],
      );
    }
    const operation: Operation = { ...newOperation('restore', projectId, addonId), pointInTime: time };
    const started = await this.deps.store.beginOperation(addon, operation, 'restoring');
    try {
      await this.deps.workflows.start({
        workflow: 'restore-addon',
        input: {
          projectId,
          addonId,
          operationId: operation.id,
          backupId: pointInTimeKey(addon.resourceId, time),
        },
      });
    } catch (error) {
      await failOperationAndRelease(
        this.deps.store,
        started,
        operation.id,
        {
          code: 'RestoreStartFailed',
          message: `The restore could not be started: ${userFacingMessage(error)}`,
        },
        'running',
      );
      throw error;
    }
    return { addon: toAddon(started), operation };
  }
}
