import * as z from 'zod/mini';
import { findPlan } from '../catalog/engines.ts';
import type { EngineRegistry } from '../engines/registry.ts';
import { NotFoundError, ProviderError, TransientError } from '../errors.ts';
import type { EngineAdapters } from '../ports/engine-provider.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { AddonStatus } from '../schemas/addon.ts';
import type { Engine } from '../schemas/catalog.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import { nowIso } from '../util/ids.ts';
import { redactProviderText } from '../util/redact.ts';
import { connectionUri, databaseOf, generatePassword, usernameOf } from './credentials.ts';
import { platformLoginRef } from './platform-login.ts';
import { publishedReplicas } from './replica-details.ts';

const Ref = { projectId: z.string(), addonId: z.string(), operationId: z.string() };

/** What a Catch hands to the compensation task: Lambda puts a JSON document in Cause, the local runner the message. */
export const CaughtErrorSchema = z.optional(z.object({ Error: z.string(), Cause: z.optional(z.unknown()) }));

/** Set by a state machine's RecordFailure state when the cleanup itself kept failing. */
export const CleanupFailureFields = {
  skipCleanup: z._default(z.boolean(), false),
  cleanupError: CaughtErrorSchema,
};

/** A bounded wait's loop (Wait, then describe again): the attempts so far and how many are allowed. */
export const WaitFields = {
  attempts: z._default(z.number().check(z.int(), z.minimum(0)), 0),
  maxAttempts: z.number().check(z.int(), z.minimum(1)),
};

export const WorkflowTaskSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('startOperation'), ...Ref, step: z.string() }),
  z.object({ action: z.literal('prepareCredentials'), ...Ref }),
  z.object({ action: z.literal('createInstance'), ...Ref }),
  z.object({
    action: z.literal('describeInstance'),
    ...Ref,
    ...WaitFields,
    /** The delete workflow's wait: an instance still serving has its deletion moved on (`continueDeletion`). */
    teardown: z.optional(z.boolean()),
  }),
  z.object({ action: z.literal('publishCredentials'), ...Ref }),
  z.object({ action: z.literal('completeOperation'), ...Ref, addonStatus: z.literal('running') }),
  z.object({ action: z.literal('deleteInstance'), ...Ref }),
  z.object({ action: z.literal('removeAddon'), ...Ref }),
  z.object({
    action: z.literal('failOperation'),
    ...Ref,
    compensate: z.boolean(),
    error: CaughtErrorSchema,
    ...CleanupFailureFields,
  }),
]);
export type WorkflowTask = z.infer<typeof WorkflowTaskSchema>;

export interface WorkflowTaskDeps {
  store: AddonStore;
  /** The adapters of each engine; an addon is provisioned by its engine's. */
  engines: EngineRegistry<EngineAdapters>;
  secrets: SecretStore;
}

export type DescribeResult =
  | { status: 'creating' | 'deleting'; attempts: number }
  | { status: 'available'; attempts: number; host: string; port: number }
  | { status: 'absent'; attempts: number };

/** Turn what a Catch caught into a sentence a user can act on, without the provider's internals. */
export const readableReason = (
  error: { Error: string; Cause?: unknown } | undefined,
): { code: string; message: string } => {
  if (!error) return { code: 'Unknown', message: 'The workflow failed for an unknown reason' };
  let message = typeof error.Cause === 'string' ? error.Cause : JSON.stringify(error.Cause ?? '');
  try {
    const parsed = JSON.parse(message) as { errorMessage?: unknown };
    if (typeof parsed?.errorMessage === 'string') message = parsed.errorMessage;
  } catch {
    // not JSON: the local runner passes the message itself
  }
  if (error.Error === 'States.Timeout') message = 'A workflow step timed out';
  return { code: error.Error, message: redactProviderText(message || error.Error) };
};

