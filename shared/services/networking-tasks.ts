import * as z from 'zod/mini';
import type { EngineRegistry } from '../engines/registry.ts';
import { errorMessage, ProviderError } from '../errors.ts';
import type { EngineAdapters, EngineProvider, NetworkingApplied } from '../ports/engine-provider.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { NetworkingChange, NetworkingSettings } from '../schemas/networking.ts';
import type { AddonStore } from '../store/addon-store.ts';
import { nowIso } from '../util/ids.ts';
import { describeNetworking, publishedNetworking } from './networking-details.ts';
import {
  CaughtErrorSchema,
  CleanupFailureFields,
  failureReason,
  recordOperationFailure,
  WaitFields,
} from './workflow-tasks.ts';

const Ref = { projectId: z.string(), addonId: z.string(), operationId: z.string() };

/** The steps of update-networking.asl.json. */
export const NetworkingTaskSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('applyNetworking'), ...Ref }),
  z.object({
    action: z.literal('describeNetworking'),
    ...Ref,
    ...WaitFields,
  }),
  z.object({ action: z.literal('completeNetworking'), ...Ref }),
  z.object({
    action: z.literal('failNetworking'),
    ...Ref,
    error: CaughtErrorSchema,
    ...CleanupFailureFields,
  }),
]);
export type NetworkingTask = z.infer<typeof NetworkingTaskSchema>;

export interface NetworkingTaskDeps {
  store: AddonStore;
  engines: EngineRegistry<EngineAdapters>;
  secrets: SecretStore;
}

const settingsOf = ({ tls, public: isPublic, allow }: NetworkingSettings): NetworkingSettings => ({
  tls,
  public: isPublic,
  allow,
});

/**
 * The engine-agnostic steps of a networking change carried by a workflow (engines whose changes
 * take minutes: RDS). `applyNetworking` begins it (idempotent); `describeNetworking` waits for it,
 * bounded; `completeNetworking` publishes the connection details (TLS flag, public endpoint),
 * then records the settings on the addon and releases it; `failNetworking` (the Catch) begins
 * putting the engine back on the previous networking, releases the addon `running` with its old
 * settings (the published details never changed) and fails the operation with the reason.
 */
export class NetworkingTasks {
  constructor(private readonly deps: NetworkingTaskDeps) {}

