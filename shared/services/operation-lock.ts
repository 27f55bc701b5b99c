import type { WorkflowStarter } from '../ports/workflow-starter.ts';
import type { Addon } from '../schemas/addon.ts';
import type { Operation, OperationType } from '../schemas/operation.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import { newId, nowIso } from '../util/ids.ts';
import { userFacingMessage } from '../util/redact.ts';

/*
 * An addon's operation lock and the operation records around it, shared by the API services that
 * start operations and the workflow tasks that end them. Kept apart from the services, so a
 * workflow function does not bundle every API service to reach these few lines.
 */

/** What the API shows of an addon record. */
export const toAddon = ({ revision: _revision, resourceId: _resourceId, ...addon }: AddonRecord): Addon =>
  addon;

/**
 * An operation that could not be started: it is marked failed with `code` and `message`, and the
 * addon's operation lock released with the addon left in `addonStatus` (`running` when the addon
 * is untouched, `failed` when its create or change never began).
 */
export const failOperationAndRelease = async (
  store: AddonStore,
  addon: AddonRecord,
  operationId: string,
  error: { code: string; message: string },
  addonStatus: AddonRecord['status'],
): Promise<void> => {
  await store.updateOperation(addon.projectId, operationId, {
    status: 'failed',
    error,
    completedAt: nowIso(),
  });
  await store.updateAddonForOperation(addon, operationId, { status: addonStatus }, { release: true });
};

/**
 * Lock `addon` for `operation` (the addon `updating` meanwhile) and start `workflow` on it. A
 * workflow that does not start fails the operation with the reason and releases the addon, running.
 */
export const beginOperationWorkflow = async (
  deps: { store: AddonStore; workflows: WorkflowStarter },
  addon: AddonRecord,
  operation: Operation,
  workflow: 'scale-addon' | 'update-replicas' | 'update-networking',
  what: string,
): Promise<AddonRecord> => {
  const locked = await deps.store.beginOperation(addon, operation, 'updating');
  try {
    await deps.workflows.start({
      workflow,
      input: { projectId: addon.projectId, addonId: addon.id, operationId: operation.id },
    });
  } catch (error) {
    const message = `${what} could not start: ${userFacingMessage(error)}`;
    await failOperationAndRelease(
      deps.store,
      locked,
      operation.id,
      { code: 'WorkflowStartFailed', message },
      'running',
    );
    throw error;
  }
  return locked;
};

export const newOperation = (type: OperationType, projectId: string, addonId: string): Operation => ({
  id: newId('op'),
  type,
  status: 'pending',
  projectId,
  addonId,
  backupId: null,
  progress: { step: 'queued', percent: 0 },
  error: null,
  createdAt: nowIso(),
  startedAt: null,
  completedAt: null,
});
