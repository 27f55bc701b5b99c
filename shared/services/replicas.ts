import * as z from 'zod/mini';
import { capabilitiesOf, ENGINES, maxReplicasOf } from '../catalog/engines.ts';
import type { EngineRegistry } from '../engines/registry.ts';
import { ConflictError, ProviderError, UnsupportedError } from '../errors.ts';
import type { EngineAdapters } from '../ports/engine-provider.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { WorkflowStarter } from '../ports/workflow-starter.ts';
import type { Addon } from '../schemas/addon.ts';
import type { Engine, Target } from '../schemas/catalog.ts';
import { type Operation, TERMINAL_STATUSES } from '../schemas/operation.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import { nowIso } from '../util/ids.ts';
import { beginOperationWorkflow, failOperationAndRelease, newOperation, toAddon } from './operation-lock.ts';
import { publishedReplicas } from './replica-details.ts';
import { CaughtErrorSchema, CleanupFailureFields, failureReason, WaitFields } from './workflow-tasks.ts';

/**
 * Which engines change their replicas here: the registry of the workflow's adapters, or (the AWS
 * API function, which builds no provider) a view that only says whether the engine has one.
 */
export interface ReplicaEngines {
  of(engine: Engine): { replicas?: unknown };
}

/** The replica provider of the addon's engine, or a 422 naming `replicas` where it has none here. */
const replicaProviderOf = <P>(
  engines: { of(engine: Engine): { replicas?: P } },
  addon: Pick<AddonRecord, 'engine'>,
  target: Target,
): P => {
  const provider = capabilitiesOf(addon.engine, target).replicas
    ? engines.of(addon.engine).replicas
    : undefined;
  if (!provider) {
    throw new UnsupportedError(
      `${ENGINES[addon.engine].displayName} addons cannot change their read replicas on this deployment (capability replicas is off; see the catalog's notes)`,
      [{ path: 'body.replicas', message: `read replicas are not available for ${addon.engine} here` }],
    );
  }
  return provider;
};

export interface ReplicasDeps {
  store: AddonStore;
  engines: ReplicaEngines;
  workflows: WorkflowStarter;
  target: Target;
}

/**
 * `PATCH .../addons/{addonId}` with `replicas`: an `update-replicas` operation carried by the
 * update-replicas workflow (state-machines/update-replicas.asl.json), under the addon's lock. The
 * primary keeps serving; the addon is `updating` until the replicas run and are published.
 */
export class ReplicasService {
  constructor(private readonly deps: ReplicasDeps) {}

  async update(projectId: string, addonId: string, replicas: number) {
    const addon = await this.deps.store.getAddon(projectId, addonId);
    replicaProviderOf(this.deps.engines, addon, this.deps.target);
    const maxReplicas = maxReplicasOf(addon.engine, this.deps.target);
    if (replicas > maxReplicas) {
      throw new UnsupportedError(
        `${ENGINES[addon.engine].displayName} addons have at most ${maxReplicas} read replicas here`,
        [{ path: 'body.replicas', message: `at most ${maxReplicas} replicas` }],
      );
    }
    if (addon.currentOperationId) {
      throw new ConflictError(
        `Addon '${addon.name}' has operation ${addon.currentOperationId} in flight; retry when it has finished`,
        { operationId: addon.currentOperationId },
      );
    }
    if (addon.status !== 'running') {
      throw new ConflictError(
        `Addon '${addon.name}' is ${addon.status}; only a running addon can change its replicas`,
        {},
      );
    }
    const operation: Operation = {
      ...newOperation('update-replicas', projectId, addonId),
      replicas,
      message: `${addon.replicas} -> ${replicas} read replicas`,
    };
    const locked = await beginOperationWorkflow(
      this.deps,
      addon,
      operation,
      'update-replicas',
      'The replicas change',
    );
    return { addon: toAddon(locked) as Addon, operation };
  }
}

const Ref = { projectId: z.string(), addonId: z.string(), operationId: z.string() };

export const ReplicaTaskSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('applyReplicas'), ...Ref }),
  z.object({
    action: z.literal('describeReplicas'),
    ...Ref,
    ...WaitFields,
  }),
  z.object({ action: z.literal('publishReplicas'), ...Ref }),
  z.object({
    action: z.literal('failReplicas'),
    ...Ref,
    error: CaughtErrorSchema,
    ...CleanupFailureFields,
    // Going back may take steps (ElastiCache): the workflow calls again after a wait, bounded.
    attempts: z._default(z.number().check(z.int(), z.minimum(0)), 0),
    maxAttempts: z._default(z.number().check(z.int(), z.minimum(1)), 1),
  }),
]);
export type ReplicaTask = z.infer<typeof ReplicaTaskSchema>;

export interface ReplicaTaskDeps {
  store: AddonStore;
  engines: EngineRegistry<EngineAdapters>;
  /** The store with the secret groups' re-publish hook: linked replica URLs follow. */
  secrets: SecretStore;
  target: Target;
}

/**
 * The update-replicas workflow's steps, each idempotent (Step Functions retries, a restarted
 * local platform runs the workflow again): a finished operation is left alone.
 */
