import { addonType, importPathOf } from '../catalog/engines.ts';
import { engineFacts } from '../engines/index.ts';
import type { EngineRegistry } from '../engines/registry.ts';
import {
  ConflictError,
  errorMessage,
  NotFoundError,
  QuotaExceededError,
  UnsupportedError,
} from '../errors.ts';
import type { SnapshotDeleter, SnapshotProvider } from '../ports/engine-provider.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { WorkflowStarter } from '../ports/workflow-starter.ts';
import { type MultipartUploads, partSizeFor } from '../providers/import-multipart.ts';
import type { ImportObjects } from '../providers/import-uploads.ts';
import type { Engine, Target } from '../schemas/catalog.ts';
import type { Page, PaginationQuery } from '../schemas/common.ts';
import {
  type CreateImportRequest,
  DEFAULT_MAX_UPLOAD_BYTES,
  type Import,
  type ImportFormat,
  type ImportUpload,
  MAX_UPLOAD_BYTES,
  SINGLE_PUT_MAX_BYTES,
  type StartImportRequest,
} from '../schemas/import.ts';
import { type Operation, TERMINAL_STATUSES } from '../schemas/operation.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import type { ImportRecord, ImportStore } from '../store/import-store.ts';
import { newId, nowIso } from '../util/ids.ts';
import { userFacingMessage } from '../util/redact.ts';
import { checkLiveStartable, createLiveImport, forgetLiveSource } from './live-imports.ts';
import { failOperationAndRelease, newOperation } from './operation-lock.ts';
import { completeUpload, inspectUpload } from './upload-checks.ts';

export interface ImportServiceDeps {
  store: AddonStore;
  imports: ImportStore;
  uploads: ImportObjects;
  workflows: WorkflowStarter;
  /** Deletes the snapshot an import's file became (engines that restore it as a snapshot). */
  snapshotDeleters: EngineRegistry<SnapshotDeleter>;
  /**
   * Stops a snapshot restore an abort leaves behind (it runs in the provider, not in the
   * workflow); absent where imports never restore snapshots (AWS).
   */
  restoreDiscarders?: EngineRegistry<Pick<SnapshotProvider, 'discardRestore'>>;
  target: Target;
  /** Keeps a live import's connection string (never the store); without it live imports are a 422. */
  secrets?: SecretStore;
  /** The upload size quota, at most MAX_UPLOAD_BYTES (one presigned PUT). */
  /**
   * Multipart uploads (files above `multipartThresholdBytes`, or when asked); without them an
   * upload is one presigned PUT, 5 GiB at most.
   */
  multipart?: MultipartUploads;
  /** Files larger than this are uploaded in parts. Default 5 GiB (the most one PUT takes). */
  multipartThresholdBytes?: number;
  /** The preferred part size (raised for files that need more than 1,000 parts). Default 64 MiB. */
  partSizeBytes?: number;
  /** The upload size quota: DEFAULT_MAX_UPLOAD_BYTES by default, at most MAX_UPLOAD_BYTES. */
  maxUploadBytes?: number;
  /** How long an import can be started (and retried) after its creation. Default 24 h. */
  ttlMs?: number;
  now?: () => Date;
}

/** What the API shows of an import record. */
export const toImport = ({
  object: _object,
  snapshotId: _snapshotId,
  uploadId: _uploadId,
  uploadParts: _uploadParts,
  ...record
}: ImportRecord): Import => record;

type LiveCreated = { import: Import };

const DAY_MS = 24 * 60 * 60 * 1000;
const STARTABLE = ['awaiting-upload', 'awaiting-start', 'failed'] as const;

const FORMATS: Record<Engine, ImportFormat | undefined> = {
  postgresql: 'pg-dump',
  mysql: 'mysql-dump',
  redis: 'redis-rdb',
  mongodb: undefined,
};

/**
 * Imports: a file the user uploads (to a presigned URL), then restores into a running addon,
 * replacing its data all or nothing through the restore workflow (the import is the restore's
 * source instead of a backup). The addon's operation lock is taken as a restore takes it.
 */
export class ImportService {
  private readonly now: () => Date;
  private readonly maxUploadBytes: number;

  constructor(private readonly deps: ImportServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    const ceiling = deps.multipart ? MAX_UPLOAD_BYTES : SINGLE_PUT_MAX_BYTES;
    this.maxUploadBytes = Math.min(deps.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES, ceiling);
  }

