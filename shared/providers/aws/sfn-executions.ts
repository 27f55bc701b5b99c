import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { ExecutionState, WorkflowExecutions } from '../../ports/reconciler.ts';
import type { WorkflowName, WorkflowRun } from '../../ports/workflow-starter.ts';
import { isAwsError, toPlatformError } from './aws-errors.ts';
import { SfnWorkflowStarter } from './sfn-workflow-starter.ts';

/**
 * Step Functions executions as the reconciler sees them. An execution is named after its
 * operation id, so its ARN follows from the state machine's; Step Functions keeps a closed
 * execution's status for 90 days, which tells "ended without finishing" from "never started".
 */
export class SfnExecutions implements WorkflowExecutions {
  private readonly starter: SfnWorkflowStarter;

  constructor(private readonly props: { client: SFNClient; stateMachineArns: Record<WorkflowName, string> }) {
    this.starter = new SfnWorkflowStarter(props);
  }

  async describe(workflow: WorkflowName, operationId: string): Promise<ExecutionState> {
    const executionArn = `${this.props.stateMachineArns[workflow].replace(':stateMachine:', ':execution:')}:${operationId}`;
    try {
      const { status } = await this.props.client.send(new DescribeExecutionCommand({ executionArn }));
      return status === 'RUNNING' || status === 'PENDING_REDRIVE'
        ? { status: 'running' }
        : { status: 'ended', outcome: status ?? 'UNKNOWN' };
    } catch (error) {
      if (isAwsError(error, 'ExecutionDoesNotExist')) return { status: 'absent' };
      throw toPlatformError(error, `looking up the execution of operation ${operationId}`);
    }
  }

  start(run: WorkflowRun): Promise<void> {
    return this.starter.start(run);
  }

  stop(workflow: WorkflowName, operationId: string, reason: string): Promise<void> {
    return this.starter.stop(workflow, operationId, reason);
  }
}
