import type { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { CursorSigner } from '#shared/api/cursors.ts';
import { createHttpHandler, type IdempotencyOptions, lazyHandler } from '#shared/api/http-handler.ts';
import { dynamoDbIdempotency } from '#shared/api/idempotency.ts';
import { type RateLimiter, rateLimiterFromEnv } from '#shared/api/rate-limit.ts';
import { addonsRoutes } from '#shared/api/routes/addons.ts';
import { AddonsFunctionEnvSchema, parseEnv } from '#shared/config/env.ts';
import { UnsupportedError } from '#shared/errors.ts';
import { CloudWatchMetrics } from '#shared/providers/aws/cloudwatch-metrics.ts';
import { CloudWatchStorageUsage } from '#shared/providers/aws/cloudwatch-storage.ts';
import {
  awsReplicaEngines,
  awsRestorableWindows,
  awsSnapshotDeleters,
} from '#shared/providers/aws/engines.ts';
import { liveImportSecrets } from '#shared/providers/aws/live-import-secrets.ts';
import { awsSecretGroupServices } from '#shared/providers/aws/secret-groups.ts';
import { SfnWorkflowStarter } from '#shared/providers/aws/sfn-workflow-starter.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { MultipartUploads } from '#shared/providers/import-multipart.ts';
import { ImportUploads } from '#shared/providers/import-uploads.ts';
import type { Addon } from '#shared/schemas/addon.ts';
import type { StorageUsage } from '#shared/schemas/scaling.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { BackupHealthReader } from '#shared/services/backup-health.ts';
import { ImportService } from '#shared/services/import-service.ts';
import { NetworkingService } from '#shared/services/networking.ts';
import { PitrService, planRetentionDays } from '#shared/services/pitr-service.ts';
import { ReplicasService } from '#shared/services/replicas.ts';
import { isScalingRequest, ScalingService } from '#shared/services/scaling.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { BackupStore } from '#shared/store/backup-store.ts';
import { ImportStore } from '#shared/store/import-store.ts';
import { cursorSigner, documentClient, dynamoClient, logger } from './aws-clients.ts';

export interface AddonsDeps {
  logger: Logger;
  rateLimiter?: RateLimiter;
  service: AddonService;
  /** Shows one addon's restorable window on GET; without it GET leaves `restorableWindow` out. */
  pitr?: Pick<PitrService, 'getAddon'>;
  /** Shows one addon's backup health on GET; without it GET leaves `backupHealth` out. */
  health?: Pick<BackupHealthReader, 'begin'>;
  idempotency?: IdempotencyOptions;
  cursors: CursorSigner;
  /**
   * Networking changes (`PATCH` with `networking`); the service answers 422 for an engine whose
   * catalog says `networkingUpdate: false`. Absent: every networking change is a 422.
   */
  networking?: Pick<NetworkingService, 'update'>;
  /** Plan, storage and Multi-AZ changes (`PATCH` with `plan`, `storageGiB` or `multiAz`). */
  scaling?: Pick<ScalingService, 'update'>;
  /** The storage a GET of one addon shows (used bytes where the target measures them). */
  storage?: { of(addon: Addon): Promise<StorageUsage> };
  /** Read-replica changes (`PATCH` with `replicas`); absent: the PATCH answers 422 naming `replicas`. */
  replicas?: Pick<ReplicasService, 'update'>;
}

const location = (projectId: string, operationId: string) =>
  `/v1/projects/${projectId}/operations/${operationId}`;

/** The routes this function serves (its bundle holds no other route's schemas). */
export const addonsFunctionRoutes = addonsRoutes;

/** `PATCH` with `replicas` (the schema refuses it beside another change). */
const updateReplicas = async (
  deps: AddonsDeps,
  params: { projectId: string; addonId: string },
  replicas: number,
) => {
  if (!deps.replicas) {
    await deps.service.get(params.projectId, params.addonId);
    throw new UnsupportedError(
      'Read-replica changes are not available on this deployment (capability replicas is off; see the catalog notes)',
      [{ path: 'body.replicas', message: 'read replicas are not available here' }],
    );
  }
  return deps.replicas.update(params.projectId, params.addonId, replicas);
};

export const createAddonsHandler = (deps: AddonsDeps) =>
  createHttpHandler(
    addonsFunctionRoutes,
    {
      createAddon: async ({ params, body }) => {
        const result = await deps.service.create(params.projectId, body);
        return {
          status: 202,
          headers: {
            location: `/v1/projects/${params.projectId}/addons/${result.addon.id}`,
            'operation-location': location(params.projectId, result.operation.id),
          },
          body: result,
        };
      },
      listAddons: async ({ params, query }) => ({
        status: 200,
        body: await deps.service.list(params.projectId, query),
      }),
      updateAddon: async ({ params, body }) => {
        const accepted = (result: { operation: { id: string } }) => ({
          status: 202 as const,
          headers: { 'operation-location': location(params.projectId, result.operation.id) },
          body: result,
        });
        // One kind of change per request (the schema refuses none or two).
        if (isScalingRequest(body) && deps.scaling) {
          return accepted(await deps.scaling.update(params.projectId, params.addonId, body));
        }
        if (body.replicas !== undefined) return accepted(await updateReplicas(deps, params, body.replicas));
        if (!deps.networking || !body.networking) {
          await deps.service.get(params.projectId, params.addonId);
          throw new UnsupportedError(
            'Networking changes are not available on this deployment (capability networkingUpdate is off; see the catalog notes)',
            [{ path: 'body.networking', message: 'networking changes are not available here' }],
          );
        }
        return accepted(await deps.networking.update(params.projectId, params.addonId, body));
      },
      getAddon: async ({ params }) => {
        // The addon's read first, then beside it the health's first (the addon's schedules): the
        // addon's storage and window are read while the store answers the second.
        const reading = deps.pitr
          ? deps.pitr.getAddon(params.projectId, params.addonId)
          : deps.service.get(params.projectId, params.addonId);
        const health = deps.health?.begin(params.projectId, params.addonId);
        const found = await reading;
        const addon = { ...found, ...deps.service.upgradeInfo(found) };
        // Side by side: each is a call of its own (the storage metric, the addon's schedules).
        const [storage, backupHealth] = await Promise.all([
          deps.storage?.of(addon),
          health?.(addon, addon.restorableWindow ?? null),
        ]);
        const withStorage = storage ? { ...addon, storage } : addon;
        return { status: 200, body: health ? { ...withStorage, backupHealth } : withStorage };
      },
      deleteAddon: async ({ params, query }) => {
        const result = await deps.service.delete(params.projectId, params.addonId, query);
        return {
          status: 202,
          headers: { 'operation-location': location(params.projectId, result.operation.id) },
          body: result,
        };
      },
    },
    {
      logger: deps.logger,
      rateLimiter: deps.rateLimiter,
      idempotency: deps.idempotency,
      cursors: deps.cursors,
    },
  );

export const handler = lazyHandler(() => {
  const env = parseEnv(AddonsFunctionEnvSchema);
  const client = documentClient();
  const store = new AddonStore({ client, tableName: env.TABLE_NAME });
  const backups = new BackupStore({ client, tableName: env.TABLE_NAME });
  const workflows = new SfnWorkflowStarter({
    client: new SFNClient({}),
    stateMachineArns: {
      'provision-addon': env.PROVISION_ADDON_STATE_MACHINE_ARN,
      'delete-addon': env.DELETE_ADDON_STATE_MACHINE_ARN,
      'scale-addon': env.SCALE_ADDON_STATE_MACHINE_ARN,
      'update-replicas': env.UPDATE_REPLICAS_STATE_MACHINE_ARN,
      'update-networking': env.UPDATE_NETWORKING_STATE_MACHINE_ARN,
    },
  });
  // GET shows the restorable window: read-only RDS calls (the stack grants them).
  const pitr = new PitrService({
    store,
    workflows,
    windows: awsRestorableWindows(() => new RDSClient({})),
    target: env.ADDONS_TARGET,
    retentionDays: planRetentionDays,
  });
  // An addon created with `source.import` gets its import from here; only `createFor` is used
  // (starting an import is the backups function's), so no restore workflow is wired.
  const importRecords = new ImportStore({ client, tableName: env.TABLE_NAME });
  const secrets = liveImportSecrets(env);
  const uploadClient = new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED' });
  const imports = new ImportService({
    store,
    imports: importRecords,
    uploads: new ImportUploads({ client: uploadClient, bucket: env.BACKUP_BUCKET }),
    multipart: new MultipartUploads({ client: uploadClient }),
    maxUploadBytes: env.ADDONS_MAX_UPLOAD_BYTES,
    multipartThresholdBytes: env.ADDONS_MULTIPART_THRESHOLD_BYTES,
    partSizeBytes: env.ADDONS_UPLOAD_PART_BYTES,
    workflows,
    snapshotDeleters: awsSnapshotDeleters(() => new RDSClient({})),
    target: env.ADDONS_TARGET,
    secrets,
  });
  return createAddonsHandler({
    logger,
    rateLimiter: rateLimiterFromEnv(env),
    service: new AddonService({
      store,
      workflows,
      target: env.ADDONS_TARGET,
      // A final backup is recorded here and taken by the delete workflow; only its key is named here.
      finalBackups: {
        backups,
        artifacts: new BackupArtifacts({ client: new S3Client({}), bucket: env.BACKUP_BUCKET }),
      },
      quotas: { addonsPerProject: env.MAX_ADDONS_PER_PROJECT },
      // A point in time is checked against the window by the workflow on AWS (no RDS client here).
      forks: { backups },
      imports: { imports, records: importRecords, ...(secrets ? { secrets } : {}) },
      // A delete of an addon linked into secret groups is refused, or unlinks and re-publishes them.
      ...(env.SECRET_NAME_PREFIX
        ? {
            secretGroups: awsSecretGroupServices({
              env: { ...env, SECRET_NAME_PREFIX: env.SECRET_NAME_PREFIX },
              client,
              addons: store,
              logger,
            }).secretGroups,
          }
        : {}),
    }),
    pitr,
    scaling: new ScalingService({ store, workflows, target: env.ADDONS_TARGET }),
    // RDS read replicas; the engines without a replica provider on AWS answer 422.
    replicas: new ReplicasService({
      store,
      engines: awsReplicaEngines,
      workflows,
      target: env.ADDONS_TARGET,
    }),
    // RDS networking changes take minutes: the update-networking workflow carries them.
    networking: new NetworkingService({ store, workflows, target: env.ADDONS_TARGET }),
    // The used bytes: the latest CloudWatch datapoint, through the metrics API's reader (one
    // GetMetricData on GET of one addon; the client loads from the runtime: docs/scaling.md).
    storage: new CloudWatchStorageUsage({
      metrics: new CloudWatchMetrics({ client: new CloudWatchClient({}) }),
    }),
    // Three reads (schedules, a page of backups, of operations), on GET of one addon only.
    health: new BackupHealthReader({
      backups,
      operations: store,
      retention: (addon) => pitr.retentionDaysOf(addon),
    }),
    idempotency: dynamoDbIdempotency({ client: dynamoClient(), tableName: env.TABLE_NAME }),
    cursors: cursorSigner(env.CURSOR_SECRET_ARN),
  });
});