  private checkCapability(addon: Pick<AddonRecord, 'engine'>): ImportFormat {
    const entry = addonType(addon.engine, this.deps.target);
    const format = FORMATS[addon.engine];
    if (!entry.capabilities.importDump || !format) {
      throw new UnsupportedError(
        `${entry.displayName} addons cannot import an uploaded file on this deployment`,
        [{ path: 'body.kind', message: `uploads are not supported for ${addon.engine} here` }],
      );
    }
    return format;
  }

  create(
    projectId: string,
    addonId: string,
    request: Extract<CreateImportRequest, { kind: 'upload' }>,
  ): Promise<ImportUpload>;
  create(
    projectId: string,
    addonId: string,
    request: CreateImportRequest,
  ): Promise<ImportUpload | LiveCreated>;
  async create(
    projectId: string,
    addonId: string,
    request: CreateImportRequest,
  ): Promise<ImportUpload | LiveCreated> {
    return this.createFor(await this.deps.store.getAddon(projectId, addonId), request);
  }

  /**
   * Create an import of `addon`, which need not exist yet (an addon created with `source.import`
   * gets its import first): every check comes before anything is written.
   */
  async createFor(
    addon: Pick<AddonRecord, 'projectId' | 'id' | 'engine'>,
    request: CreateImportRequest,
    /** A live import that runs in this operation from the start (the addon's create). */
    options: { operationId?: string } = {},
  ): Promise<ImportUpload | LiveCreated> {
    const { projectId, id: addonId } = addon;
    if (request.kind === 'live') {
      const expiresAt = new Date(this.now().getTime() + (this.deps.ttlMs ?? DAY_MS)).toISOString();
      const record = await createLiveImport(
        this.deps,
        addon,
        request.connectionString,
        expiresAt,
        options.operationId,
      );
      return { import: toImport(record) };
    }
    const format = this.checkCapability(addon);
    if (request.sizeBytes > this.maxUploadBytes) {
      throw new QuotaExceededError(
        `An upload is at most ${this.maxUploadBytes} bytes`,
        'import-upload-bytes',
        this.maxUploadBytes,
        [{ path: 'body.sizeBytes', message: `must be at most ${this.maxUploadBytes}` }],
      );
    }
    if (format === 'redis-rdb' && request.compression) {
      throw new UnsupportedError('RDB files are uploaded as they are, uncompressed', [
        { path: 'body.compression', message: 'is not taken for Redis imports' },
      ]);
    }
    const threshold = Math.min(
      this.deps.multipartThresholdBytes ?? SINGLE_PUT_MAX_BYTES,
      SINGLE_PUT_MAX_BYTES,
    );
    const multipart = request.multipart === true || request.sizeBytes > threshold;
    if (multipart && !this.deps.multipart) {
      throw new UnsupportedError('Multipart uploads are not available on this deployment', [
        { path: 'body.multipart', message: 'is not supported here' },
      ]);
    }
    const importId = newId('imp');
    const record: ImportRecord = {
      id: importId,
      projectId,
      addonId,
      kind: 'upload',
      status: 'awaiting-upload',
      engine: addon.engine,
      format,
      compression: request.compression ?? null,
      contents: null,
      sizeBytes: request.sizeBytes,
      source: null,
      sha256: null,
      operationId: null,
      expiresAt: new Date(this.now().getTime() + (this.deps.ttlMs ?? DAY_MS)).toISOString(),
      error: null,
      createdAt: nowIso(),
      startedAt: null,
      completedAt: null,
      object: this.deps.uploads.objectFor({ projectId, addonId, importId }),
      snapshotId: null,
    };
    if (multipart && this.deps.multipart) {
      const partSizeBytes = partSizeFor(request.sizeBytes, this.deps.partSizeBytes ?? 64 * 1024 ** 2);
      const upload = await this.deps.multipart.create(record.object, request.sizeBytes, partSizeBytes);
      await this.deps.imports.putImport({
        ...record,
        uploadId: upload.uploadId,
        uploadParts: upload.parts.length,
      });
      return {
        import: toImport(record),
        uploadHeaders: {},
        multipart: { partSizeBytes, parts: upload.parts },
        expiresAt: upload.expiresAt,
      };
    }
    await this.deps.imports.putImport(record);
    const link = await this.deps.uploads.uploadUrl(record.object, request.sizeBytes);
    return {
      import: toImport(record),
      uploadUrl: link.url,
      uploadHeaders: link.headers,
      expiresAt: link.expiresAt,
    };
  }

  private async importOf(projectId: string, addonId: string, importId: string): Promise<ImportRecord> {
    const record = await this.deps.imports.getImport(projectId, importId);
    if (record.addonId !== addonId) {
      throw new NotFoundError(`Import '${importId}' was not found for addon '${addonId}'`);
    }
    return record;
  }

