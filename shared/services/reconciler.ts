import { ConflictError, errorMessage } from '../errors.ts';
import type {
  ExecutionState,
  Leftover,
  LeftoverKind,
  LeftoverSource,
  WorkflowExecutions,
} from '../ports/reconciler.ts';
import { type Operation, TERMINAL_STATUSES } from '../schemas/operation.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import type { BackupRecord, BackupStore } from '../store/backup-store.ts';
import { nowIso } from '../util/ids.ts';
import type { BackupHealthChange, BackupHealthMonitor } from './backup-health-monitor.ts';
import { addonStatusAfter, type ReconcilerSettings, workflowFor } from './reconciler-policy.ts';

/** The narrow slices of the stores the reconciler reads and writes. */
export type ReconcilerAddonStore = Pick<
  AddonStore,
  | 'listActiveOperations'
  | 'findOperation'
  | 'updateOperation'
  | 'scanAddons'
  | 'findAddon'
  | 'updateAddonForOperation'
  | 'listUnpublishedOperations'
  | 'publishEvents'
>;
export type ReconcilerBackupStore = Pick<
  BackupStore,
  'findBackup' | 'findBackupOfAddon' | 'updateBackup' | 'listAllSchedules'
>;

export interface ReconcilerDeps {
  store: ReconcilerAddonStore;
  backups: ReconcilerBackupStore;
  executions: WorkflowExecutions;
  /** What this target creates: RDS, EC2, Secrets Manager, S3, Scheduler on AWS; files and S3 locally. */
  sources: LeftoverSource[];
  settings: ReconcilerSettings;
  /** Whether an alert rule exists (AWS: its alarms and topic are leftovers once it is gone). */
  alertRuleExists?: (projectId: string, ruleId: string) => Promise<boolean>;
  /** Turns the built-in backup-health rules into events; left out, they are not evaluated. */
  backupHealth?: Pick<BackupHealthMonitor, 'run'>;
  now?: () => Date;
}

export interface ReconcileSummary {
  operations: {
    failed: Array<{ operationId: string; code: string; reason: string }>;
    restarted: string[];
  };
  locks: { released: Array<{ addonId: string; operationId: string }> };
  events: {
    /** Ended operations whose events a crash had kept out of the feed, written now. */
    republished: string[];
    backupHealth: BackupHealthChange[];
  };
  leftovers: {
    removed: Array<{ kind: LeftoverKind; id: string; why: string }>;
    /** Leftovers an operator must look at: the reconciler will not guess. */
    kept: Array<{ kind: LeftoverKind; id: string; why: string }>;
    failed: Array<{ kind: LeftoverKind; id: string; reason: string }>;
  };
  /** The secret groups' sweep, where the reconciler runs it (AWS; locally the scheduler's tick does). */
  secretGroups?: { published: string[]; deleted: string[]; failed: Array<{ id: string; reason: string }> };
  /** The addons whose credential rotation passed its deadline and is being retired (AWS). */
  rotationsRetired?: string[];
  /** Alert deliveries and alarms, where the reconciler runs them (AWS; locally the scheduler's tick does). */
  alerts?: { repaired: number; delivered: string[]; failed: string[]; synced: string[] };
  /** Whole steps that failed (a source that could not be listed); the rest still ran. */
  errors: Array<{ step: string; reason: string }>;
}

type Verdict = { remove: true; why: string } | { remove: false; keep?: string };

const ACTIVE_BACKUP = ['pending', 'in-progress', 'completed'];

/**
 * Nothing stuck, nothing leaked. One pass:
 *
 * 1. Operations in flight. Past its type's deadline, an operation is failed with a reason, its
 *    execution stopped and its addon released. One whose execution ended without ending it (a
 *    failure outside any Catch) is failed at once. A `pending` one without an execution after a
 *    short grace period (an API function that died between taking the lock and StartExecution)
 *    is started again: the user's request was accepted with a 202, the execution is named after
 *    the operation id so a second start is a no-op, and every workflow begins by re-reading
 *    what it needs. An `in-progress` one without an execution has lost its workflow
 *    mid-way and is failed rather than replayed blindly.
 * 2. Locks. An addon held by an operation that ended, or by one that was never recorded
 *    (`beginOperation` writes the addon, then the operation), is released after the grace period.
 * 3. Leftovers (optional, heavier: run less often). Every source lists its resources first;
 *    the records are read afterwards, so a resource listed belongs to a record already written
 *    (the platform writes records before it creates resources). A resource whose addon is gone,
 *    whose backup is gone or ended aborted/failed, whose schedule is gone, or that is the copy
 *    of a restore no longer running, is removed. Any backup record that exists keeps its data
 *    (deleted addons' backups have a grace period), and a restore copy that may hold the addon's
 *    data (no instance answers to the addon's identifier) is kept and reported.
 */
