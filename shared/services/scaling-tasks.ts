import * as z from 'zod/mini';
import { findPlan } from '../catalog/engines.ts';
import type { EngineRegistry } from '../engines/registry.ts';
import { ProviderError } from '../errors.ts';
import type { EngineAdapters, ResizeRequest } from '../ports/engine-provider.ts';
import type { Operation } from '../schemas/operation.ts';
import type { ScalingChange } from '../schemas/scaling.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import { nowIso } from '../util/ids.ts';
import {
  CaughtErrorSchema,
  CleanupFailureFields,
  failureReason,
  recordOperationFailure,
  WaitFields,
} from './workflow-tasks.ts';

const Ref = { projectId: z.string(), addonId: z.string(), operationId: z.string() };

/** The steps of scale-addon.asl.json. */
export const ScalingTaskSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('applyScaling'), ...Ref }),
  z.object({
    action: z.literal('describeScaling'),
    ...Ref,
    ...WaitFields,
  }),
  z.object({ action: z.literal('completeScaling'), ...Ref }),
  z.object({ action: z.literal('failScaling'), ...Ref, error: CaughtErrorSchema, ...CleanupFailureFields }),
]);
export type ScalingTask = z.infer<typeof ScalingTaskSchema>;

export interface ScalingTaskDeps {
  store: AddonStore;
  engines: EngineRegistry<EngineAdapters>;
}

/** What the operation changes, in words: the operation's message once it is done. */
export const describeChange = (change: ScalingChange): string => {
  if (change.plan !== undefined) return `plan ${change.previous.plan} → ${change.plan}`;
  if (change.storageGiB !== undefined)
    return `storage ${change.previous.storageGiB} → ${change.storageGiB} GiB`;
  return `Multi-AZ ${change.multiAz ? 'on' : 'off'}`;
};

/**
 * The engine-agnostic steps of a scale operation. `applyScaling` asks the engine's provider for
 * the change (idempotent: RDS ModifyDBInstance of what is already pending is a no-op, a local
 * instance already on the plan is left alone); `describeScaling` waits for it, bounded;
 * `completeScaling` records the new values on the addon and releases it; `failScaling` (the
 * Catch) releases it `running` with its old values and fails the operation with the reason.
 */
export class ScalingTasks {
  constructor(private readonly deps: ScalingTaskDeps) {}

  async run(task: ScalingTask): Promise<unknown> {
    switch (task.action) {
      case 'applyScaling':
        return this.apply(task);
      case 'describeScaling':
        return this.describe(task);
      case 'completeScaling':
        return this.complete(task);
      case 'failScaling':
        return this.fail(task);
      default: {
        const exhaustive: never = task;
        throw new Error(`Unknown scaling task ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  private async load(task: { projectId: string; addonId: string; operationId: string }) {
    const operation = await this.deps.store.getOperation(task.projectId, task.operationId);
    if (!operation.scaling) {
      throw new ProviderError(`Operation ${operation.id} names no scaling change`, 'InvalidOperation');
    }
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    return { operation, addon, change: operation.scaling, request: this.request(addon, operation.scaling) };
  }

  private request(addon: AddonRecord, change: ScalingChange): ResizeRequest {
    if (change.plan !== undefined) {
      const plan = findPlan(addon.engine, change.plan);
      if (!plan) throw new ProviderError(`Plan '${change.plan}' does not exist for ${addon.engine}`);
      return { plan };
    }
    if (change.storageGiB !== undefined) return { storageGiB: change.storageGiB };
    return { multiAz: Boolean(change.multiAz) };
  }

  private async apply(task: Extract<ScalingTask, { action: 'applyScaling' }>) {
    const { operation, addon, request } = await this.load(task);
    if (operation.status === 'pending') {
      await this.deps.store.updateOperation(task.projectId, task.operationId, {
        status: 'in-progress',
        startedAt: nowIso(),
        progress: { step: 'applying', percent: 10 },
      });
    }
    const provider = this.deps.engines.of(addon.engine).provider;
    if (!provider.resize) {
      throw new ProviderError(`${addon.engine} instances cannot be scaled on this deployment`, 'Unsupported');
    }
    await provider.resize(addon.resourceId, request);
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      progress: { step: 'waiting for the engine', percent: 40 },
    });
    return {};
  }

  private async describe(task: Extract<ScalingTask, { action: 'describeScaling' }>) {
    const { addon, request } = await this.load(task);
    const provider = this.deps.engines.of(addon.engine).provider;
    const attempts = task.attempts + 1;
    const state = provider.describeResize
      ? await provider.describeResize(addon.resourceId, request)
      : await provider
          .describeInstance(addon.resourceId)
          .then((instance) =>
            instance.status === 'available'
              ? { status: 'applied' as const }
              : instance.status === 'failed'
                ? { status: 'failed' as const, reason: instance.reason }
                : { status: 'applying' as const },
          );
    if (state.status === 'failed') throw new ProviderError(state.reason, 'ScalingFailed');
    if (state.status === 'applying' && attempts >= task.maxAttempts) {
      throw new ProviderError(
        `The change was still being applied after ${attempts} checks; giving up (the engine may still apply it)`,
        'ScalingWaitTimeout',
      );
    }
    return { status: state.status, attempts };
  }

  private async complete(task: Extract<ScalingTask, { action: 'completeScaling' }>) {
    const { operation, addon, change } = await this.load(task);
    const values = {
      ...(change.plan !== undefined ? { plan: change.plan } : {}),
      ...(change.storageGiB !== undefined ? { storageGiB: change.storageGiB } : {}),
      ...(change.multiAz !== undefined ? { multiAz: change.multiAz } : {}),
    };
    if (addon.currentOperationId === operation.id) {
      await this.deps.store.updateAddonForOperation(
        addon,
        operation.id,
        { ...values, status: 'running' },
        { release: true },
      );
    }
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      status: 'completed',
      completedAt: nowIso(),
      progress: { step: 'completed', percent: 100 },
      message: `Applied: ${describeChange(change)}`,
    });
    return {};
  }

  /** The Catch: the addon keeps (and records) what it had, running; the operation says why. */
  private async fail(task: Extract<ScalingTask, { action: 'failScaling' }>) {
    // Nothing is created that cleanup would remove: a failed cleanup (RecordFailure) is named only.
    const caught = failureReason(task, 'ask for the change again');
    const operation: Operation | undefined = await this.deps.store.findOperation(
      task.projectId,
      task.operationId,
    );
    const what = operation?.scaling ? describeChange(operation.scaling) : 'the scaling change';
    const reason = { code: caught.code, message: `${what} failed: ${caught.message}` };
    const addon = await this.deps.store.findAddon(task.projectId, task.addonId);
    if (addon?.currentOperationId === task.operationId) {
      const previous = operation?.scaling?.previous;
      await this.deps.store.updateAddonForOperation(
        addon,
        task.operationId,
        { status: 'running', ...(previous ?? {}) },
        { release: true },
      );
    }
    await recordOperationFailure(this.deps.store, task.projectId, task.operationId, reason);
    return { failed: true, reason };
  }
}
