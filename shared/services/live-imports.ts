import { capabilitiesOf, ENGINES } from '../catalog/engines.ts';
import { ConflictError, UnsupportedError } from '../errors.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import type { ImportObjects } from '../providers/import-uploads.ts';
import type { Target } from '../schemas/catalog.ts';
import type { ImportFormat } from '../schemas/import.ts';
import type { JobSpec } from '../schemas/job.ts';
import type { AddonRecord } from '../store/addon-store.ts';
import type { ImportRecord, ImportStore } from '../store/import-store.ts';
import { newId, nowIso } from '../util/ids.ts';
import { liveSourceOf, liveSourceSecretRef, parseLiveConnectionString } from './live-import-source.ts';

/**
 * Live imports: a running database's data streamed straight into an addon by the restore job
 * (dump piped into the restore, no file). Created here with the connection string checked for
 * syntax and put in the secret store under the import's own reference; started like an upload
 * (`POST .../start`), with the same Import resource, operation and all-or-nothing restore.
 *
 * The secret lives as long as the import can still run: it is deleted when the import completes,
 * fails, is aborted or expires (a failed live import cannot be retried: create a new one, so that
 * no password stays behind a failure).
 */
export interface LiveImportDeps {
  imports: ImportStore;
  uploads: ImportObjects;
  /** Where the connection string is kept; without one, live imports are refused (422). */
  secrets?: SecretStore | undefined;
  target: Target;
}

const LIVE_FORMATS: Partial<Record<AddonRecord['engine'], ImportFormat>> = {
  postgresql: 'pg-dump',
  mysql: 'mysql-dump',
};

const secretsOf = (deps: LiveImportDeps, addon: Pick<AddonRecord, 'engine'>): SecretStore => {
  const format = LIVE_FORMATS[addon.engine];
  if (!capabilitiesOf(addon.engine, deps.target).importLive || !format || !deps.secrets) {
    throw new UnsupportedError(
      `${ENGINES[addon.engine].displayName} addons cannot import from a live database on this deployment`,
      [{ path: 'body.kind', message: `live imports are not supported for ${addon.engine} here` }],
    );
  }
  return deps.secrets;
};

/**
 * Create a live import of `addon`. With `operationId` it is already running as part of that
 * operation (an addon created with `source.import`: its create operation seeds it).
 */
export const createLiveImport = async (
  deps: LiveImportDeps,
  addon: Pick<AddonRecord, 'projectId' | 'id' | 'engine'>,
  connectionString: string,
  expiresAt: string,
  operationId?: string,
): Promise<ImportRecord> => {
  const secrets = secretsOf(deps, addon);
  const source = parseLiveConnectionString(addon.engine, connectionString);
  const importId = newId('imp');
  const record: ImportRecord = {
    id: importId,
    projectId: addon.projectId,
    addonId: addon.id,
    kind: 'live',
    status: operationId ? 'importing' : 'awaiting-start',
    engine: addon.engine,
    format: LIVE_FORMATS[addon.engine] as ImportFormat,
    compression: null,
    contents: null,
    sizeBytes: null,
    source: liveSourceOf(source),
    sha256: null,
    operationId: operationId ?? null,
    expiresAt,
    error: null,
    createdAt: nowIso(),
    startedAt: operationId ? nowIso() : null,
    completedAt: null,
    // Never uploaded: deleting it (as every ended import does) is a no-op.
    object: deps.uploads.objectFor({ projectId: addon.projectId, addonId: addon.id, importId }),
    snapshotId: null,
  };
  // The secret first: an import record never exists without its source.
  await secrets.put(liveSourceSecretRef(addon.projectId, importId), source);
  try {
    await deps.imports.putImport(record);
  } catch (error) {
    await secrets.delete(liveSourceSecretRef(addon.projectId, importId)).catch(() => undefined);
    throw error;
  }
  return record;
};

/** Before a start: a live import runs once; its secret must still be there. */
export const checkLiveStartable = async (deps: LiveImportDeps, record: ImportRecord): Promise<void> => {
  if (record.kind !== 'live') return;
  if (record.status === 'failed') {
    throw new ConflictError(
      `Live import ${record.id} failed and its connection string was deleted; create a new import to try again`,
      { field: 'status' },
    );
  }
  const secrets = secretsOf(deps, record);
  if (!(await secrets.get(liveSourceSecretRef(record.projectId, record.id)))) {
    throw new ConflictError(
      `The connection string of live import ${record.id} is gone; create a new import`,
      { field: 'connectionString' },
    );
  }
};

/** Deletes a live import's connection string (idempotent); nothing for uploads. */
export const forgetLiveSource = async (
  secrets: SecretStore | undefined,
  record: Pick<ImportRecord, 'kind' | 'projectId' | 'id'>,
): Promise<void> => {
  if (record.kind !== 'live' || !secrets) return;
  await secrets.delete(liveSourceSecretRef(record.projectId, record.id));
};

/**
 * The RunTask parameters of a live import's job: the spec names the source's secret (never its
 * contents); on AWS the task runs in the live-import subnets and groups (egress to database
 * ports), while every other job keeps no route out of the VPC.
 */
export const liveImportJob = (
  launch: (spec: JobSpec, addon: AddonRecord) => unknown,
  network: { subnets: string[]; securityGroups: string[] } | undefined,
  task: { projectId: string; addonId: string; operationId: string },
  addon: AddonRecord,
  record: ImportRecord,
): unknown => {
  const parameters = launch(
    {
      kind: 'live-import',
      operationId: task.operationId,
      projectId: task.projectId,
      addonId: task.addonId,
      backupId: record.id,
      engine: addon.engine,
      sourceSecret: liveSourceSecretRef(record.projectId, record.id),
    },
    addon,
  ) as { subnets: string[]; securityGroups: string[] };
  if (!network) return parameters;
  // The addon's project client group (the only source its database admits) stays; the base job
  // groups are swapped for the live-import ones.
  const client = addon.network?.clientSecurityGroupId;
  return {
    ...parameters,
    subnets: network.subnets,
    securityGroups: [
      ...network.securityGroups,
      ...(client && parameters.securityGroups.includes(client) ? [client] : []),
    ],
  };
};
