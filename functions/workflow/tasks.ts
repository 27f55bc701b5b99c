import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { parsePart } from '#shared/api/zod-issues.ts';
import { type WorkflowTaskDeps, WorkflowTaskSchema, WorkflowTasks } from '#shared/services/workflow-tasks.ts';

/**
 * The one task handler of every addon state machine: the ASL passes `action`, this dispatches
 * on it. Errors keep their names (TransientError, ProviderError...) so Retry and Catch match them.
 */
export const createWorkflowTaskHandler = (deps: WorkflowTaskDeps & { logger: Logger }) => {
  const tasks = new WorkflowTasks(deps);
  const run = async (event: unknown) => {
    const task = parsePart(WorkflowTaskSchema, event, 'workflow task');
    deps.logger.appendKeys({ operationId: task.operationId, action: task.action });
    return tasks.run(task);
  };
  return middy(run).use(injectLambdaContext(deps.logger, { resetKeys: true }));
};