  async get(projectId: string, addonId: string, importId: string): Promise<Import> {
    return toImport(await this.importOf(projectId, addonId, importId));
  }

  async list(projectId: string, addonId: string, page: PaginationQuery): Promise<Page<Import>> {
    await this.deps.store.getAddon(projectId, addonId);
    const result = await this.deps.imports.listImports(projectId, addonId, page);
    return { items: result.items.map(toImport), nextCursor: result.nextCursor };
  }

  /**
   * Start (or, after a failure, retry) loading the uploaded file into the addon. The addon's data
   * is replaced all or nothing; the uploaded file is kept until the import completes or expires.
   */
  async start(
    projectId: string,
    addonId: string,
    importId: string,
    request: StartImportRequest,
  ): Promise<{ import: Import; operation: Operation }> {
    const addon = await this.deps.store.getAddon(projectId, addonId);
    const record = await this.settleOrphan(await this.importOf(projectId, addonId, importId));
    this.checkCapability(addon);
    if (!(STARTABLE as readonly string[]).includes(record.status)) {
      throw new ConflictError(
        `Import ${importId} is ${record.status}; only a new or failed import can be started`,
        {
          field: 'status',
          ...(record.operationId ? { operationId: record.operationId } : {}),
        },
      );
    }
    if (record.expiresAt <= this.now().toISOString()) {
      throw new ConflictError(`Import ${importId} expired at ${record.expiresAt}; create a new one`, {
        field: 'expiresAt',
      });
    }
    if (addon.status !== 'running' || addon.currentOperationId) {
      throw new ConflictError(`Addon '${addon.name}' is ${addon.status}; only a running addon can import`, {
        ...(addon.currentOperationId ? { operationId: addon.currentOperationId } : {}),
      });
    }
    await checkLiveStartable(this.deps, record);
    const { compression, contents } =
      record.kind === 'live'
        ? { compression: null, contents: null }
        : await inspectUpload(this.deps, await completeUpload(this.deps, record, request));
    const operation: Operation = { ...newOperation('restore', projectId, addonId), importId };
    await this.deps.store.beginOperation(addon, operation, 'restoring');
    let started: ImportRecord;
    try {
      started = await this.deps.imports.updateImport(
        record,
        {
          status: 'importing',
          operationId: operation.id,
          compression,
          contents,
          sha256: request.sha256 ?? null,
          error: null,
          startedAt: nowIso(),
          completedAt: null,
        },
        STARTABLE,
      );
    } catch (error) {
      await this.release(addon, operation, `The import could not be started: ${userFacingMessage(error)}`);
      throw error;
    }
    try {
      await this.deps.workflows.start({
        workflow: 'restore-addon',
        // The restore workflow's source is the import: its tasks tell an import id by its prefix.
        input: { projectId, addonId, operationId: operation.id, backupId: importId },
      });
    } catch (error) {
      const message = `The import could not be started: ${userFacingMessage(error)}`;
      await this.release(addon, operation, message);
      await this.deps.imports.updateImport(started, {
        status: 'failed',
        error: { code: 'ImportStartFailed', message },
        completedAt: nowIso(),
      });
      await forgetLiveSource(this.deps.secrets, record);
      throw error;
    }
    return { import: toImport(started), operation };
  }

  /**
   * Abort an import in flight: its workflow is stopped (and with it the restore job, whose loader
   * is killed before anything commits), a snapshot restore still running is rolled back, the
   * operation ends `aborted` and the addon is released. The uploaded file is kept: the import can
   * be started again. An import that completed meanwhile stays completed.
   */
  async abort(projectId: string, addonId: string, importId: string): Promise<Import> {
    const record = await this.importOf(projectId, addonId, importId);
    const operationId = record.operationId;
    if (record.status !== 'importing' || !operationId) {
      throw new ConflictError(
        `Import ${importId} is ${record.status}; only a running import can be aborted`,
        {
          field: 'status',
        },
      );
    }
    const operation = await this.deps.store.findOperation(projectId, operationId);
    if (operation?.type === 'create') {
      throw new ConflictError(
        `Import ${importId} fills addon ${addonId} as part of its create operation; it completes or fails with it`,
        { field: 'status', operationId },
      );
    }
    // ElastiCache seeds a new replication group from the RDB, and only the workflow's own steps
    // can take it back (this function has no ElastiCache rights): it finishes or fails by itself.
    if (importPathOf(record.engine, this.deps.target) === 'snapshot' && !this.deps.restoreDiscarders) {
      throw new UnsupportedError(
        `A ${engineFacts(record.engine).catalog.displayName} import cannot be aborted here: it restores into a new instance that the import itself completes, or deletes when it fails`,
        [{ path: 'importId', message: 'this import cannot be aborted; it completes or fails by itself' }],
      );
    }
    // A stopped execution runs no Catch: what its Catch (failRestore) would do is done here.
    await this.deps.workflows.stop('restore-addon', operationId, 'Aborted by the user');
    const addon = await this.deps.store.findAddon(projectId, addonId);
    if (addon && record.snapshotId && this.deps.restoreDiscarders) {
      const outcome = await this.deps.restoreDiscarders
        .of(record.engine)
        .discardRestore(addon.resourceId, record.snapshotId, operationId);
      // Too late: the data had been swapped in; the workflow's last step is all that was left.
      if (outcome === 'completed') return this.settle(record, addon, null);
    }
    return this.settle(record, addon, { code: 'Aborted', message: 'Aborted by the user' });
  }

