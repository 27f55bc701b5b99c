import { addonType, capabilitiesOf, ENGINES, findPlan, upgradeTargets } from '../catalog/engines.ts';
import { engineFacts } from '../engines/index.ts';
import { ConflictError, type FieldIssue, ServiceUnavailableError, UnsupportedError } from '../errors.ts';
import { resourceIdFor } from '../ports/engine-provider.ts';
import type { WorkflowStarter } from '../ports/workflow-starter.ts';
import type { BackupArtifacts } from '../providers/backup-artifacts.ts';
import {
  type Addon,
  type CreateAddonRequest,
  type ForkSourceRequest,
  isImportSourceRequest,
} from '../schemas/addon.ts';
import type { BackupType, CreateBackupRequest } from '../schemas/backup.ts';
import type { Target } from '../schemas/catalog.ts';
import type { Page, PaginationQuery } from '../schemas/common.ts';
import type { Operation } from '../schemas/operation.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import type { BackupStore } from '../store/backup-store.ts';
import { newId, nowIso } from '../util/ids.ts';
import { userFacingMessage } from '../util/redact.ts';
import { type AddonImportDeps, type PreparedImport, prepareImportSource } from './addon-imports.ts';
import { newBackupRecord } from './backup-records.ts';
import { databaseOf } from './credentials.ts';
import { type ForkSourceDeps, resolveForkSource } from './fork-source.ts';
import { failOperationAndRelease, newOperation, toAddon } from './operation-lock.ts';
import { DEFAULT_QUOTAS, type Quotas } from './quotas.ts';
import type { SecretGroupService } from './secret-groups.ts';

export interface AddonServiceDeps {
  store: AddonStore;
  workflows: WorkflowStarter;
  target: Target;
  /** Where a final backup is recorded and its dump would go; without them, none can be asked for. */
  finalBackups?: { backups: BackupStore; artifacts: Pick<BackupArtifacts, 'artifactFor'> };
  /** @default DEFAULT_QUOTAS */
  quotas?: Pick<Quotas, 'addonsPerProject'>;
  /** What a create with `source` (a fork) looks its source up in; without it, forks are refused. */
  forks?: Omit<ForkSourceDeps, 'store' | 'target'>;
  /** What a create with `source.import` creates its import with; without it, such creates are refused. */
  imports?: AddonImportDeps;
  /** Refuses (or, when asked, unlinks) the delete of an addon linked into secret groups. */
  secretGroups?: Pick<SecretGroupService, 'releaseSource'>;
}

type CreateResult = { addon: Addon; operation: Operation; import?: PreparedImport['created'] };

/** The fields a request sets (so a fork's defaults fill only what it leaves out). */
const definedOf = <T extends object>(request: T): T =>
  Object.fromEntries(Object.entries(request).filter(([, value]) => value !== undefined)) as T;

export class AddonService {
  constructor(private readonly deps: AddonServiceDeps) {}

  /** Check a create request against the catalog for this target; every problem is named. */
  resolveCreate(request: CreateAddonRequest) {
    const { target } = this.deps;
    const type = addonType(request.engine, target);
    const engine = ENGINES[request.engine];
    if (!type.capabilities.provision) {
      // The first note says why (for an engine the machine lacks: what to install).
      const why = type.notes[0];
      throw new UnsupportedError(
        `${engine.displayName} addons cannot be created on the ${target} target${why ? `: ${why}` : ' yet'}`,
        [{ path: 'body.engine', message: `${request.engine} is not provisioned on this deployment` }],
      );
    }
    const issues: FieldIssue[] = [];
    const version = request.version ?? type.defaultVersion;
    if (!type.versions.some((entry) => entry.version === version)) {
      issues.push({
        path: 'body.version',
        message: `${engine.displayName} ${version} is not available here; choose one of ${type.versions.map((v) => v.version).join(', ')}`,
      });
    }
    const plan = request.plan ?? type.defaultPlan;
    if (!findPlan(request.engine, plan)) {
      issues.push({
        path: 'body.plan',
        message: `unknown plan; choose one of ${type.plans.map((p) => p.id).join(', ')}`,
      });
    }
    const storageGiB = request.storageGiB ?? type.storageGiB.default;
    if (storageGiB < type.storageGiB.min || storageGiB > type.storageGiB.max) {
      issues.push({
        path: 'body.storageGiB',
        message: `must be between ${type.storageGiB.min} and ${type.storageGiB.max} GiB for ${engine.displayName}`,
      });
    }
    if (request.replicas > type.maxReplicas) {
      issues.push({
        path: 'body.replicas',
        message: type.capabilities.replicas
          ? `at most ${type.maxReplicas} replicas`
          : `replicas are not available for ${engine.displayName} on this deployment`,
      });
    } else if (request.replicas > 0 && engine.replicasAfterCreate?.includes(target)) {
      issues.push({
        path: 'body.replicas',
        message: `${engine.displayName} read replicas are added once the addon runs here: create it, then PATCH replicas`,
      });
    }
    const tls = request.tls ?? type.defaultTls;
    if (!tls && engine.tlsRequired?.[target]) {
      issues.push({
        path: 'body.tls',
        message: `${engine.displayName} addons on this deployment always use TLS; omit tls or set it to true`,
      });
    }
    if (tls && !type.capabilities.tls) {
      issues.push({
        path: 'body.tls',
        message: `TLS is not available for ${engine.displayName} on this deployment`,
      });
    }
    if (!tls && engineFacts(request.engine).tlsRequired?.includes(this.deps.target)) {
      issues.push({
        path: 'body.tls',
        message: `TLS cannot be turned off for ${engine.displayName} addons on this deployment`,
      });
    }
    if (request.publicAccess && !type.capabilities.publicAccess) {
      issues.push({
        path: 'body.publicAccess',
        message: `public access is not available for ${engine.displayName} on this deployment`,
      });
    } else if (request.publicAccess && !tls) {
      issues.push({ path: 'body.publicAccess', message: 'public access requires tls: true' });
    } else if (request.publicAccess) {
      issues.push({
        path: 'body.publicAccess',
        message:
          'public access needs an allow list: create the addon private, then PATCH it with {"networking":{"public":true,"allow":["<CIDR>"]}}',
      });
    }
    const database = databaseOf(request.engine, request.name);
    if (engineFacts(request.engine).reservedDatabaseNames?.includes(database)) {
      issues.push({
        path: 'body.name',
        message: `'${request.name}' would name the database '${database}', which ${engine.displayName} addons reserve; choose another name`,
      });
    }
    if (issues.length) throw new UnsupportedError('The addon cannot be created as requested', issues);
    return { version, plan, storageGiB, tls };
  }

