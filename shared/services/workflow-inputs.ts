import { UnresumableOperationError } from '../errors.ts';
import { pointInTimeKey, resourceIdFor } from '../ports/engine-provider.ts';
import type { WorkflowRun } from '../ports/workflow-starter.ts';
import type { Operation } from '../schemas/operation.ts';

/**
 * The workflow that carries an operation, with its full input rebuilt from the operation record:
 * what a restarted local platform (or a reconciler) starts again. Starting it again is safe: the
 * execution is named after the operation id, and every task is idempotent.
 */
export const workflowInputFor = (operation: Operation): WorkflowRun => {
  const ref = { projectId: operation.projectId, addonId: operation.addonId, operationId: operation.id };
  const backupId = () => {
    if (!operation.backupId) {
      throw new UnresumableOperationError(
        `Operation ${operation.id} (${operation.type}) names no backup; its workflow cannot start again`,
      );
    }
    return operation.backupId;
  };
  switch (operation.type) {
    case 'create':
      return { workflow: 'provision-addon', input: ref };
    case 'delete':
      return {
        workflow: 'delete-addon',
        input: operation.backupId ? { ...ref, backupId: operation.backupId } : ref,
      };
    case 'backup':
      return { workflow: 'backup-addon', input: { ...ref, backupId: backupId() } };
    case 'restore':
      // A point-in-time restore in place: the addon's own instance at that second (pitr-service.ts).
      if (operation.pointInTime) {
        const source = pointInTimeKey(resourceIdFor(operation.addonId), operation.pointInTime);
        return { workflow: 'restore-addon', input: { ...ref, backupId: source } };
      }
      // A restore of an uploaded file: the import is the workflow's source (import-restore-tasks.ts).
      return { workflow: 'restore-addon', input: { ...ref, backupId: operation.importId ?? backupId() } };
    case 'export':
      return { workflow: 'export-backup', input: { ...ref, backupId: backupId() } };
    case 'scale':
      return { workflow: 'scale-addon', input: ref };
    case 'upgrade':
      if (!operation.upgrade) {
        throw new UnresumableOperationError(`Operation ${operation.id} names no version to upgrade to`);
      }
      return {
        workflow: 'upgrade-addon',
        input: { ...ref, backupId: backupId(), version: operation.upgrade.toVersion },
      };
    case 'update':
      throw new UnresumableOperationError(`Operation ${operation.id}: no workflow carries update operations`);
    case 'rotate-credentials':
      // Carried by a workflow where the engine takes logins up asynchronously (ElastiCache).
      if (operation.rotation)
        return { workflow: 'rotate-credentials', input: { ...ref, phase: operation.rotation } };
      throw new UnresumableOperationError(
        `Operation ${operation.id}: this credential rotation ran in the API, not in a workflow`,
      );
    case 'update-replicas':
      return { workflow: 'update-replicas', input: ref };
    case 'update-networking':
      // Carried by a workflow where the engine takes minutes (AWS); run in the API otherwise (local).
      if (operation.networking) return { workflow: 'update-networking', input: ref };
      throw new UnresumableOperationError(
        `Operation ${operation.id}: this networking change ran in the API, not in a workflow`,
      );
    default: {
      const exhaustive: never = operation.type;
      throw new UnresumableOperationError(`Unknown operation type ${String(exhaustive)}`);
    }
  }
};
