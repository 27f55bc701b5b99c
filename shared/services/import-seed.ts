import { ConflictError, ProviderError } from '../errors.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { AddonImportSource } from '../schemas/addon.ts';
import type { JobSpec } from '../schemas/job.ts';
import type { AddonRecord } from '../store/addon-store.ts';
import type { ImportStore } from '../store/import-store.ts';
import { nowIso } from '../util/ids.ts';
import { forgetLiveSource, liveImportJob } from './live-imports.ts';

/**
 * The seed phase of an addon created with `source.import` (kind `live`): its create operation
 * launches the live-import job into the new addon, then ends the import with the operation. The
 * import was created `importing` with the addon (addon-imports.ts); its connection string lives
 * in the secret store until then, and is deleted whichever way it ends.
 */
export interface ImportSeedDeps {
  imports: Pick<ImportStore, 'getImport' | 'updateImport'>;
  secrets?: SecretStore | undefined;
  /** Where live-import jobs run (AWS: subnets with a NAT route, a group with database-port egress). */
  liveImportNetwork?: { subnets: string[]; securityGroups: string[] } | undefined;
}

type Ref = { projectId: string; addonId: string; operationId: string };

/** The RunTask parameters of the job that streams the live source into the new addon. */
export const liveImportSeedJob = async (
  deps: ImportSeedDeps,
  launch: (spec: JobSpec, addon: AddonRecord) => unknown,
  task: Ref,
  addon: AddonRecord,
  origin: AddonImportSource,
): Promise<unknown> => {
  const record = await deps.imports.getImport(task.projectId, origin.importId);
  if (record.kind !== 'live' || record.operationId !== task.operationId) {
    throw new ProviderError(
      `Import ${origin.importId} is not the live import of this create operation`,
      'NotASeedImport',
    );
  }
  return liveImportJob(launch, deps.liveImportNetwork, task, addon, record);
};

/**
 * The import ends with the seed: completed, or failed with the seed's reason. Idempotent (a
 * retried step finds it ended); the connection string is deleted in both cases.
 */
export const endImportSeed = async (
  deps: ImportSeedDeps,
  task: Ref,
  origin: AddonImportSource,
  error: { code: string; message: string } | null,
): Promise<void> => {
  const record = await deps.imports.getImport(task.projectId, origin.importId).catch(() => undefined);
  if (!record || record.operationId !== task.operationId) return;
  if (record.status === 'importing') {
    await deps.imports
      .updateImport(record, { status: error ? 'failed' : 'completed', error, completedAt: nowIso() }, [
        'importing',
      ])
      .catch((failure: unknown) => {
        // Ended by a retry of this step meanwhile.
        if (!(failure instanceof ConflictError)) throw failure;
      });
  }
  await forgetLiveSource(deps.secrets, record);
};