export class ReplicaTasks {
  constructor(private readonly deps: ReplicaTaskDeps) {}

  run(task: ReplicaTask): Promise<unknown> {
    switch (task.action) {
      case 'applyReplicas':
        return this.apply(task);
      case 'describeReplicas':
        return this.describe(task);
      case 'publishReplicas':
        return this.publish(task);
      case 'failReplicas':
        return this.fail(task);
      default: {
        const exhaustive: never = task;
        throw new Error(`Unknown replica task ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  /** The operation in flight with its addon and the count it asks for; undefined once it ended. */
  private async context(task: { projectId: string; addonId: string; operationId: string }) {
    const operation = await this.deps.store.getOperation(task.projectId, task.operationId);
    if (TERMINAL_STATUSES.includes(operation.status)) return undefined;
    if (operation.replicas === undefined) {
      throw new ProviderError(`Operation ${operation.id} names no replica count`, 'ReplicasFailed');
    }
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const provider = replicaProviderOf(this.deps.engines, addon, this.deps.target);
    return { operation, addon, provider, wanted: operation.replicas, change: { multiAz: addon.multiAz } };
  }

  private async apply(task: Extract<ReplicaTask, { action: 'applyReplicas' }>) {
    const found = await this.context(task);
    if (!found) return {};
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      status: 'in-progress',
      ...(found.operation.startedAt ? {} : { startedAt: nowIso() }),
      progress: { step: 'applying', percent: 10 },
    });
    await found.provider.setReplicaCount(found.addon.resourceId, found.wanted, found.change);
    return {};
  }

  private async describe(task: Extract<ReplicaTask, { action: 'describeReplicas' }>) {
    const found = await this.context(task);
    if (!found) return { status: 'available', attempts: task.attempts };
    const state = await found.provider.describeReplicas(found.addon.resourceId, found.wanted, found.change);
    if (state.status === 'failed') throw new ProviderError(state.reason, 'ReplicasFailed');
    if (state.status === 'available') return { status: 'available', attempts: task.attempts };
    const attempts = task.attempts + 1;
    if (attempts >= task.maxAttempts) {
      throw new ProviderError(
        `The replicas were not ready after ${attempts} checks (${state.ready} of ${state.wanted})`,
        'ReplicasWaitTimeout',
      );
    }
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      progress: { step: `waiting for replicas (${state.ready} of ${state.wanted} ready)`, percent: 50 },
    });
    return { status: 'applying', attempts };
  }

  private async publish(task: Extract<ReplicaTask, { action: 'publishReplicas' }>) {
    const found = await this.context(task);
    if (!found) return {};
    const { addon, provider, wanted } = found;
    const state = await provider.describeReplicas(addon.resourceId, wanted);
    if (state.status !== 'available') {
      throw new ProviderError(
        `The replicas are ${state.status} again before they were published`,
        'ReplicasFailed',
      );
    }
    const secret = await this.deps.secrets.get(task);
    if (!secret)
      throw new ProviderError('The connection details of this addon are missing', 'ReplicasFailed');
    await this.deps.secrets.put(task, publishedReplicas(secret, state.endpoints));
    if (addon.currentOperationId === task.operationId) {
      await this.deps.store.updateAddonForOperation(
        addon,
        task.operationId,
        { replicas: wanted, status: 'running' },
        { release: true },
      );
    }
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      status: 'completed',
      progress: { step: 'done', percent: 100 },
      completedAt: nowIso(),
    });
    return {};
  }

  /**
   * Back to the count the addon records: the replicas above it (a half-created one included) are
   * removed, those below it that a failed removal left are made again; the published details
   * are left as they were (they were not changed before `publishReplicas`). Where going back
   * takes more steps (`more`), the addon stays locked and the workflow calls again after a wait
   * (`settled: false`), at most `maxAttempts` times; then the reason says what was under way.
   */
  private async fail(task: Extract<ReplicaTask, { action: 'failReplicas' }>) {
    let reason = failureReason(task, 'set the replicas again');
    const operation = await this.deps.store.findOperation(task.projectId, task.operationId);
    if (!operation || TERMINAL_STATUSES.includes(operation.status)) return { failed: true, reason };
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    if (!task.skipCleanup) {
      const provider = replicaProviderOf(this.deps.engines, addon, this.deps.target);
      const more = await provider.setReplicaCount(addon.resourceId, addon.replicas, {
        multiAz: addon.multiAz,
      });
      const attempts = task.attempts + 1;
      if (more === 'more' && attempts < task.maxAttempts) return { settled: false, attempts };
      if (more === 'more') {
        reason = {
          ...reason,
          message: `${reason.message} (replicas still going back to ${addon.replicas} after ${attempts} checks)`,
        };
      }
    }
    if (addon.currentOperationId === task.operationId) {
      await failOperationAndRelease(this.deps.store, addon, task.operationId, reason, 'running');
    } else {
      await this.deps.store.updateOperation(task.projectId, task.operationId, {
        status: 'failed',
        error: reason,
        completedAt: nowIso(),
      });
    }
    return { failed: true, reason };
  }
}
