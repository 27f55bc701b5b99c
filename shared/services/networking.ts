import { addonType, capabilitiesOf } from '../catalog/engines.ts';
import { engineFacts } from '../engines/index.ts';
import type { EngineRegistry } from '../engines/registry.ts';
import { ConflictError, errorMessage, type FieldIssue, UnsupportedError } from '../errors.ts';
import type { EngineAdapters } from '../ports/engine-provider.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { WorkflowStarter } from '../ports/workflow-starter.ts';
import type { Addon } from '../schemas/addon.ts';
import type { Target } from '../schemas/catalog.ts';
import type { NetworkingRequest, NetworkingSettings, UpdateAddonRequest } from '../schemas/networking.ts';
import type { Operation } from '../schemas/operation.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import { nowIso } from '../util/ids.ts';
import { describeNetworking, publishedNetworking } from './networking-details.ts';
import { beginOperationWorkflow, failOperationAndRelease, newOperation, toAddon } from './operation-lock.ts';

/**
 * How the composition root runs changes: in the API with the engines' providers and the secret
 * store (engines that apply a change in seconds: the local target), or handed to the
 * `update-networking` workflow (engines that take minutes: RDS on AWS; networking-tasks.ts).
 */
export type NetworkingDeps = { store: AddonStore; target: Target } & (
  | { engines: EngineRegistry<EngineAdapters>; secrets: SecretStore; workflows?: undefined }
  | { workflows: WorkflowStarter; engines?: undefined; secrets?: undefined }
);

/**
 * `PATCH .../addons/{addonId}` with `networking`: TLS on or off, public (from allowed CIDRs only)
 * or private. Where the composition root gives `workflows` (AWS), the change is an
 * `update-networking` operation the workflow carries (networking-tasks.ts): the API checks it,
 * locks the addon, records the settings and the previous ones on the operation and answers with
 * the operation pending. Otherwise (local) a short `update-networking` operation run by the API
 * under the addon's lock, like a
 * credential rotation: (1) the engine applies the settings (idempotent: a retry converges);
 * (2) the connection details are published with the TLS flag, the public endpoint and the CA;
 * (3) the addon records the settings and is released, in one write. A failure at (1) or (2) puts
 * the engine back as the addon record says, so what is published keeps working, and fails the
 * operation. A crash in between leaves the operation in flight: the reconciler fails it and
 * releases the addon (running); the engine may then already have the new settings, and the same
 * PATCH again makes the record and the details match.
 */
export class NetworkingService {
  constructor(private readonly deps: NetworkingDeps) {}