  async create(projectId: string, request: CreateAddonRequest): Promise<CreateResult> {
    const wanted = request.source;
    const fork =
      wanted && !isImportSourceRequest(wanted)
        ? await this.resolveFork(projectId, { ...request, source: wanted })
        : undefined;
    const resolved = this.resolveCreate(fork ? { ...fork.defaults, ...definedOf(request) } : request);
    if (
      fork?.sourceStorageGiB &&
      fork.source.backupType !== 'dump' &&
      resolved.storageGiB < fork.sourceStorageGiB
    ) {
      throw new UnsupportedError('A fork from a physical copy needs at least its source storage', [
        { path: 'body.storageGiB', message: `at least ${fork.sourceStorageGiB} GiB, the source's storage` },
      ]);
    }
    const id = newId('adn');
    const now = nowIso();
    const operation = newOperation('create', projectId, id);
    const imported =
      wanted && isImportSourceRequest(wanted)
        ? await prepareImportSource(
            this.importDeps(),
            { projectId, id, engine: request.engine, database: databaseOf(request.engine, request.name) },
            wanted,
            operation.id,
          )
        : undefined;
    if (imported?.origin.kind === 'live') operation.importId = imported.origin.importId;
    const record: AddonRecord = {
      id,
      projectId,
      name: request.name,
      description: request.description ?? null,
      engine: request.engine,
      ...resolved,
      replicas: request.replicas,
      // Where Multi-AZ is failover to a replica (ElastiCache), a group made with replicas has it.
      multiAz:
        request.replicas > 0 &&
        Boolean(ENGINES[request.engine].multiAzNeedsReplicas?.includes(this.deps.target)),
      publicAccess: request.publicAccess,
      allowedCidrs: [],
      status: 'creating',
      currentOperationId: operation.id,
      endpoint: null,
      network: null,
      source: fork?.source ?? imported?.origin ?? null,
      createdAt: now,
      updatedAt: now,
      revision: 1,
      resourceId: resourceIdFor(id),
    };
    const { addonsPerProject } = this.deps.quotas ?? DEFAULT_QUOTAS;
    try {
      await this.deps.store.createAddon(record, operation, addonsPerProject);
    } catch (error) {
      // Refused (name taken, quota): the import made for it goes too.
      await imported?.undo().catch(() => undefined);
      throw error;
    }
    await this.startWorkflow('provision-addon', record, operation);
    return { addon: toAddon(record), operation, ...(imported ? { import: imported.created } : {}) };
  }

  private resolveFork(projectId: string, request: CreateAddonRequest & { source: ForkSourceRequest }) {
    const { forks, store, target } = this.deps;
    if (!forks) {
      throw new UnsupportedError('Forks are not available on this deployment', [
        { path: 'body.source', message: 'this deployment cannot create forks' },
      ]);
    }
    return resolveForkSource({ ...forks, store, target }, projectId, request);
  }

