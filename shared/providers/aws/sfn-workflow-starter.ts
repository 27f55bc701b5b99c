import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { WorkflowInput, WorkflowName, WorkflowStarter } from '../../ports/workflow-starter.ts';

export interface SfnWorkflowStarterProps {
  client: SFNClient;
  stateMachineArns: Record<WorkflowName, string>;
}

/** StartExecution named after the operation id: a retried start is a no-op. */
export class SfnWorkflowStarter implements WorkflowStarter {
  constructor(private readonly props: SfnWorkflowStarterProps) {}

  async start(workflow: WorkflowName, input: WorkflowInput): Promise<void> {
    try {
      await this.props.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.props.stateMachineArns[workflow],
          name: input.operationId,
          input: JSON.stringify(input),
        }),
      );
    } catch (error) {
      if (
        error instanceof ExecutionAlreadyExists ||
        (error instanceof Error && error.name === 'ExecutionAlreadyExists')
      ) {
        return;
      }
      throw error;
    }
  }
}
