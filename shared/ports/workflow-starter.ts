export const WORKFLOWS = ['provision-addon', 'delete-addon'] as const;
export type WorkflowName = (typeof WORKFLOWS)[number];

export interface WorkflowInput {
  projectId: string;
  addonId: string;
  operationId: string;
}

/**
 * Starting workflows: StartExecution on AWS, the local ASL runner locally. The execution is
 * named after the operation id, so starting the same operation twice is a no-op.
 */
export interface WorkflowStarter {
  start(workflow: WorkflowName, input: WorkflowInput): Promise<void>;
}
