import { addonType, ENGINES, findPlan } from '../catalog/engines.ts';
import { ConflictError, type FieldIssue, UnsupportedError } from '../errors.ts';
import type { WorkflowStarter } from '../ports/workflow-starter.ts';
import type { Addon } from '../schemas/addon.ts';
import type { Target } from '../schemas/catalog.ts';
import type { UpdateAddonRequest } from '../schemas/networking.ts';
import type { Operation } from '../schemas/operation.ts';
import type { ScalingChange } from '../schemas/scaling.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import { beginOperationWorkflow, newOperation, toAddon } from './operation-lock.ts';

export interface ScalingDeps {
  store: AddonStore;
  workflows: WorkflowStarter;
  target: Target;
}

/** The request asks for a scaling change (not `networking`): what `ScalingService.update` takes. */
export const isScalingRequest = (request: UpdateAddonRequest): boolean =>
  request.plan !== undefined || request.storageGiB !== undefined || request.multiAz !== undefined;

/**
 * `PATCH .../addons/{addonId}` with `plan`, `storageGiB` or `multiAz`: one change per request,
 * checked against the engine's catalog here (a 422 naming the field), then one `scale` operation
 * run by the `scale-addon` workflow (scaling-tasks.ts) while the addon keeps serving. The
 * operation records the change and what the addon had before; the addon record takes the new
 * values only when the change is applied, so a failed change leaves the old ones recorded.
 */
export class ScalingService {
  constructor(private readonly deps: ScalingDeps) {}

  async update(
    projectId: string,
    addonId: string,
    request: UpdateAddonRequest,
  ): Promise<{ addon: Addon; operation: Operation }> {
    const addon = await this.deps.store.getAddon(projectId, addonId);
    const scaling = this.resolve(addon, request);
    if (addon.currentOperationId) {
      throw new ConflictError(
        `Addon '${addon.name}' has operation ${addon.currentOperationId} in flight; retry when it has finished`,
        { operationId: addon.currentOperationId },
      );
    }
    if (addon.status !== 'running') {
      throw new ConflictError(`Addon '${addon.name}' is ${addon.status}; only a running addon can be scaled`);
    }
    const operation: Operation = { ...newOperation('scale', projectId, addonId), scaling };
    const locked = await beginOperationWorkflow(
      this.deps,
      addon,
      operation,
      'scale-addon',
      'The scaling change',
    );
    return { addon: toAddon(locked), operation };
  }

  /** The change the request asks for, or a 422 naming the field that cannot be. */
  private resolve(addon: AddonRecord, request: UpdateAddonRequest): ScalingChange {
    const type = addonType(addon.engine, this.deps.target);
    const name = type.displayName;
    const previous = { plan: addon.plan, storageGiB: addon.storageGiB, multiAz: addon.multiAz };
    const refuse = (field: string, message: string): never => {
      const issues: FieldIssue[] = [{ path: `body.${field}`, message }];
      throw new UnsupportedError(`The ${field} change cannot be made: ${message}`, issues);
    };
    const notes = type.notes.length
      ? ` (see the catalog's notes: ${type.notes.join(' ').slice(0, 600)})`
      : '';
    if (request.multiAz !== undefined) {
      if (!type.capabilities.multiAz) {
        const why = type.notes.find((note) => /multi-?az/i.test(note));
        refuse(
          'multiAz',
          `Multi-AZ is not available for ${name} on this deployment${why ? `: ${why}` : notes}`,
        );
      }
      const needsReplicas = ENGINES[addon.engine].multiAzNeedsReplicas?.includes(this.deps.target);
      if (request.multiAz && needsReplicas && addon.replicas === 0) {
        refuse(
          'multiAz',
          `${name} fails over to a read replica here: Multi-AZ needs at least 1 (PATCH replicas first)`,
        );
      }
      if (request.multiAz === addon.multiAz) {
        refuse('multiAz', `Multi-AZ is already ${addon.multiAz ? 'on' : 'off'}`);
      }
      return { multiAz: request.multiAz, previous };
    }
    if (!type.capabilities.scaling) {
      const field = request.plan !== undefined ? 'plan' : 'storageGiB';
      refuse(field, `${name} addons cannot be scaled on this deployment (capability scaling is off)${notes}`);
    }
    if (request.plan !== undefined) {
      const plan = findPlan(addon.engine, request.plan);
      if (!plan) {
        refuse(
          'plan',
          `unknown plan '${request.plan}'; ${name} plans: ${type.plans.map((p) => p.id).join(', ')}`,
        );
      }
      if (request.plan === addon.plan) refuse('plan', `the addon is already on plan '${addon.plan}'`);
      return { plan: request.plan, previous };
    }
    const storageGiB = request.storageGiB as number;
    const bounds = type.storageGiB;
    if (ENGINES[addon.engine].storageGrowsByItself?.includes(this.deps.target)) {
      refuse(
        'storageGiB',
        `${name} storage grows by itself on this deployment; storageGiB allocates nothing`,
      );
    }
    if (storageGiB < addon.storageGiB) {
      refuse(
        'storageGiB',
        `storage can only grow: ${storageGiB} GiB is less than the ${addon.storageGiB} GiB allocated`,
      );
    }
    if (storageGiB === addon.storageGiB) refuse('storageGiB', `${storageGiB} GiB is already allocated`);
    if (storageGiB > bounds.max) {
      refuse('storageGiB', `${name} addons have at most ${bounds.max} GiB (asked ${storageGiB})`);
    }
    return { storageGiB, previous };
  }
}