  private async settle(
    record: ImportRecord,
    addon: AddonRecord | undefined,
    error: { code: string; message: string } | null,
  ): Promise<Import> {
    const operationId = record.operationId as string;
    let settled = record;
    try {
      settled = await this.deps.imports.updateImport(
        record,
        { status: error ? 'failed' : 'completed', error, completedAt: nowIso() },
        ['importing'],
      );
    } catch (failure) {
      if (!(failure instanceof ConflictError)) throw failure;
      // The workflow ended it first: its outcome stands.
      return toImport(await this.deps.imports.getImport(record.projectId, record.id));
    }
    await this.deps.store
      .updateOperation(record.projectId, operationId, {
        status: error ? 'aborted' : 'completed',
        completedAt: nowIso(),
        ...(error ? { error } : { progress: { step: 'completed', percent: 100 } }),
      })
      .catch((failure: unknown) => {
        if (!(failure instanceof ConflictError)) throw failure;
      });
    if (addon?.currentOperationId === operationId) {
      await this.deps.store.updateAddonForOperation(
        addon,
        operationId,
        { status: 'running' },
        { release: true },
      );
    }
    if (record.snapshotId)
      await this.deps.snapshotDeleters.of(record.engine).deleteSnapshot(record.snapshotId);
    if (!error) await this.deps.uploads.delete(record.object);
    await forgetLiveSource(this.deps.secrets, record);
    return toImport(settled);
  }

  /**
   * An import left `importing` after its operation ended without it (the reconciler failed an
   * operation whose workflow was lost): it becomes `failed` with the operation's reason, so it can
   * be started again and expires like the others.
   */
  private async settleOrphan(record: ImportRecord): Promise<ImportRecord> {
    if (record.status !== 'importing' || !record.operationId) return record;
    const operation = await this.deps.store.findOperation(record.projectId, record.operationId);
    if (operation && !TERMINAL_STATUSES.includes(operation.status)) return record;
    const error = operation?.error ?? {
      code: 'OperationLost',
      message: 'The import operation ended without it',
    };
    await forgetLiveSource(this.deps.secrets, record);
    return this.deps.imports
      .updateImport(record, { status: 'failed', error, completedAt: nowIso() }, ['importing'])
      .catch(async (failure: unknown) => {
        if (!(failure instanceof ConflictError)) throw failure;
        return this.deps.imports.getImport(record.projectId, record.id);
      });
  }

  private release(addon: AddonRecord, operation: Operation, message: string) {
    return failOperationAndRelease(
      this.deps.store,
      addon,
      operation.id,
      { code: 'ImportStartFailed', message },
      'running',
    );
  }

  /**
   * Expiry: imports past their time are deleted, uploaded file first (and the snapshot it became),
   * then the record; one importing right now is left for the next sweep.
   */
  async sweepExpired(
    pageSize = 100,
  ): Promise<{ deleted: string[]; failed: Array<{ importId: string; reason: string }> }> {
    const deleted: string[] = [];
    const failed: Array<{ importId: string; reason: string }> = [];
    const now = this.now().toISOString();
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.deps.imports.listExpiredImports(now, { limit: pageSize, start });
      for (const record of page.items) {
        if ((await this.settleOrphan(record)).status === 'importing') continue;
        try {
          await this.deps.uploads.delete(record.object);
          await forgetLiveSource(this.deps.secrets, record);
          if (record.snapshotId)
            await this.deps.snapshotDeleters.of(record.engine).deleteSnapshot(record.snapshotId);
          await this.deps.imports.deleteImportRecord(record);
          deleted.push(record.id);
        } catch (error) {
          failed.push({ importId: record.id, reason: errorMessage(error) });
        }
      }
      start = page.next;
    } while (start);
    return { deleted, failed };
  }
}
