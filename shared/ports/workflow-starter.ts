export const WORKFLOWS = ['provision-addon', 'delete-addon', 'backup-addon', 'restore-addon'] as const;
export type WorkflowName = (typeof WORKFLOWS)[number];

export interface WorkflowInput {
  projectId: string;
  addonId: string;
  operationId: string;
  /** Backup and restore workflows: the backup taken or restored. */
  backupId?: string;
}

/**
 * Starting workflows: StartExecution on AWS, the local ASL runner locally. The execution is
 * named after the operation id, so starting the same operation twice is a no-op.
 */
export interface WorkflowStarter {
  start(workflow: WorkflowName, input: WorkflowInput): Promise<void>;
  /** Stop an execution (abort); Catch states do not run, so the caller cleans up. Stopping a finished one is a no-op. */
  stop(workflow: WorkflowName, operationId: string, reason: string): Promise<void>;
}