export class Reconciler {
  private readonly now: () => Date;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async run(options: { leftovers: boolean } = { leftovers: true }): Promise<ReconcileSummary> {
    const summary: ReconcileSummary = {
      operations: { failed: [], restarted: [] },
      locks: { released: [] },
      events: { republished: [], backupHealth: [] },
      leftovers: { removed: [], kept: [], failed: [] },
      errors: [],
    };
    await this.step(summary, 'operations', () => this.reconcileOperations(summary));
    await this.step(summary, 'locks', () => this.releaseOrphanLocks(summary));
    await this.step(summary, 'events', () => this.republishEvents(summary));
    const health = this.deps.backupHealth;
    if (health) {
      await this.step(summary, 'backup-health', async () => {
        summary.events.backupHealth.push(...(await health.run()));
      });
    }
    if (options.leftovers) await this.step(summary, 'leftovers', () => this.removeLeftovers(summary));
    return summary;
  }

  private async step(summary: ReconcileSummary, step: string, work: () => Promise<void>) {
    try {
      await work();
    } catch (error) {
      summary.errors.push({ step, reason: errorMessage(error) });
    }
  }

  private ageOf(iso: string): number {
    return this.now().getTime() - new Date(iso).getTime();
  }

  // Operations ------------------------------------------------------------------------------

  private async reconcileOperations(summary: ReconcileSummary) {
    const { settings, executions } = this.deps;
    for (const listed of await this.deps.store.listActiveOperations()) {
      try {
        const run = workflowFor(listed);
        const execution: ExecutionState = run
          ? await executions.describe(run.workflow, listed.id)
          : { status: 'absent' };
        // Read again after the execution: its last step ends the operation before the execution ends.
        const operation = await this.deps.store.findOperation(listed.projectId, listed.id);
        if (!operation || TERMINAL_STATUSES.includes(operation.status)) continue;
        const age = this.ageOf(operation.createdAt);
        const deadline = settings.deadlinesMs[operation.type];
        if (age > deadline) {
          const hours = Math.round((deadline / 3_600_000) * 10) / 10;
          await this.fail(summary, operation, execution, {
            code: 'DeadlineExceeded',
            message: `The ${operation.type} did not finish within ${hours} hours and was stopped`,
          });
        } else if (execution.status === 'ended') {
          await this.fail(summary, operation, execution, {
            code: 'WorkflowEnded',
            message: `The ${operation.type} workflow ended (${execution.outcome}) without finishing the operation`,
          });
        } else if (execution.status === 'absent' && age > settings.startGraceMs) {
          if (run && operation.status === 'pending' && (await this.canStart(operation))) {
            await executions.start(run);
            summary.operations.restarted.push(operation.id);
          } else {
            await this.fail(summary, operation, execution, {
              code: 'WorkflowLost',
              message: `The ${operation.type} lost its workflow before it finished; try again`,
            });
          }
        }
      } catch (error) {
        summary.errors.push({ step: `operation ${listed.id}`, reason: errorMessage(error) });
      }
    }
  }

  /** A backup whose record was never written (the API died first) has nothing to run. */
  private async canStart(operation: Operation): Promise<boolean> {
    if (operation.type !== 'backup' || !operation.backupId) return true;
    return (await this.deps.backups.findBackup(operation.projectId, operation.backupId)) !== undefined;
  }

