import { type SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import {
  checkWorkflowRun,
  type WorkflowName,
  type WorkflowRun,
  type WorkflowStarter,
} from '../../ports/workflow-starter.ts';
import { transientErrors } from './aws-errors.ts';

export interface SfnWorkflowStarterProps {
  client: SFNClient;
  /** Only the workflows this function starts; IAM grants StartExecution on exactly these. */
  stateMachineArns: Partial<Record<WorkflowName, string>>;
}

/** StartExecution named after the operation id: a retried start is a no-op. */
export class SfnWorkflowStarter implements WorkflowStarter {
  private readonly send: SFNClient['send'];

  constructor(private readonly props: SfnWorkflowStarterProps) {
    this.send = transientErrors(props.client, 'Step Functions');
  }

  private arnOf(workflow: WorkflowName): string {
    const arn = this.props.stateMachineArns[workflow];
    if (!arn) throw new Error(`This function is not configured to run the ${workflow} workflow`);
    return arn;
  }

  async start(run: WorkflowRun): Promise<void> {
    const { workflow, input } = checkWorkflowRun(run);
    try {
      await this.send(
        new StartExecutionCommand({
          stateMachineArn: this.arnOf(workflow),
          name: input.operationId,
          input: JSON.stringify(input),
        }),
      );
    } catch (error) {
      // By name: a function may load this client from the runtime (ProjectFunction runtimeClients).
      if (error instanceof Error && error.name === 'ExecutionAlreadyExists') return;
      throw error;
    }
  }

  /** The execution ARN follows from the state machine ARN and the execution name (the operation id). */
  async stop(workflow: WorkflowName, operationId: string, reason: string): Promise<void> {
    const executionArn = `${this.arnOf(workflow).replace(':stateMachine:', ':execution:')}:${operationId}`;
    try {
      await this.send(new StopExecutionCommand({ executionArn, cause: reason.slice(0, 32768) }));
    } catch (error) {
      if (error instanceof Error && error.name === 'ExecutionDoesNotExist') return;
      throw error;
    }
  }
}
