import type { EngineRegistry } from '../engines/registry.ts';
import { ProviderError } from '../errors.ts';
import type { EngineAdapters, RestoreState } from '../ports/engine-provider.ts';
import type { ConnectionSecret, SecretStore } from '../ports/secret-store.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import { nowIso } from '../util/ids.ts';
import { connectionUri } from './credentials.ts';
import { publishedReplicas } from './replica-details.ts';
import { restoreCheck } from './restore-checks.ts';

export interface RestoreEndpointDeps {
  store: AddonStore;
  /** The connection details; a deployment without them cannot follow a restore that moves the addon. */
  secrets?: SecretStore | undefined;
  /** The engines, whose providers re-assert the published login after a restore (`settleLogins`). */
  engines?: EngineRegistry<EngineAdapters>;
}

type OperationRef = { projectId: string; addonId: string; operationId: string };

/**
 * A restore moved the addon to a new endpoint (ElastiCache restores into a new replication
 * group, whether from a backup's snapshot or an imported RDB): rewrite the connection details
 * (host, port, URI; user and password stay), the addon's endpoint, and say so on the operation.
 * Shared by the backup and import restores so both tell the user the same thing. Idempotent:
 * nothing changes when the secret already names `endpoint`.
 */
export const moveAddon = async (
  deps: RestoreEndpointDeps,
  task: OperationRef,
  addon: AddonRecord,
  endpoint: { host: string; port: number },
): Promise<void> => {
  // Nothing moved (the usual case: RDS swaps names, the local target swaps data directories).
  if (addon.endpoint?.host === endpoint.host && addon.endpoint.port === endpoint.port) return;
  const { secrets } = deps;
  if (!secrets)
    throw new ProviderError(
      'The restore moved the addon, but this deployment cannot update connection details',
    );
  const secret = await secrets.get(task);
  if (!secret)
    throw new ProviderError('The connection details were lost before the restore could update them');
  if (secret.host === endpoint.host && secret.port === endpoint.port) return;
  const moved = { ...secret, host: endpoint.host, port: endpoint.port };
  await secrets.put(task, await withMovedReplicas(deps, addon, { ...moved, uri: connectionUri(moved) }));
  if (addon.currentOperationId === task.operationId) {
    await deps.store.updateAddonForOperation(addon, task.operationId, { endpoint });
  }
  await deps.store.updateOperation(task.projectId, task.operationId, {
    message: `The restore moved the addon to a new endpoint (${endpoint.host}:${endpoint.port}): its connection details changed. Fetch them again and reconnect; the user and password are the same.`,
  });
};

/**
 * The replicas moved with the addon (ElastiCache's restore makes the new group with as many
 * replica nodes, behind a new reader endpoint): their endpoints as the engine's replica provider
 * reads them now. None published while they are not all serving yet, rather than the old ones.
 */
const withMovedReplicas = async (
  deps: RestoreEndpointDeps,
  addon: AddonRecord,
  secret: ConnectionSecret,
): Promise<ConnectionSecret> => {
  if (!secret.replicas && addon.replicas === 0) return secret;
  const provider = deps.engines?.has(addon.engine) ? deps.engines.of(addon.engine).replicas : undefined;
  const state = provider ? await provider.describeReplicas(addon.resourceId, addon.replicas) : undefined;
  return publishedReplicas(secret, state?.status === 'available' ? state.endpoints : []);
};

/**
 * A failed restore changes nothing: stop a snapshot restore still running and put the addon back
 * on its data (`discardRestore`). One that had finished after all is kept (`completed`), and if it
 * moved the addon the connection details follow: the restore says where it went; one still tidying
 * up (ElastiCache deleting the previous group) does not yet, and the addon's instance does.
 */
export const discardOrFollowRestore = async (
  deps: RestoreEndpointDeps,
  engine: EngineAdapters,
  task: OperationRef & { snapshotId: string },
  addon: AddonRecord,
): Promise<'discarded' | 'completed'> => {
  const { resourceId } = addon;
  const outcome = await engine.snapshots.discardRestore(resourceId, task.snapshotId, task.operationId);
  if (outcome === 'discarded') return outcome;
  const restore = await engine.snapshots.describeRestore(resourceId, task.snapshotId, task.operationId);
  const instance =
    restore.status === 'restoring' ? await engine.provider.describeInstance(resourceId) : undefined;
  const endpoint =
    restore.status === 'available'
      ? restore.endpoint
      : instance?.status === 'available'
        ? instance.endpoint
        : undefined;
  if (endpoint) await moveAddon(deps, task, addon, endpoint);
  return outcome;
};