  /**
   * Stop the execution, then end the operation: that conditional write is what decides a race
   * with a workflow finishing at the same moment. Only the winner touches the backup and the addon.
   */
  private async fail(
    summary: ReconcileSummary,
    operation: Operation,
    execution: ExecutionState,
    reason: { code: string; message: string },
  ) {
    const run = workflowFor(operation);
    if (run && execution.status === 'running') {
      await this.deps.executions.stop(run.workflow, operation.id, reason.message);
    }
    const backup = operation.backupId
      ? await this.deps.backups.findBackup(operation.projectId, operation.backupId)
      : undefined;
    // A user's abort marks the backup first and the operation last: a tick in between (its
    // execution already stopped) ends the operation as the user asked, not as a failure.
    const abortedByUser = operation.type === 'backup' && backup?.status === 'aborted';
    try {
      await this.deps.store.updateOperation(
        operation.projectId,
        operation.id,
        abortedByUser
          ? { status: 'aborted', completedAt: nowIso() }
          : { status: 'failed', error: reason, completedAt: nowIso() },
      );
    } catch (error) {
      if (error instanceof ConflictError) return;
      throw error;
    }
    summary.operations.failed.push({ operationId: operation.id, code: reason.code, reason: reason.message });
    // A backup it was taking (a backup, or a delete's final backup) must not stay in flight.
    if (backup) {
      if (backup.status === 'pending' || backup.status === 'in-progress') {
        // Its data, if any, is a leftover now: the leftover pass removes it.
        await this.deps.backups
          .updateBackup(backup, { status: 'failed', error: reason, completedAt: nowIso() })
          .catch(ignoreConflict);
      }
    }
    const addon = await this.deps.store.findAddon(operation.projectId, operation.addonId);
    if (addon?.currentOperationId === operation.id) {
      // A pending operation never ran a step: the addon is as it was before it (bar a create).
      const untouched = operation.status === 'pending' && operation.type !== 'create';
      const status = untouched
        ? addon.endpoint
          ? 'running'
          : 'failed'
        : addonStatusAfter({ ...operation, status: 'failed' });
      await this.release(summary, addon, operation.id, status);
    }
  }

  private async release(
    summary: ReconcileSummary,
    addon: Pick<AddonRecord, 'projectId' | 'id'>,
    operationId: string,
    status: AddonRecord['status'],
  ) {
    try {
      await this.deps.store.updateAddonForOperation(addon, operationId, { status }, { release: true });
      summary.locks.released.push({ addonId: addon.id, operationId });
    } catch (error) {
      ignoreConflict(error);
    }
  }

  // Events ----------------------------------------------------------------------------------

  /**
   * An operation leaves the unpublished index only once its events are in the feed; one still
   * there after the grace period lost its writer between the status write and the events.
   */
  private async republishEvents(summary: ReconcileSummary) {
    for (const operation of await this.deps.store.listUnpublishedOperations()) {
      if (this.ageOf(operation.completedAt ?? operation.createdAt) < this.deps.settings.startGraceMs)
        continue;
      await this.deps.store.publishEvents(operation);
      summary.events.republished.push(operation.id);
    }
  }

  // Locks -----------------------------------------------------------------------------------

  private async releaseOrphanLocks(summary: ReconcileSummary) {
    for (const addon of await this.deps.store.scanAddons()) {
      const held = addon.currentOperationId;
      if (!held) continue;
      const operation = await this.deps.store.findOperation(addon.projectId, held);
      if (operation && !TERMINAL_STATUSES.includes(operation.status)) continue;
      // Whoever ended the operation (or is writing it) releases the addon a moment later.
      if (this.ageOf(addon.updatedAt) < this.deps.settings.startGraceMs) continue;
      const status = operation
        ? addonStatusAfter(operation)
        : addon.status === 'creating' || addon.status === 'deleting'
          ? 'failed'
          : 'running';
      await this.release(summary, addon, held, status);
    }
  }

  // Leftovers -------------------------------------------------------------------------------

