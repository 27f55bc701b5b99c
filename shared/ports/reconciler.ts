import type { WorkflowName, WorkflowRun } from './workflow-starter.ts';

/** What the orchestrator knows of an operation's execution (named after the operation id). */
export type ExecutionState =
  | { status: 'running' }
  | { status: 'ended'; outcome: string }
  | { status: 'absent' };

/**
 * Executions as the reconciler sees them: DescribeExecution/StartExecution/StopExecution on
 * AWS, the local runner locally. Starting an operation that already has an execution is a no-op.
 */
export interface WorkflowExecutions {
  describe(workflow: WorkflowName, operationId: string): Promise<ExecutionState>;
  start(run: WorkflowRun): Promise<void>;
  stop(workflow: WorkflowName, operationId: string, reason: string): Promise<void>;
}

/** Every kind of resource the platform creates, on either target. */
export type LeftoverKind =
  | 'db-instance'
  /** A DocumentDB cluster (MongoDB addons on AWS). */
  | 'db-cluster'
  /** ElastiCache (Redis addons on AWS): a replication group, an addon's RBAC user group and user. */
  | 'cache-group'
  /** A replica node of an addon's replication group (`<group>-00n`). */
  | 'cache-node'
  | 'cache-user-group'
  | 'cache-user'
  | 'db-snapshot'
  | 'security-group'
  | 'secret'
  | 'dump-object'
  | 'schedule'
  | 'engine-dir'
  | 'snapshot-dir'
  /** A CloudWatch alarm of an alert rule for one addon, and the rule's SNS topic (AWS). */
  | 'alert-alarm'
  | 'alert-topic';

/** What a resource belongs to: it is a leftover once that is gone (or, for backups, ended). */
export type LeftoverOwner =
  | { kind: 'addon'; addonId: string }
  | { kind: 'backup'; addonId: string; backupId: string; projectId?: string }
  | {
      /** A staging (`-r`) or retired (`-o`) instance of a snapshot restore (AWS). */
      kind: 'restore-copy';
      addonId: string;
      /** Whether this copy belongs to the restore with this operation id. */
      isCopyFor: (operationId: string) => boolean;
      /** Whether an instance answers to the addon's own identifier (else the copy may hold its data). */
      primaryPresent: boolean;
    }
  /**
   * A read replica of an addon's instance (RDS), replica node of its replication group
   * (ElastiCache) or reader of its cluster (DocumentDB): a leftover once the addon is gone, or while no
   * operation runs on it when its number is above the addon's count (a removal that failed).
   */
  | { kind: 'replica'; addonId: string; number: number }
  | { kind: 'schedule'; scheduleId: string }
  /** An alert rule's topic, or its alarm for one addon: a leftover once the rule or the addon is gone. */
  | { kind: 'alert-rule'; projectId: string; ruleId: string; addonId?: string };

export interface Leftover {
  kind: LeftoverKind;
  /** The provider's identifier (DB identifier, S3 key, path...). */
  id: string;
  /**
   * When the resource was created (or last written). A younger one is never removed when its
   * owner's record is missing: an in-flight create may not have written that record yet.
   * Undefined when the provider does not say (security groups): then only the order of the
   * reconciler's reads protects it (resources are listed before the records are read).
   */
  createdAt?: Date;
  owner: LeftoverOwner;
}

/** A family of resources the reconciler lists and removes, on one target. */
export interface LeftoverSource {
  readonly name: string;
  list(): Promise<Leftover[]>;
  /** Idempotent; a removal the provider refuses for now throws and is retried next run. */
  remove(leftover: Leftover): Promise<void>;
}