/**
 * One `describeRestore` check of a backup's or an import's restore (`restoreCheck`); a restore
 * that landed on a new endpoint (ElastiCache) moves the addon's connection details with it.
 */
export const judgeRestore = async (
  deps: RestoreEndpointDeps,
  state: RestoreState,
  task: OperationRef & { attempts: number; maxAttempts: number },
  addon: AddonRecord,
  what: string,
): Promise<{ status: RestoreState['status']; attempts: number }> => {
  const check = restoreCheck(state, task, what);
  if (state.status === 'available' && state.endpoint) await moveAddon(deps, task, addon, state.endpoint);
  if (state.status === 'available') await settleLogins(deps, task, addon);
  return check;
};

/** The operation's step once a copy is in whose logins the login job puts right (restored-logins.ts). */
export const RESETTING_LOGINS = 'resetting-logins';

/**
 * A restored snapshot or point in time brings back the logins the data had then, which a
 * credential rotation since may have changed: where the engine rotates credentials, make the
 * published login the one that works again (`retainOnlyLogin`, idempotent). An open rotation ends
 * with it (its previous login is whatever the restored data says, so it is retired) and the
 * operation says so. Engines without rotation never changed their login: nothing to do. Where
 * only the login job can change logins (RDS), the workflow's next steps do (restored-logins.ts).
 */
const settleLogins = async (deps: RestoreEndpointDeps, task: OperationRef, addon: AddonRecord) => {
  const provider = deps.engines?.has(addon.engine) ? deps.engines.of(addon.engine).provider : undefined;
  if (provider?.loginJob) {
    // The workflow's next steps do it (restored-logins.ts); until they end, the copy is in but its
    // logins are not put right, and a failure says so.
    await deps.store.updateOperation(task.projectId, task.operationId, {
      progress: { step: RESETTING_LOGINS, percent: 90 },
    });
    return;
  }
  // Logins kept outside the data (ElastiCache RBAC users, applied asynchronously) are not restored.
  if (!provider?.retainOnlyLogin || provider.describeLogins || !deps.secrets) return;
  const secret = await deps.secrets.get(task);
  if (!secret?.password) return;
  await provider.retainOnlyLogin(addon.resourceId, { username: secret.username, password: secret.password });
  await endRotationByRestore(deps.store, task, addon);
};

/**
 * A restore brought back logins of another time and the published login is made the only one:
 * an open credential rotation ends with it (its previous login is retired), and the operation says so.
 */
export const endRotationByRestore = async (
  store: AddonStore,
  task: OperationRef,
  addon: AddonRecord,
): Promise<void> => {
  if (!addon.credentialRotation || addon.currentOperationId !== task.operationId) return;
  await store.updateAddonForOperation(addon, task.operationId, { credentialRotation: null });
  await store.updateOperation(task.projectId, task.operationId, {
    message: `The restore ended the open credential rotation: the published credentials work, the previous ones (user '${addon.credentialRotation.previousUsername}') were retired.`,
  });
};

/**
 * End a restore's operation, completed or failed with `reason`, and give the addon back (running,
 * unlocked) if this operation still holds it: the last step of every kind of restore.
 */
export const finishRestoreOperation = async (
  store: AddonStore,
  task: { projectId: string; addonId: string; operationId: string },
  reason: { code: string; message: string } | null,
): Promise<{ failed?: true; reason?: { code: string; message: string } }> => {
  const addon = await store.findAddon(task.projectId, task.addonId);
  if (addon?.currentOperationId === task.operationId) {
    await store.updateAddonForOperation(addon, task.operationId, { status: 'running' }, { release: true });
  }
  await store.updateOperation(task.projectId, task.operationId, {
    status: reason ? 'failed' : 'completed',
    completedAt: nowIso(),
    ...(reason ? { error: reason } : { progress: { step: 'completed', percent: 100 } }),
  });
  return reason ? { failed: true, reason } : {};
};
