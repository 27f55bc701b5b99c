import { ConflictError, NotFoundError } from '../errors.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { Credentials } from '../schemas/addon.ts';
import type { Page, PaginationQuery } from '../schemas/common.ts';
import type { Operation } from '../schemas/operation.ts';
import type { AddonStore } from '../store/addon-store.ts';

/** Connection details of an addon that has them; a 409 naming the operation while it has none yet. */
export const readCredentials = async (
  deps: { store: AddonStore; secrets: SecretStore },
  projectId: string,
  addonId: string,
): Promise<Credentials> => {
  const addon = await deps.store.getAddon(projectId, addonId);
  const secret = await deps.secrets.get({ projectId, addonId });
  if (!secret?.host || addon.endpoint === null) {
    throw new ConflictError(`Addon '${addon.name}' has no connection details while it is ${addon.status}`, {
      ...(addon.currentOperationId ? { operationId: addon.currentOperationId } : {}),
    });
  }
  return secret;
};

export const getOperation = (store: AddonStore, projectId: string, operationId: string): Promise<Operation> =>
  store.getOperation(projectId, operationId);

/** An addon's history; a deleted addon keeps its history, so only an addon never seen is a 404. */
export const listOperations = async (
  store: AddonStore,
  projectId: string,
  addonId: string,
  page: PaginationQuery,
): Promise<Page<Operation>> => {
  const result = await store.listOperations(projectId, addonId, page);
  if (result.items.length === 0 && !page.cursor && !(await store.findAddon(projectId, addonId))) {
    throw new NotFoundError(`Addon '${addonId}' was not found in project '${projectId}'`);
  }
  return result;
};
