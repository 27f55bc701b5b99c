import { hasCapability } from '../catalog/engines.ts';
import { engineFacts } from '../engines/index.ts';
import type { EngineRegistry } from '../engines/registry.ts';
import { ConflictError, errorMessage, UnsupportedError } from '../errors.ts';
import type { EngineAdapters, EngineProvider } from '../ports/engine-provider.ts';
import type { ConnectionSecret, SecretStore } from '../ports/secret-store.ts';
import type { WorkflowStarter } from '../ports/workflow-starter.ts';
import {
  type Addon,
  type CredentialRotation,
  type Credentials,
  ROTATION_DEADLINE_SECONDS,
} from '../schemas/addon.ts';
import type { Engine, Target } from '../schemas/catalog.ts';
import type { Operation } from '../schemas/operation.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import { nowIso } from '../util/ids.ts';
import { userFacingMessage } from '../util/redact.ts';
import { generatePassword, withFreshUris } from './credentials.ts';
import { failOperationAndRelease, newOperation, toAddon } from './operation-lock.ts';

/**
 * Locally the engine applies a login change at once: `engines`, and the API runs each step. On AWS
 * (ElastiCache applies it over seconds to minutes, past an API request) `workflows`: each call
 * starts the rotate-credentials workflow (rotation-tasks.ts) and answers at once.
 */
export type CredentialRotationDeps = {
  store: AddonStore;
  secrets: SecretStore;
  target: Target;
  now?: () => Date;
} & (
  | { engines: EngineRegistry<EngineAdapters>; workflows?: undefined }
  | { workflows: WorkflowStarter; engines?: undefined }
);

type RotatingProvider = Required<Pick<EngineProvider, 'addLogin' | 'retainOnlyLogin'>>;

export interface RotationResult {
  addon: Addon;
  operation: Operation;
  credentials: Credentials;
}

/** A rotation handed to the rotate-credentials workflow: its operation to poll. */
export interface RotationStarted {
  addon: Addon;
  operation: Operation;
}

/**
 * Credential rotation without a moment where no published credentials work. Each step runs in
 * the API under the addon's operation lock (a `rotate-credentials` operation, so it is refused
 * with a 409 while anything else runs, and anything else while it runs), and the state that
 * survives a crash is on the addon record, never in memory:
 *
 * rotate: (1) record the open rotation on the addon (previous user, deadline); (2) let the new
 * login in on the engine, besides the published one (`addLogin`, idempotent); (3) publish it in
 * the secret store, so `GET .../credentials` answers it at once. finish (by the user, or by
 * `sweep` once the deadline passed): (1) leave the published login as the only one
 * (`retainOnlyLogin`: the previous login, and any login an interrupted rotation added but never
 * published, are retired); (2) clear the rotation from the addon.
 *
 * Why this order is crash-safe: the secret store is written only after the engine accepts the new
 * login, so what the API returns always works; the rotation is recorded before the engine changes,
 * so whatever an interrupted rotation left on the engine is retired at its deadline by the same
 * idempotent `retainOnlyLogin`; and an operation left in flight by a crash is failed and its lock
 * released by the reconciler (rotate-credentials has no workflow, so it counts as lost after the
 * start grace period).
 *
 * Where the composition root gives `workflows` (AWS), the same steps run in the rotate-credentials
 * workflow instead, and `rotate`/`finish` answer with its operation in progress: the new
 * credentials are published only once the engine lets them in (rotation-tasks.ts), and a failure
 * is compensated there. The open rotation is still recorded here first, before any engine change.
 */
export class CredentialRotationService {
  private readonly now: () => Date;

