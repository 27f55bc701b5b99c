import { UnresumableOperationError } from '../errors.ts';
import type { WorkflowRun } from '../ports/workflow-starter.ts';
import type { AddonStatus } from '../schemas/addon.ts';
import type { Target } from '../schemas/catalog.ts';
import type { Operation, OperationType } from '../schemas/operation.ts';
import { workflowInputFor } from './workflow-inputs.ts';

const MINUTE = 60_000;

/**
 * How long an operation may stay in flight before the reconciler fails it, per type, in
 * minutes. They sit well above what the workflows themselves allow, so the reconciler only
 * catches what the workflows cannot (a lost execution, a step that hangs):
 * - AWS create/delete: up to 120 Describe checks 30 s apart, plus retries; an RDS create or
 *   restore can take more than an hour.
 * - backup/restore: the dump or restore job may run for 24 hours (`TimeoutSeconds` 86400 of
 *   the RunJob state), and a snapshot wait is 240 checks 30 s apart.
 * - export: one Lambda task of at most 15 minutes, retried a few times.
 * - local: engines are processes that start in a second; jobs still get their 24 hours.
 * - rotate-credentials: locally a few statements run by the API itself; an interrupted one is
 *   failed and its addon released, and its rotation (recorded before any engine change) is
 *   retired at its deadline (credential-rotation.ts). On AWS (ElastiCache) the rotate-credentials
 *   workflow: a ModifyUser waited out (up to 120 checks 5 s apart) and its compensation. update-networking locally: the same, run by the API
 *   (networking.ts); on AWS the update-networking workflow (up to 240 checks 30 s apart).
 * - scale: a ModifyDBInstance of the class or the storage; the storage optimisation that follows a
 *   growth runs after the instance is available again, so hours only on very large volumes.
 */
export const DEFAULT_DEADLINE_MINUTES: Record<Target, Record<OperationType, number>> = {
  aws: {
    create: 4 * 60,
    update: 4 * 60,
    delete: 4 * 60,
    backup: 26 * 60,
    restore: 26 * 60,
    export: 2 * 60,
    'rotate-credentials': 30,
    // PubliclyAccessible, a parameter group and its reboot: the workflow waits up to 2 hours.
    'update-networking': 3 * 60,
    // ModifyDBInstance of the class or storage: RDS can take hours on large volumes.
    scale: 6 * 60,
    // A snapshot or dump first (as a backup), then RDS's upgrade (up to 240 checks 30 s apart).
    upgrade: 28 * 60,
    // RDS read replicas take minutes to tens of minutes each (the workflow's wait is 180 x 20 s).
    'update-replicas': 2 * 60,
  },
  local: {
    create: 30,
    update: 30,
    delete: 30,
    backup: 25 * 60,
    restore: 25 * 60,
    export: 2 * 60,
    'rotate-credentials': 10,
    'update-networking': 10,
    scale: 30,
    upgrade: 26 * 60,
    // RDS read replicas take minutes to tens of minutes each (the workflow's wait is 180 x 20 s).
    'update-replicas': 2 * 60,
  },
};

export interface ReconcilerSettings {
  /** Per operation type, in milliseconds. */
  deadlinesMs: Record<OperationType, number>;
  /**
   * How long a pending operation may go without an execution before it is started again: the
   * API takes the lock, then calls StartExecution a few milliseconds later.
   */
  startGraceMs: number;
  /** The youngest a leftover may be when its owner's record is missing (an in-flight create). */
  leftoverMinAgeMs: number;
}

export const DEFAULT_SETTINGS: Record<Target, Omit<ReconcilerSettings, 'deadlinesMs'>> = {
  aws: { startGraceMs: 5 * MINUTE, leftoverMinAgeMs: 60 * MINUTE },
  local: { startGraceMs: 30_000, leftoverMinAgeMs: 10 * MINUTE },
};

/**
 * Deadlines from the defaults of `target`, overridden by `type=minutes` pairs separated by
 * commas (`OPERATION_DEADLINES=create=120,backup=600`). A malformed entry is an error, not a
 * silent default.
 */
export const deadlinesFrom = (target: Target, overrides?: string): Record<OperationType, number> => {
  const minutes = { ...DEFAULT_DEADLINE_MINUTES[target] };
  for (const entry of (overrides ?? '').split(',').map((part) => part.trim())) {
    if (!entry) continue;
    const match = /^(create|update|delete|backup|restore)=(\d+)$/.exec(entry);
    if (!match?.[1] || !match[2] || Number(match[2]) < 1) {
      throw new Error(
        `Invalid operation deadline '${entry}': expected <create|update|delete|backup|restore>=<minutes>`,
      );
    }
    minutes[match[1] as OperationType] = Number(match[2]);
  }
  return Object.fromEntries(Object.entries(minutes).map(([type, value]) => [type, value * MINUTE])) as Record<
    OperationType,
    number
  >;
};

/** The workflow and full input that run an operation; undefined for one no workflow can run. */
export const workflowFor = (operation: Operation): WorkflowRun | undefined => {
  try {
    return workflowInputFor(operation);
  } catch (error) {
    if (error instanceof UnresumableOperationError) return undefined;
    throw error;
  }
};

/**
 * The addon's status once the reconciler ended its operation, as the workflows' own Catch
 * states leave it: a failed backup or restore never takes the addon down (the restore rolls
 * back or has not swapped yet); a create, update or delete that did not finish needs the user
 * to look (and usually delete it).
 */
export const addonStatusAfter = (operation: Pick<Operation, 'type' | 'status'>): AddonStatus => {
  if (operation.status === 'completed' && operation.type !== 'delete') return 'running';
  switch (operation.type) {
    case 'backup':
    case 'restore':
    case 'export':
    case 'rotate-credentials':
    case 'update-networking':
    // A change that did not finish leaves the addon on its old plan (recorded) or the new one.
    case 'scale':
    // A failed upgrade leaves the addon on its old version, running (or it had completed).
    case 'upgrade':
    // A replicas change leaves the primary serving; the compensation puts the count back.
    case 'update-replicas':
      return 'running';
    case 'create':
    case 'update':
    case 'delete':
      return 'failed';
    default: {
      const exhaustive: never = operation.type;
      throw new Error(`Unknown operation type ${String(exhaustive)}`);
    }
  }
};