  async run(task: NetworkingTask): Promise<unknown> {
    switch (task.action) {
      case 'applyNetworking':
        return this.apply(task);
      case 'describeNetworking':
        return this.describe(task);
      case 'completeNetworking':
        return this.complete(task);
      case 'failNetworking':
        return this.fail(task);
      default: {
        const exhaustive: never = task;
        throw new Error(`Unknown networking task ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  private async load(task: { projectId: string; addonId: string; operationId: string }) {
    const operation = await this.deps.store.getOperation(task.projectId, task.operationId);
    if (!operation.networking) {
      throw new ProviderError(`Operation ${operation.id} names no networking change`, 'InvalidOperation');
    }
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    return { operation, addon, change: operation.networking, provider: this.providerOf(addon.engine) };
  }

  private providerOf(engine: Parameters<EngineRegistry<EngineAdapters>['of']>[0]) {
    const provider = this.deps.engines.of(engine).provider;
    if (!provider.configureNetworking) {
      throw new ProviderError(`${engine} instances cannot change their networking here`, 'Unsupported');
    }
    return provider as EngineProvider & Required<Pick<EngineProvider, 'configureNetworking'>>;
  }

  private async apply(task: Extract<NetworkingTask, { action: 'applyNetworking' }>) {
    const { operation, addon, change, provider } = await this.load(task);
    if (operation.status === 'pending') {
      await this.deps.store.updateOperation(task.projectId, task.operationId, {
        status: 'in-progress',
        startedAt: nowIso(),
        progress: { step: 'applying', percent: 10 },
      });
    }
    await provider.configureNetworking(addon.resourceId, settingsOf(change));
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      progress: { step: 'waiting for the engine', percent: 40 },
    });
    return {};
  }

  /** Where the engine applies changes at once (no `describeNetworking`), asking again says what is in force. */
  private async state(
    provider: EngineProvider & Required<Pick<EngineProvider, 'configureNetworking'>>,
    resourceId: string,
    settings: NetworkingSettings,
  ) {
    if (provider.describeNetworking) return provider.describeNetworking(resourceId, settings);
    return { status: 'applied' as const, applied: await provider.configureNetworking(resourceId, settings) };
  }

  private async describe(task: Extract<NetworkingTask, { action: 'describeNetworking' }>) {
    const { addon, change, provider } = await this.load(task);
    const attempts = task.attempts + 1;
    const state = await this.state(provider, addon.resourceId, settingsOf(change));
    if (state.status === 'failed') throw new ProviderError(state.reason, 'NetworkingFailed');
    if (state.status === 'applying' && attempts >= task.maxAttempts) {
      throw new ProviderError(
        `The networking change was still being applied after ${attempts} checks; giving up`,
        'NetworkingWaitTimeout',
      );
    }
    return { status: state.status, attempts };
  }

  private async complete(task: Extract<NetworkingTask, { action: 'completeNetworking' }>) {
    const { operation, addon, change, provider } = await this.load(task);
    const wanted = settingsOf(change);
    const state = await this.state(provider, addon.resourceId, wanted);
    if (state.status !== 'applied') {
      throw new ProviderError('The networking change is no longer in force', 'NetworkingFailed');
    }
    if (addon.currentOperationId === operation.id) {
      const ref = { projectId: task.projectId, addonId: task.addonId };
      const secret = await this.deps.secrets.get(ref);
      if (!secret) throw new ProviderError(`Addon ${addon.id} has no connection details to publish`);
      await this.deps.secrets.put(
        ref,
        publishedNetworking(secret, wanted, state.applied as NetworkingApplied),
      );
      await this.deps.store.updateAddonForOperation(
        addon,
        operation.id,
        { tls: wanted.tls, publicAccess: wanted.public, allowedCidrs: wanted.allow, status: 'running' },
        { release: true },
      );
    }
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      status: 'completed',
      completedAt: nowIso(),
      progress: { step: 'completed', percent: 100 },
      message: describeNetworking(wanted),
    });
    return {};
  }

  /** The Catch: the engine put back (begun), the addon running with what it had, the operation failed. */
  private async fail(task: Extract<NetworkingTask, { action: 'failNetworking' }>) {
    const caught = failureReason(task, 'ask for the change again');
    const operation = await this.deps.store.findOperation(task.projectId, task.operationId);
    const change: NetworkingChange | undefined = operation?.networking;
    const addon = await this.deps.store.findAddon(task.projectId, task.addonId);
    let undo = '';
    if (change && addon && !task.skipCleanup) {
      undo = await this.putBack(addon.engine, addon.resourceId, change.previous);
    }
    const what = change ? describeNetworking(settingsOf(change)) : 'the networking change';
    const reason = {
      code: caught.code,
      message: `The networking change (${what}) failed: ${caught.message}${undo}`,
    };
    if (addon?.currentOperationId === task.operationId) {
      const previous = change?.previous;
      await this.deps.store.updateAddonForOperation(
        addon,
        task.operationId,
        {
          status: 'running',
          ...(previous
            ? { tls: previous.tls, publicAccess: previous.public, allowedCidrs: previous.allow }
            : {}),
        },
        { release: true },
      );
    }
    await recordOperationFailure(this.deps.store, task.projectId, task.operationId, reason);
    return { failed: true, reason };
  }

  /**
   * Begin putting the engine back on `previous` (RDS completes it: one describe reboots the instance
   * when its old parameter group is pending). Returns words for the reason when that failed too.
   */
  private async putBack(
    engine: Parameters<EngineRegistry<EngineAdapters>['of']>[0],
    resourceId: string,
    previous: NetworkingSettings,
  ): Promise<string> {
    try {
      const provider = this.providerOf(engine);
      await provider.configureNetworking(resourceId, settingsOf(previous));
      await provider.describeNetworking?.(resourceId, settingsOf(previous));
      return '';
    } catch (error) {
      return `; putting the previous networking back also failed (${errorMessage(error)}): ask for it with the same PATCH`;
    }
  }
}