  constructor(private readonly deps: CredentialRotationDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async rotate(
    projectId: string,
    addonId: string,
    retireAfterSeconds?: number,
  ): Promise<RotationResult | RotationStarted> {
    const addon = await this.deps.store.getAddon(projectId, addonId);
    this.checkCapability(addon);
    if (addon.credentialRotation) {
      throw new ConflictError(
        `Addon '${addon.name}' has a credential rotation open until ${addon.credentialRotation.deadline}: finish it first (POST .../credentials/rotate/finish)`,
        {},
      );
    }
    const current = await this.runningSecret(addon);
    const seconds = retireAfterSeconds ?? ROTATION_DEADLINE_SECONDS.default;
    const rotatedAt = this.now();
    const rotation = {
      previousUsername: current.username,
      rotatedAt: rotatedAt.toISOString(),
      deadline: new Date(rotatedAt.getTime() + seconds * 1000).toISOString(),
    };
    if (this.deps.workflows) return this.startWorkflow(addon, 'rotate', rotation);
    const provider = this.providerFor(addon);
    return this.underLock(addon, 'rotating', async (locked, operation) => {
      await this.deps.store.updateAddonForOperation(locked, operation.id, { credentialRotation: rotation });
      const password = generatePassword();
      const username = await provider.addLogin(addon.resourceId, current, password);
      const { uri: _uri, ...rest } = { ...current, username, password };
      const next: ConnectionSecret = withFreshUris(rest);
      await this.deps.secrets.put({ projectId, addonId }, next);
      return {
        patch: { credentialRotation: rotation },
        message: `New credentials published; the previous ones (user '${current.username}') work until ${rotation.deadline} or until the rotation is finished`,
        credentials: next,
      };
    });
  }

  async finish(projectId: string, addonId: string): Promise<RotationResult | RotationStarted> {
    const addon = await this.deps.store.getAddon(projectId, addonId);
    this.checkCapability(addon);
    if (!addon.credentialRotation) {
      throw new ConflictError(`Addon '${addon.name}' has no credential rotation to finish`, {});
    }
    if (this.deps.workflows) {
      await this.runningSecret(addon);
      return this.startWorkflow(addon, 'retire');
    }
    return this.retire(addon, this.providerFor(addon), 'The previous credentials were retired');
  }

  /**
   * Retire the previous credentials of every rotation past its deadline (the local scheduler's
   * tick; on AWS the reconciler's). An addon busy with another operation is left for a later
   * sweep. Returns the addons it finished.
   */
  async sweep(): Promise<string[]> {
    const now = this.now().toISOString();
    const finished: string[] = [];
    for (const addon of await this.deps.store.scanAddons()) {
      const rotation = addon.credentialRotation;
      if (!rotation || rotation.deadline > now || addon.currentOperationId) continue;
      if (!this.rotates(addon.engine)) continue;
      try {
        if (this.deps.workflows) {
          if (addon.status !== 'running') continue;
          await this.startWorkflow(addon, 'retire');
        } else {
          await this.retire(
            addon,
            this.providerFor(addon),
            `The previous credentials were retired at their deadline (${rotation.deadline})`,
          );
        }
        finished.push(addon.id);
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    return finished;
  }

  private async retire(
    addon: AddonRecord,
    provider: RotatingProvider,
    message: string,
  ): Promise<RotationResult> {
    const current = await this.runningSecret(addon);
    return this.underLock(addon, 'retiring', async () => {
      await provider.retainOnlyLogin(addon.resourceId, {
        username: current.username,
        password: current.password,
      });
      return { patch: { credentialRotation: null }, message, credentials: current };
    });
  }

  /**
   * Run `fn` as a rotate-credentials operation holding the addon's lock; the addon's patch and the
   * release are one write. A failure fails the operation and releases the addon, which stays running.
   */
  private async underLock(
    addon: AddonRecord,
    step: string,
    fn: (
      locked: AddonRecord,
      operation: Operation,
    ) => Promise<{ patch: Partial<AddonRecord>; message: string; credentials: ConnectionSecret }>,
  ): Promise<RotationResult> {
    const operation: Operation = {
      ...newOperation('rotate-credentials', addon.projectId, addon.id),
      status: 'in-progress',
      startedAt: nowIso(),
      progress: { step, percent: 0 },
    };
    const locked = await this.deps.store.beginOperation(addon, operation, 'updating');
    let outcome: Awaited<ReturnType<typeof fn>>;
    try {
      outcome = await fn(locked, operation);
    } catch (error) {
      await failOperationAndRelease(
        this.deps.store,
        locked,
        operation.id,
        { code: 'RotationFailed', message: `The credential rotation failed: ${errorMessage(error)}` },
        'running',
      );
      throw error;
    }
    await this.deps.store.updateAddonForOperation(
      locked,
      operation.id,
      { ...outcome.patch, status: 'running' },
      { release: true },
    );
    const completed = await this.deps.store.updateOperation(addon.projectId, operation.id, {
      status: 'completed',
      progress: { step: 'done', percent: 100 },
      message: outcome.message,
      completedAt: nowIso(),
    });
    const updated = await this.deps.store.getAddon(addon.projectId, addon.id);
    return { addon: toAddon(updated), operation: completed, credentials: outcome.credentials };
  }

  /**
   * Lock the addon for a rotate-credentials operation carried by the workflow (`phase`), recording
   * the open rotation first when there is one to record. A workflow that does not start fails the
   * operation and releases the addon as it was, without the rotation.
   */
  private async startWorkflow(
    addon: AddonRecord,
    phase: 'rotate' | 'retire',
    rotation?: CredentialRotation,
  ): Promise<RotationStarted> {
    const workflows = this.deps.workflows;
    if (!workflows) throw new Error('No workflow starter');
    const operation: Operation = {
      ...newOperation('rotate-credentials', addon.projectId, addon.id),
      rotation: phase,
    };
    const locked = await this.deps.store.beginOperation(addon, operation, 'updating');
    try {
      if (rotation) {
        await this.deps.store.updateAddonForOperation(locked, operation.id, { credentialRotation: rotation });
      }
      await workflows.start({
        workflow: 'rotate-credentials',
        input: { projectId: addon.projectId, addonId: addon.id, operationId: operation.id, phase },
      });
    } catch (error) {
      await this.deps.store.updateOperation(addon.projectId, operation.id, {
        status: 'failed',
        error: {
          code: 'WorkflowStartFailed',
          message: `The credential rotation could not start: ${userFacingMessage(error)}`,
        },
        completedAt: nowIso(),
      });
      await this.deps.store.updateAddonForOperation(
        locked,
        operation.id,
        { status: 'running', ...(rotation ? { credentialRotation: null } : {}) },
        { release: true },
      );
      throw error;
    }
    const updated = await this.deps.store.getAddon(addon.projectId, addon.id);
    return { addon: toAddon(updated), operation };
  }

  private rotates(engine: Engine): boolean {
    return hasCapability(engine, this.deps.target, 'credentialRotation');
  }

  private checkCapability(addon: AddonRecord): void {
    if (this.rotates(addon.engine)) return;
    const name = engineFacts(addon.engine).catalog.displayName;
    throw new UnsupportedError(
      `${name} addons cannot rotate their credentials on this deployment (capability credentialRotation is off; see the catalog's notes)`,
      [{ path: 'engine', message: `credential rotation is not available for ${addon.engine} here` }],
    );
  }

  private providerFor(addon: AddonRecord): RotatingProvider {
    this.checkCapability(addon);
    const provider = this.deps.engines?.of(addon.engine).provider;
    if (!provider?.addLogin || !provider.retainOnlyLogin) {
      const name = engineFacts(addon.engine).catalog.displayName;
      throw new UnsupportedError(
        `${name} addons cannot rotate their credentials on this deployment (capability credentialRotation is off; see the catalog's notes)`,
        [{ path: 'engine', message: `credential rotation is not available for ${addon.engine} here` }],
      );
    }
    return provider as RotatingProvider;
  }

  private async runningSecret(addon: AddonRecord): Promise<ConnectionSecret> {
    const secret = await this.deps.secrets.get({ projectId: addon.projectId, addonId: addon.id });
    if (addon.currentOperationId) {
      throw new ConflictError(
        `Addon '${addon.name}' has operation ${addon.currentOperationId} in flight; retry when it has finished`,
        { operationId: addon.currentOperationId },
      );
    }
    if (addon.status !== 'running' || !secret?.host) {
      throw new ConflictError(
        `Addon '${addon.name}' is ${addon.status}; only a running addon can rotate its credentials`,
        {},
      );
    }
    return secret;
  }
}
