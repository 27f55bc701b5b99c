import { PlatformError } from '../errors.ts';
import type { AddonImportSource, ImportSourceRequest } from '../schemas/addon.ts';
import type { Engine } from '../schemas/catalog.ts';
import type { ImportUpload } from '../schemas/import.ts';
import type { ImportRecord, ImportStore } from '../store/import-store.ts';
import type { ImportService } from './import-service.ts';
import { forgetLiveSource } from './live-imports.ts';

/**
 * An addon created with `source.import`: its import is created first, under the addon's id
 * (known before the addon is written), so every check of the import request (capability,
 * connection string, upload size) answers before anything exists, and a create refused later
 * (name taken, quota) takes the import back with `undo`.
 *
 * - `live`: the import runs as the last step of the addon's create operation (the provision
 *   workflow's seed phase launches the live-import job); a failure fails the create, which deletes
 *   the new addon. The connection string is deleted when the import ends either way.
 * - `upload`: the import waits for its file, as one created with `POST .../imports` does; it is
 *   started once the addon is running.
 */
export interface AddonImportDeps {
  imports: Pick<ImportService, 'createFor'>;
  records: Pick<ImportStore, 'getImport' | 'deleteImportRecord'>;
  secrets?: Parameters<typeof forgetLiveSource>[0];
}

export interface PreparedImport {
  origin: AddonImportSource;
  created: ImportUpload | { import: ImportUpload['import'] };
  undo: () => Promise<void>;
}

/** The request's fields are under `body.source.import` here, not at the body's top as for `POST .../imports`. */
const underSource = (error: unknown): never => {
  if (error instanceof PlatformError && 'issues' in error && Array.isArray(error.issues)) {
    for (const issue of error.issues as Array<{ path: string }>) {
      issue.path = issue.path.replace(/^body\./, 'body.source.import.');
    }
  }
  throw error;
};

export const prepareImportSource = async (
  deps: AddonImportDeps,
  addon: { projectId: string; id: string; engine: Engine; database: string },
  request: ImportSourceRequest,
  operationId: string,
): Promise<PreparedImport> => {
  const wanted = request.import;
  const created = await deps.imports
    .createFor(addon, wanted, wanted.kind === 'live' ? { operationId } : {})
    .catch(underSource);
  const record = created.import;
  return {
    origin: { importId: record.id, kind: record.kind, database: addon.database },
    created,
    undo: async () => {
      const stored: ImportRecord = await deps.records.getImport(addon.projectId, record.id);
      await forgetLiveSource(deps.secrets, stored);
      await deps.records.deleteImportRecord(stored);
    },
  };
};