  private importDeps(): AddonImportDeps {
    if (!this.deps.imports) {
      throw new UnsupportedError('Addons cannot be created from an import on this deployment', [
        { path: 'body.source.import', message: 'this deployment cannot create addons from imports' },
      ]);
    }
    return this.deps.imports;
  }

  /** A workflow that never started must not leave the addon locked: fail the operation, then report. */
  private async startWorkflow(
    workflow: 'provision-addon' | 'delete-addon',
    addon: AddonRecord,
    operation: Operation,
    prepare?: () => Promise<void>,
  ): Promise<void> {
    try {
      await prepare?.();
      await this.deps.workflows.start({
        workflow,
        input: {
          projectId: addon.projectId,
          addonId: addon.id,
          operationId: operation.id,
          ...(operation.backupId ? { backupId: operation.backupId } : {}),
        },
      });
    } catch (error) {
      const message = `The ${workflow} workflow could not be started: ${userFacingMessage(error)}`;
      await failOperationAndRelease(
        this.deps.store,
        addon,
        operation.id,
        { code: 'WorkflowStartFailed', message },
        'failed',
      );
      throw new ServiceUnavailableError(message, { cause: error });
    }
  }

  /** Whether the addon's version has upgrade targets here, and which (the catalog's, data only). */
  upgradeInfo(addon: Pick<Addon, 'engine' | 'version'>): Pick<Addon, 'upgradeAvailable' | 'upgradeTargets'> {
    const targets = upgradeTargets(addon.engine, this.deps.target, addon.version);
    return { upgradeAvailable: targets.length > 0, upgradeTargets: targets };
  }

  async list(projectId: string, page: PaginationQuery): Promise<Page<Addon>> {
    const result = await this.deps.store.listAddons(projectId, page);
    return {
      items: result.items.map((record) => ({ ...toAddon(record), ...this.upgradeInfo(record) })),
      nextCursor: result.nextCursor,
    };
  }

  async get(projectId: string, addonId: string): Promise<Addon> {
    const record = await this.deps.store.getAddon(projectId, addonId);
    return { ...toAddon(record), ...this.upgradeInfo(record) };
  }

  /**
   * Delete an addon, optionally after a final backup: the delete workflow takes it first and
   * deletes only once it has completed (if it fails, the delete fails and the addon keeps
   * running). Its schedules go with it; its backups stay for the grace period. An addon linked into
   * secret groups is refused (409 naming them) unless `unlinkGroups=true`.
   */
  async delete(
    projectId: string,
    addonId: string,
    options: { finalBackup?: BackupType; unlinkGroups?: 'true' | 'false' } = {},
  ): Promise<{ addon: Addon; operation: Operation }> {
    const addon = await this.deps.store.getAddon(projectId, addonId);
    const final = options.finalBackup ? this.finalBackupOf(addon, options.finalBackup) : undefined;
    // Before the lock: a refused delete changes nothing. An asked-for unlink is done even if the
    // delete is then refused (another operation in flight): a retry finds nothing left to unlink.
    await this.deps.secretGroups?.releaseSource(
      projectId,
      addonId,
      options.unlinkGroups === 'true',
      'unlinkGroups',
    );
    const operation: Operation = {
      ...newOperation('delete', projectId, addonId),
      backupId: final?.backup.id ?? null,
    };
    const updated = await this.deps.store.beginOperation(addon, operation, 'deleting');
    await this.startWorkflow('delete-addon', updated, operation, final && (() => final.record(operation.id)));
    return { addon: toAddon(updated), operation };
  }

  private finalBackupOf(addon: AddonRecord, type: BackupType) {
    const finalBackups = this.deps.finalBackups;
    const capabilities = capabilitiesOf(addon.engine, this.deps.target);
    if (!finalBackups || !(type === 'dump' ? capabilities.dumpBackup : capabilities.snapshotBackup)) {
      throw new UnsupportedError(`${addon.engine} addons cannot take ${type} backups on this deployment`, [
        { path: 'finalBackup', message: `${type} backups are not supported for ${addon.engine} here` },
      ]);
    }
    if (addon.status !== 'running') {
      throw new ConflictError(
        `Addon '${addon.name}' is ${addon.status}; only a running addon can take a final backup (delete it without one)`,
        {
          field: 'finalBackup',
          ...(addon.currentOperationId ? { operationId: addon.currentOperationId } : {}),
        },
      );
    }
    const request: CreateBackupRequest =
      type === 'dump' ? { type, compression: 'zstd', pinned: false } : { type, pinned: false };
    const backupId = newId('bkp');
    return {
      backup: { id: backupId },
      // Written once the delete holds the addon's lock, so a refused delete leaves no record.
      record: async (operationId: string) => {
        await finalBackups.backups.putBackup(
          newBackupRecord({
            addon,
            backupId,
            operationId,
            request,
            final: true,
            artifacts: finalBackups.artifacts,
            now: new Date(),
          }),
        );
      },
    };
  }
}