  private async removeLeftovers(summary: ReconcileSummary) {
    const listed: Array<{ source: LeftoverSource; leftover: Leftover }> = [];
    for (const source of this.deps.sources) {
      try {
        for (const leftover of await source.list()) listed.push({ source, leftover });
      } catch (error) {
        summary.errors.push({ step: `list ${source.name}`, reason: errorMessage(error) });
      }
    }
    if (listed.length === 0) return;
    // Read after listing: see the class comment.
    const addons = new Map((await this.deps.store.scanAddons()).map((addon) => [addon.id, addon]));
    let schedules: Set<string> | undefined;
    const liveSchedules = async () => {
      schedules ??= new Set((await this.deps.backups.listAllSchedules()).map((schedule) => schedule.id));
      return schedules;
    };
    for (const { source, leftover } of listed) {
      const entry = { kind: leftover.kind, id: leftover.id };
      try {
        const verdict = await this.judge(leftover, addons, liveSchedules);
        if (!verdict.remove) {
          if (verdict.keep) summary.leftovers.kept.push({ ...entry, why: verdict.keep });
          continue;
        }
        await source.remove(leftover);
        summary.leftovers.removed.push({ ...entry, why: verdict.why });
      } catch (error) {
        summary.leftovers.failed.push({ ...entry, reason: errorMessage(error) });
      }
    }
  }

  private oldEnough(leftover: Leftover): boolean {
    if (!leftover.createdAt) return true;
    return this.now().getTime() - leftover.createdAt.getTime() >= this.deps.settings.leftoverMinAgeMs;
  }

  private async judge(
    leftover: Leftover,
    addons: Map<string, AddonRecord>,
    liveSchedules: () => Promise<Set<string>>,
  ): Promise<Verdict> {
    const owner = leftover.owner;
    switch (owner.kind) {
      case 'addon':
        if (addons.has(owner.addonId) || !this.oldEnough(leftover)) return { remove: false };
        return { remove: true, why: `addon ${owner.addonId} no longer exists` };
      case 'backup': {
        const backup: BackupRecord | undefined = owner.projectId
          ? await this.deps.backups.findBackup(owner.projectId, owner.backupId)
          : await this.deps.backups.findBackupOfAddon(owner.addonId, owner.backupId);
        if (!backup) {
          if (!this.oldEnough(leftover)) return { remove: false };
          return { remove: true, why: `backup ${owner.backupId} no longer exists` };
        }
        if (ACTIVE_BACKUP.includes(backup.status)) return { remove: false };
        return { remove: true, why: `backup ${owner.backupId} is ${backup.status}` };
      }
      case 'restore-copy': {
        const addon = addons.get(owner.addonId);
        if (!addon) {
          if (!this.oldEnough(leftover)) return { remove: false };
          return { remove: true, why: `addon ${owner.addonId} no longer exists` };
        }
        if (addon.currentOperationId && owner.isCopyFor(addon.currentOperationId)) return { remove: false };
        if (!owner.primaryPresent) {
          return {
            remove: false,
            keep: `no instance answers to addon ${owner.addonId}'s identifier: this copy may hold its data`,
          };
        }
        if (!this.oldEnough(leftover)) return { remove: false };
        return { remove: true, why: `the restore that created it is over (addon ${owner.addonId})` };
      }
      case 'replica': {
        const addon = addons.get(owner.addonId);
        if (!this.oldEnough(leftover)) return { remove: false };
        if (!addon) return { remove: true, why: `addon ${owner.addonId} no longer exists` };
        // An operation in flight may be adding or removing it (its compensation included).
        if (addon.currentOperationId || owner.number <= addon.replicas) return { remove: false };
        return {
          remove: true,
          why: `addon ${owner.addonId} has ${addon.replicas} read replicas; this is number ${owner.number}`,
        };
      }
      case 'schedule':
        if ((await liveSchedules()).has(owner.scheduleId) || !this.oldEnough(leftover))
          return { remove: false };
        return { remove: true, why: `backup schedule ${owner.scheduleId} no longer exists` };
      case 'alert-rule': {
        if (!this.oldEnough(leftover)) return { remove: false };
        const exists = this.deps.alertRuleExists;
        if (exists && !(await exists(owner.projectId, owner.ruleId))) {
          return { remove: true, why: `alert rule ${owner.ruleId} no longer exists` };
        }
        if (owner.addonId && !addons.has(owner.addonId)) {
          return { remove: true, why: `addon ${owner.addonId} no longer exists` };
        }
        return { remove: false };
      }
      default: {
        const exhaustive: never = owner;
        throw new Error(`Unknown leftover owner ${JSON.stringify(exhaustive)}`);
      }
    }
  }
}

const ignoreConflict = (error: unknown) => {
  if (!(error instanceof ConflictError)) throw error;
};