/** Mark an operation failed with `reason`; one already gone (its addon deleted) is left alone. */
export const recordOperationFailure = async (
  store: Pick<AddonStore, 'updateOperation'>,
  projectId: string,
  operationId: string,
  reason: { code: string; message: string },
): Promise<void> => {
  try {
    await store.updateOperation(projectId, operationId, {
      status: 'failed',
      error: reason,
      completedAt: nowIso(),
    });
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
};

/** The reason a failed operation shows, with a word on what cleanup could not remove. */
export const failureReason = (
  task: {
    error?: { Error: string; Cause?: unknown };
    skipCleanup?: boolean;
    cleanupError?: { Error: string; Cause?: unknown };
  },
  remedy = 'delete the addon to remove what is left',
): { code: string; message: string } => {
  const reason = readableReason(task.error);
  if (!task.skipCleanup) return reason;
  const cleanup = readableReason(task.cleanupError);
  return {
    code: reason.code,
    message: `${reason.message} (cleaning up also failed: ${cleanup.message}; ${remedy})`,
  };
};

const PROGRESS: Record<string, number> = {
  prepareCredentials: 10,
  createInstance: 25,
  describeInstance: 50,
  publishCredentials: 90,
  deleteInstance: 30,
  removeAddon: 90,
};

/**
 * The engine-agnostic steps of the addon workflows. Every step is idempotent: Step Functions
 * retries tasks, and a restarted local platform re-runs the workflow that was in flight.
 */
export class WorkflowTasks {
  constructor(private readonly deps: WorkflowTaskDeps) {}

  async run(task: WorkflowTask): Promise<unknown> {
    if (task.action !== 'failOperation' && task.action !== 'startOperation')
      await this.progress(task, task.action);
    switch (task.action) {
      case 'startOperation':
        return this.startOperation(task);
      case 'prepareCredentials':
        return this.prepareCredentials(task);
      case 'createInstance':
        return this.createInstance(task);
      case 'describeInstance':
        return this.describeInstance(task);
      case 'publishCredentials':
        return this.publishCredentials(task);
      case 'completeOperation':
        return this.completeOperation(task, task.addonStatus);
      case 'deleteInstance':
        return this.deleteInstance(task);
      case 'removeAddon':
        return this.removeAddon(task);
      case 'failOperation':
        return this.failOperation(task);
      default: {
        const exhaustive: never = task;
        throw new Error(`Unknown workflow task ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  private async progress(task: { projectId: string; operationId: string }, step: string): Promise<void> {
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      progress: { step, percent: PROGRESS[step] ?? 0 },
    });
  }

  private async startOperation(task: Extract<WorkflowTask, { action: 'startOperation' }>) {
    const operation = await this.deps.store.getOperation(task.projectId, task.operationId);
    if (operation.status === 'pending') {
      await this.deps.store.updateOperation(task.projectId, task.operationId, {
        status: 'in-progress',
        startedAt: nowIso(),
        progress: { step: task.step, percent: 5 },
      });
    }
    return {};
  }

  private async prepareCredentials(task: Extract<WorkflowTask, { action: 'prepareCredentials' }>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const existing = await this.deps.secrets.get(task);
    if (existing) return {};
    const secret = {
      engine: addon.engine,
      host: '',
      port: 0,
      // A fork keeps its source's database: the one its data is in.
      database: addon.source?.database ?? databaseOf(addon.engine, addon.name),
      username: usernameOf(addon.engine, addon.id),
      password: generatePassword(),
      tls: addon.tls,
    };
    await this.deps.secrets.put(task, { ...secret, uri: '' });
    return {};
  }

  private async createInstance(task: Extract<WorkflowTask, { action: 'createInstance' }>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const secret = await this.deps.secrets.get(task);
    if (!secret) throw new ProviderError('The connection details were lost before the instance was created');
    const plan = findPlan(addon.engine, addon.plan);
    if (!plan) throw new ProviderError(`Plan '${addon.plan}' does not exist for ${addon.engine}`);
    await this.deps.engines.of(addon.engine).provider.createInstance({
      resourceId: addon.resourceId,
      projectId: addon.projectId,
      addonId: addon.id,
      engine: addon.engine,
      version: addon.version,
      plan,
      storageGiB: addon.storageGiB,
      replicas: addon.replicas,
      tls: addon.tls,
      publicAccess: addon.publicAccess,
      database: secret.database,
      username: secret.username,
      password: secret.password,
    });
    return {};
  }

  private async describeInstance(
    task: Extract<WorkflowTask, { action: 'describeInstance' }>,
  ): Promise<DescribeResult> {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const { provider } = this.deps.engines.of(addon.engine);
    let state = await provider.describeInstance(addon.resourceId);
    // The delete workflow's wait: an instance still serving is one whose deletion takes steps
    // (RDS: its read replicas first), moved on here; otherwise no extra call.
    if (task.teardown && state.status === 'available' && provider.continueDeletion) {
      await provider.continueDeletion(addon.resourceId);
      state = { status: 'deleting' };
    }
    const attempts = task.attempts + 1;
    switch (state.status) {
      case 'failed':
        throw new ProviderError(state.reason, 'InstanceFailed');
      case 'available':
        return { status: 'available', attempts, host: state.endpoint.host, port: state.endpoint.port };
      case 'absent':
        return { status: 'absent', attempts };
      case 'creating':
      case 'deleting':
        if (attempts >= task.maxAttempts) {
          throw new ProviderError(
            `The instance was still ${state.status} after ${attempts} checks; giving up`,
            'InstanceWaitTimeout',
          );
        }
        return { status: state.status, attempts };
      default: {
        const exhaustive: never = state;
        throw new Error(`Unknown instance state ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  private async publishCredentials(task: Extract<WorkflowTask, { action: 'publishCredentials' }>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const state = await this.deps.engines.of(addon.engine).provider.describeInstance(addon.resourceId);
    if (state.status !== 'available')
      throw new ProviderError(`The instance is ${state.status}, not available`);
    const secret = await this.deps.secrets.get(task);
    if (!secret) throw new ProviderError('The connection details were lost before they could be published');
    const published = {
      ...secret,
      host: state.endpoint.host,
      port: state.endpoint.port,
      // The platform's own CA (local): clients of a TLS addon verify the server with it.
      ...(addon.tls && state.caCertificate ? { caCertificate: state.caCertificate } : {}),
    };
    const replicas = await this.replicasAtCreate(addon);
    await this.deps.secrets.put(
      task,
      publishedReplicas({ ...published, uri: connectionUri(published) }, replicas),
    );
    await this.deps.store.updateAddonForOperation(addon, task.operationId, {
      endpoint: state.endpoint,
      network: state.network ?? null,
    });
    return {};
  }

  /**
   * The read replicas a create asks for, where the engine makes them after the instance (its
   * replica provider; ElastiCache and DocumentDB make them with it): their endpoints once running.
   */
  private async replicasAtCreate(addon: {
    engine: Engine;
    resourceId: string;
    replicas: number;
    multiAz: boolean;
  }) {
    const provider = this.deps.engines.of(addon.engine).replicas;
    if (!provider || addon.replicas === 0) return [];
    const change = { multiAz: addon.multiAz };
    await provider.setReplicaCount(addon.resourceId, addon.replicas, change);
    const state = await provider.describeReplicas(addon.resourceId, addon.replicas, change);
    if (state.status === 'failed') throw new ProviderError(state.reason, 'ReplicasFailed');
    if (state.status !== 'available') throw new TransientError('The read replicas are not running yet');
    return state.endpoints;
  }

  private async completeOperation(
    task: Extract<WorkflowTask, { action: 'completeOperation' }>,
    status: AddonStatus,
  ) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    if (addon.currentOperationId === task.operationId) {
      await this.deps.store.updateAddonForOperation(addon, task.operationId, { status }, { release: true });
    }
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      status: 'completed',
      completedAt: nowIso(),
      progress: { step: 'completed', percent: 100 },
    });
    return {};
  }

  private async deleteInstance(task: Extract<WorkflowTask, { action: 'deleteInstance' }>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    await this.deps.engines.of(addon.engine).provider.deleteInstance(addon.resourceId);
    return {};
  }

  private async removeAddon(task: Extract<WorkflowTask, { action: 'removeAddon' }>) {
    const addon = await this.deps.store.findAddon(task.projectId, task.addonId);
    await this.deleteSecrets(task, addon);
    if (addon) await this.deps.store.deleteAddon(addon, task.operationId);
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      status: 'completed',
      completedAt: nowIso(),
      progress: { step: 'completed', percent: 100 },
    });
    return {};
  }

  /**
   * The addon's connection details, and the platform's admin login of an instance whose logins the
   * login job changed (a rotation's, or a fork's seed: restored-logins.ts). Idempotent.
   */
  private async deleteSecrets(task: { projectId: string; addonId: string }, addon: AddonRecord | undefined) {
    await this.deps.secrets.delete(task);
    if (addon && this.deps.engines.of(addon.engine).provider.loginJob) {
      await this.deps.secrets.delete(platformLoginRef(task));
    }
  }

  /**
   * The Catch target of every workflow: undo what was half-created (when `compensate`), leave
   * the addon `failed` with its lock released, and record a readable reason on the operation.
   */
  private async failOperation(task: Extract<WorkflowTask, { action: 'failOperation' }>) {
    const reason = failureReason(task);
    const addon = await this.deps.store.findAddon(task.projectId, task.addonId);
    if (task.compensate && !task.skipCleanup && addon) {
      await this.deps.engines.of(addon.engine).provider.deleteInstance(addon.resourceId);
      await this.deleteSecrets(task, addon);
    }
    if (addon?.currentOperationId === task.operationId) {
      await this.deps.store.updateAddonForOperation(
        addon,
        task.operationId,
        { status: 'failed', ...(task.compensate ? { endpoint: null } : {}) },
        { release: true },
      );
    }
    await recordOperationFailure(this.deps.store, task.projectId, task.operationId, reason);
    return { failed: true, reason };
  }
}
