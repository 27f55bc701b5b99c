import { ProviderError } from '../errors.ts';
import type { RestoreState } from '../ports/engine-provider.ts';

/**
 * What one `describeRestore` check of the restore workflow answers, the same for a backup's
 * restore and an import's: a failed restore throws (the workflow's failure path reports it), one
 * still running after the last allowed check gives up (`what` names it in the message), otherwise
 * the status and the checks made so far, for the workflow's wait loop.
 */
export const restoreCheck = (
  state: RestoreState,
  task: { attempts: number; maxAttempts: number },
  what: string,
): { status: RestoreState['status']; attempts: number } => {
  const attempts = task.attempts + 1;
  if (state.status === 'failed') throw new ProviderError(state.reason, 'RestoreFailed');
  if (state.status === 'restoring' && attempts >= task.maxAttempts) {
    throw new ProviderError(
      `${what} was still running after ${attempts} checks; giving up`,
      'RestoreWaitTimeout',
    );
  }
  return { status: state.status, attempts };
};
