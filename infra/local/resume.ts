import { errorMessage } from '#shared/errors.ts';
import type { WorkflowStarter } from '#shared/ports/workflow-starter.ts';
import type { Operation } from '#shared/schemas/operation.ts';
import { workflowInputFor } from '#shared/services/workflow-inputs.ts';
import type { AddonStore } from '#shared/store/addon-store.ts';
import { nowIso } from '#shared/util/ids.ts';

export interface ResumeOutcome {
  resumed: Operation[];
  /** Operations no workflow could carry again: failed on the spot, their addon released. */
  failed: Array<{ operation: Operation; reason: string }>;
}

/**
 * Start again, from their first state, the workflows of every operation still in flight (a crash
 * or Ctrl-C interrupted them). Each is rebuilt with its full input from the operation record;
 * one that cannot be is failed with the reason and its lock released, so nothing stays locked.
 */
export const resumeOperations = async (deps: {
  store: AddonStore;
  workflows: WorkflowStarter;
  log: (message: string, extra?: object) => void;
}): Promise<ResumeOutcome> => {
  const outcome: ResumeOutcome = { resumed: [], failed: [] };
  for (const operation of await deps.store.listActiveOperations()) {
    try {
      await deps.workflows.start(workflowInputFor(operation));
      outcome.resumed.push(operation);
    } catch (error) {
      const reason = `The platform restarted and could not resume this operation: ${errorMessage(error)}`;
      deps.log('could not resume an operation; failing it', { operationId: operation.id, reason });
      await failInPlace(deps.store, operation, reason);
      outcome.failed.push({ operation, reason });
    }
  }
  return outcome;
};

const failInPlace = async (store: AddonStore, operation: Operation, reason: string) => {
  await store.updateOperation(operation.projectId, operation.id, {
    status: 'failed',
    error: { code: 'ResumeFailed', message: reason },
    completedAt: nowIso(),
  });
  const addon = await store.findAddon(operation.projectId, operation.addonId);
  if (addon?.currentOperationId !== operation.id) return;
  // A backup or restore that never ran left the data as it was; anything else leaves it unknown,
  // but for a credential rotation: the published credentials always work (credential-rotation.ts).
  const status = [
    'backup',
    'restore',
    'rotate-credentials',
    'update-networking',
    'scale',
    'upgrade',
  ].includes(operation.type)
    ? 'running'
    : 'failed';
  await store.updateAddonForOperation(addon, operation.id, { status }, { release: true });
};
