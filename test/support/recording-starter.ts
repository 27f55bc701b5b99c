import type { WorkflowName, WorkflowRun, WorkflowStarter } from '#shared/ports/workflow-starter.ts';

/** A WorkflowStarter that only records what it was asked to start and stop (or refuses, with `fail`). */
export class RecordingStarter implements WorkflowStarter {
  started: WorkflowRun[] = [];
  stopped: string[] = [];
  fail = false;

  async start(run: WorkflowRun) {
    if (this.fail) throw new Error('StartExecution refused');
    this.started.push(run);
  }

  async stop(_workflow: WorkflowName, operationId: string) {
    this.stopped.push(operationId);
  }
}