  async update(
    projectId: string,
    addonId: string,
    request: UpdateAddonRequest,
  ): Promise<{ addon: Addon; operation: Operation }> {
    const addon = await this.deps.store.getAddon(projectId, addonId);
    this.checkCapability(addon);
    const current: NetworkingSettings = {
      tls: addon.tls,
      public: addon.publicAccess,
      allow: addon.allowedCidrs,
    };
    const wanted = this.resolve(addon, current, request.networking ?? {});
    if (addon.currentOperationId) {
      throw new ConflictError(
        `Addon '${addon.name}' has operation ${addon.currentOperationId} in flight; retry when it has finished`,
        { operationId: addon.currentOperationId },
      );
    }
    if (this.deps.workflows) {
      if (addon.status !== 'running') {
        throw new ConflictError(
          `Addon '${addon.name}' is ${addon.status}; only a running addon can change its networking`,
          {},
        );
      }
      const operation: Operation = {
        ...newOperation('update-networking', projectId, addonId),
        networking: { ...wanted, previous: current },
      };
      const locked = await beginOperationWorkflow(
        { store: this.deps.store, workflows: this.deps.workflows },
        addon,
        operation,
        'update-networking',
        'The networking change',
      );
      return { addon: toAddon(locked), operation };
    }
    const { engines, secrets } = this.deps;
    const provider = engines.of(addon.engine).provider;
    if (!provider.configureNetworking) throw this.unsupported(addon);
    const secret = await secrets.get({ projectId, addonId });
    if (addon.status !== 'running' || !secret?.host) {
      throw new ConflictError(
        `Addon '${addon.name}' is ${addon.status}; only a running addon can change its networking`,
        {},
      );
    }
    const operation: Operation = {
      ...newOperation('update-networking', projectId, addonId),
      status: 'in-progress',
      startedAt: nowIso(),
      progress: { step: 'applying', percent: 0 },
    };
    const locked = await this.deps.store.beginOperation(addon, operation, 'updating');
    try {
      const applied = await provider.configureNetworking(addon.resourceId, wanted);
      await secrets.put({ projectId, addonId }, publishedNetworking(secret, wanted, applied));
    } catch (error) {
      await provider.configureNetworking(addon.resourceId, current).catch(() => undefined);
      await failOperationAndRelease(
        this.deps.store,
        locked,
        operation.id,
        { code: 'NetworkingFailed', message: `The networking change failed: ${errorMessage(error)}` },
        'running',
      );
      throw error;
    }
    await this.deps.store.updateAddonForOperation(
      locked,
      operation.id,
      { tls: wanted.tls, publicAccess: wanted.public, allowedCidrs: wanted.allow, status: 'running' },
      { release: true },
    );
    const completed = await this.deps.store.updateOperation(projectId, operation.id, {
      status: 'completed',
      progress: { step: 'done', percent: 100 },
      message: describeNetworking(wanted),
      completedAt: nowIso(),
    });
    const updated = await this.deps.store.getAddon(projectId, addonId);
    return { addon: toAddon(updated) as Addon, operation: completed };
  }

  /** The settings the request leads to, or a 422 naming every field that cannot be. */
  private resolve(
    addon: AddonRecord,
    current: NetworkingSettings,
    request: NetworkingRequest,
  ): NetworkingSettings {
    const type = addonType(addon.engine, this.deps.target);
    const name = type.displayName;
    const wanted: NetworkingSettings = {
      tls: request.tls ?? current.tls,
      public: request.public ?? current.public,
      allow: request.allow ?? current.allow,
    };
    const issues: FieldIssue[] = [];
    const at = (field: string) => `body.networking.${field}`;
    if (wanted.tls && !current.tls && !type.capabilities.tls) {
      issues.push({ path: at('tls'), message: `TLS is not available for ${name} on this deployment` });
    }
    if (!wanted.tls && engineFacts(addon.engine).tlsRequired?.includes(this.deps.target)) {
      issues.push({ path: at('tls'), message: `TLS cannot be turned off for ${name} addons here` });
    }
    if (wanted.public && !current.public && !type.capabilities.publicAccess) {
      issues.push({
        path: at('public'),
        message: `public access is not available for ${name} on this deployment`,
      });
    } else if (wanted.public && !wanted.tls) {
      issues.push(
        request.tls === false
          ? { path: at('tls'), message: 'TLS cannot be turned off while the addon is public' }
          : { path: at('public'), message: 'public access requires TLS: set tls: true' },
      );
    } else if (wanted.public && wanted.allow.length === 0) {
      issues.push({
        path: at('allow'),
        message: 'a public addon needs at least one allowed CIDR (e.g. 203.0.113.7/32)',
      });
    }
    if (issues.length) throw new UnsupportedError('The networking change cannot be made', issues);
    return wanted;
  }

  /** A 422 unless the engine's catalog entry on this target says `networkingUpdate`. */
  private checkCapability(addon: AddonRecord): void {
    if (!capabilitiesOf(addon.engine, this.deps.target).networkingUpdate) {
      throw this.unsupported(addon);
    }
  }

  private unsupported(addon: AddonRecord): UnsupportedError {
    const type = addonType(addon.engine, this.deps.target);
    const why = type.notes.find((note) => /networkingUpdate/.test(note));
    return new UnsupportedError(
      `${type.displayName} addons cannot change their networking on this deployment (capability networkingUpdate is off${why ? `: ${why}` : "; see the catalog's notes"})`,
      [
        {
          path: 'body.networking',
          message: `networking changes are not available for ${addon.engine} here`,
        },
      ],
    );
  }
}
