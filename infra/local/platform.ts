import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createAddonsHandler } from '#functions/api/addons.ts';
import { createBackupsHandler } from '#functions/api/backups.ts';
import { createCatalogHandler } from '#functions/api/catalog.ts';
import { createCredentialsHandler } from '#functions/api/credentials.ts';
import { createMetaHandler } from '#functions/api/meta.ts';
import { createOperationsHandler } from '#functions/api/operations.ts';
import { createWorkflowTaskHandler } from '#functions/workflow/tasks.ts';
import { CursorSigner } from '#shared/api/cursors.ts';
import { dynamoDbIdempotency } from '#shared/api/idempotency.ts';
import { TokenBucketLimiter } from '#shared/api/rate-limit.ts';
import { offerOnTarget } from '#shared/catalog/engines.ts';
import { EngineRegistry } from '#shared/engines/registry.ts';
import { errorMessage } from '#shared/errors.ts';
import { type EngineAdapters, resourceIdFor, type SnapshotProvider } from '#shared/ports/engine-provider.ts';
import type { WorkflowName, WorkflowStarter } from '#shared/ports/workflow-starter.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { BackupExporter } from '#shared/providers/backup-export.ts';
import { MultipartUploads } from '#shared/providers/import-multipart.ts';
import { ImportUploads } from '#shared/providers/import-uploads.ts';
import { FileGroupDocuments } from '#shared/providers/local/file-group-documents.ts';
import { FileSecretStore } from '#shared/providers/local/file-secret-store.ts';
import type { AddonStatus } from '#shared/schemas/addon.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { BackupHealthReader } from '#shared/services/backup-health.ts';
import { BackupHealthMonitor } from '#shared/services/backup-health-monitor.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import { CredentialRotationService } from '#shared/services/credential-rotation.ts';
import { ExportService } from '#shared/services/export-service.ts';
import { ImportService } from '#shared/services/import-service.ts';
import { MetricsService } from '#shared/services/metrics-service.ts';
import { NetworkingService } from '#shared/services/networking.ts';
import { PitrService } from '#shared/services/pitr-service.ts';
import { ReplicasService } from '#shared/services/replicas.ts';
import { ScalingService } from '#shared/services/scaling.ts';
import { ScheduleService } from '#shared/services/schedule-service.ts';
import { secretGroupServices } from '#shared/services/secret-group-services.ts';
import { UpgradeService } from '#shared/services/upgrade-service.ts';
import { type AddonRecord, AddonStore } from '#shared/store/addon-store.ts';
import { BackupStore } from '#shared/store/backup-store.ts';
import { ImportStore } from '#shared/store/import-store.ts';
import { CONSOLE_DIST } from '../../console/paths.ts';
import { localAlerts } from './alerts.ts';
import { scaledClock } from './clock.ts';
import type { LocalConfig } from './config.ts';
import { fileCursorKey } from './cursor-key.ts';
import { startDynamo } from './emulators.ts';
import { EngineDrivers } from './engines/engine-drivers.ts';
import { withReplicaCleanup, withReplicaReseed } from './engines/replica-hooks.ts';
import { LocalReplicas } from './engines/replicas.ts';
import { LocalScalingSupervisor } from './engines/scaling.ts';
import { S3SnapshotExporter } from './engines/snapshot-export.ts';
import { type ApiLambda, LocalGateway } from './gateway.ts';
import { buildJobBundle } from './job-bundle.ts';
import { LocalJobRunner } from './job-runner.ts';
import { localLambdaContext } from './lambda-context.ts';
import { acquireDataDirLock } from './lock.ts';
import { startLocalMetrics } from './metrics/local-metrics.ts';
import { createLocalReconciler } from './reconciler.ts';
import { resumeOperations } from './resume.ts';
import { allowBrowserTransfers, ensureBucket, startS3 } from './s3-emulator.ts';
import { LocalScheduler } from './scheduler.ts';
import { securePlatformState } from './state-modes.ts';
import { LOCAL_SUBSTITUTIONS, LocalWorkflowRunner } from './workflow-runner.ts';

export const TABLE_NAME = 'addons';
export const BACKUP_BUCKET = 'addons-backups';
/** The Step Functions resource of the job states; locally a child process (job-runner.ts). */
const RUN_TASK_SYNC = 'arn:aws:states:::ecs:runTask.sync';

/** Addon states in which the engine process must be running. */
const LIVE_STATUSES: readonly AddonStatus[] = ['running', 'updating', 'backing-up', 'restoring', 'upgrading'];

export interface LocalPlatform {
  url: string;
  token: string;
  tokenGenerated: boolean;
  dataDir: string;
  resumed: { addons: number; operations: number };
  runner: LocalWorkflowRunner;
  stop(): Promise<void>;
}

const loadOrCreateToken = async (dataDir: string, configured?: string) => {
  if (configured) return { token: configured, generated: false };
  const path = join(dataDir, 'token');
  try {
    return { token: (await readFile(path, 'utf8')).trim(), generated: true };
  } catch {
    const token = randomBytes(24).toString('base64url');
    await writeFile(path, `${token}\n`, { mode: 0o600 });
    return { token, generated: true };
  }
};

/**
 * The local composition root: dynalite, the file secret store, the engine supervisor and the
 * ASL runner behind the same handlers that run on Lambda. Starting it also brings back what
 * was running and resumes operations a crash or Ctrl-C interrupted.
 */
export const startLocalPlatform = async (config: LocalConfig): Promise<LocalPlatform> => {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await securePlatformState(config.dataDir);
  const releaseLock = await acquireDataDirLock(config.dataDir);
  const cleanups: Array<() => Promise<void>> = [releaseLock];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error('shutdown step failed:', error);
      }
    }
  };
  try {
    const logger = new Logger({ serviceName: 'addons', logLevel: config.logLevel });
    // Built while the emulators start; the first job waits for it.
    const jobCommand = buildJobBundle().then((command) => {
      if (command.fallback) logger.warn('jobs run from their TypeScript sources', { why: command.fallback });
      return command;
    });
    // The catalog answers for this machine: an engine whose server is user-installed is offered
    // only where one was found (before any handler or workflow reads the catalog).
    for (const [engine, offer] of await new EngineDrivers().catalogOffers()) {
      offerOnTarget(engine, 'local', offer);
    }
    const { token, generated } = await loadOrCreateToken(config.dataDir, config.token);

    const dynamo = await startDynamo(config.dataDir, TABLE_NAME);
    cleanups.push(() => dynamo.stop());
    const documentClient = DynamoDBDocumentClient.from(dynamo.client, {
      marshallOptions: { removeUndefinedValues: true },
    });
    const store = new AddonStore({ client: documentClient, tableName: TABLE_NAME });
    const secretsDir = join(config.dataDir, 'secrets');
    // Every writer of connection details gets the store with the secret groups' re-publish hook.
    const groupServices = secretGroupServices({
      client: documentClient,
      tableName: TABLE_NAME,
      addons: store,
      secrets: new FileSecretStore(secretsDir),
      documents: new FileGroupDocuments(join(config.dataDir, 'secret-groups')),
      onHookError: (error, ref) =>
        logger.error('secret groups not re-published; the next tick will', {
          ...ref,
          error: errorMessage(error),
        }),
    });
    const secrets = groupServices.secrets;
    // Before the supervisor, so it stops (aborting snapshot uploads) before S3 does.
    const s3 = await startS3(config.dataDir);
    cleanups.push(() => s3.stop());
    await ensureBucket(s3.client, BACKUP_BUCKET);
    await allowBrowserTransfers(s3.client, BACKUP_BUCKET);
    // With scaling: a plan sets the server's memory limits, storage is measured (engines/scaling.ts).
    const supervisor = new LocalScalingSupervisor({
      dataDir: config.dataDir,
      ...(config.publicHost ? { publicHost: config.publicHost } : {}),
      log: (message, extra) => logger.info(message, { ...extra }),
      exporter: new S3SnapshotExporter(s3.client),
      ...(config.storageGiBBytes ? { storageGiBBytes: config.storageGiBBytes } : {}),
      // Imports of Redis RDB files become snapshots from their uploaded object.
      objects: s3.client,
      // Point-in-time recovery: every PostgreSQL addon's WAL and base backups, next to its backups.
      walArchive: {
        client: s3.client,
        endpoint: s3.endpoint,
        bucket: BACKUP_BUCKET,
        prefix: 'pitr/',
        // The WAL archive command, bundled for the engine servers to run (docs/pitr.md).
        commandDir: join(config.dataDir, 'bin'),
      },
    });
    cleanups.push(() => supervisor.stopAll());
    // Read replicas: processes of their own beside each primary, removed before it is deleted.
    const replicas = new LocalReplicas({
      dataDir: config.dataDir,
      log: (message, extra) => logger.info(message, { ...extra }),
    });
    cleanups.push(() => replicas.stopAll());
    // Restores replace the primary's data: its replicas are seeded again before they report done.
    const snapshots = withReplicaReseed(supervisor, replicas);
    // One supervisor runs every local engine through its own driver registry, and refuses by name
    // an engine it has no driver for: every engine's adapters are the supervisor.
    const engines = EngineRegistry.everyEngine<EngineAdapters>('local engine', () => ({
      provider: withReplicaCleanup(supervisor, replicas),
      snapshots,
      replicas,
    }));

    const artifacts = new BackupArtifacts({ client: s3.client, bucket: BACKUP_BUCKET });
    const backupStore = new BackupStore({ client: documentClient, tableName: TABLE_NAME });
    const importStore = new ImportStore({ client: documentClient, tableName: TABLE_NAME });
    const uploads = new ImportUploads({ client: s3.client, bucket: BACKUP_BUCKET });
    const now = scaledClock(config.clockSpeed);
    const jobs = new LocalJobRunner(
      {
        ADDONS_SECRETS_DIR: secretsDir,
        ADDONS_S3_ENDPOINT: s3.endpoint,
        // Each job's log goes to its own file (below), at INFO at least whatever the console shows.
        ADDONS_LOG_LEVEL: config.logLevel === 'DEBUG' ? 'DEBUG' : 'INFO',
        ...config.jobToolEnv,
      },
      jobCommand,
      join(config.dataDir, 'logs', 'jobs'),
      // What a job asks of its addons' servers runs below the customers' too (engines/job-sessions.ts).
      (addonIds, signal) => supervisor.lowerJobSessions(addonIds.map(resourceIdFor), signal),
    );
    cleanups.push(() => jobs.shutdown());

    const scheduler = new LocalScheduler({
      now,
      tickMs: config.schedulerTickMs,
      log: (message, extra) => logger.info(message, { ...extra }),
      warn: (message, extra) => logger.warn(message, { ...extra }),
    });
    const workflowTask = createWorkflowTaskHandler({
      store,
      engines,
      secrets,
      logger,
      backups: {
        store,
        backups: backupStore,
        artifacts,
        engines,
        target: 'local',
        now,
        imports: { imports: importStore, uploads, target: 'local' },
        // Only the command and environment matter to the local job runner.
        jobs: {
          cluster: 'local',
          taskDefinition: 'local-jobs',
          container: 'job',
          subnets: [],
          securityGroups: [],
        },
      },
      // Exports copy within the S3 emulator: the user's bucket is a bucket there.
      exports: { store, backups: backupStore, exporter: new BackupExporter({ client: s3.client }) },
      replicas: { target: 'local' },
      retirement: {
        store,
        backups: backupStore,
        schedules: scheduler,
        graceDays: config.backupGraceDays,
        now,
      },
    });
    const runner = new LocalWorkflowRunner({
      functions: {
        [LOCAL_SUBSTITUTIONS.WorkflowTaskFunctionArn as string]: (input) =>
          workflowTask(input, localLambdaContext('workflow-tasks')),
        [RUN_TASK_SYNC]: (input) => jobs.run(input),
      },
      waitMs: config.waitMs,
      retryMs: config.retryMs,
      onFinished: (workflow, input, outcome) => {
        if (outcome.error)
          logger.warn('workflow ended with an error', { workflow, ...input, error: outcome.error as Error });
      },
    });
    cleanups.push(() => runner.shutdown());

    // Bring back engines first, so that resumed operations find their instances running.
    const addons = await store.scanAddons();
    const live = addons.filter((addon) => LIVE_STATUSES.includes(addon.status));
    await supervisor.resume(live.map((addon) => addon.resourceId));
    await replicas.resume(live.map((addon) => addon.resourceId));
    // Archived addons checked for a due base backup (and, hourly, for retention).
    supervisor.startArchiveMaintenance(config.archiveMaintenanceMs);
    // Metrics: sampled from every running addon; stopped before the engines are.
    const metrics = startLocalMetrics(
      config,
      supervisor,
      (message, extra) => logger.warn(message, { ...extra }),
      replicas,
    );
    cleanups.push(() => metrics.stop());
    const resumed = await resumeOperations({
      store,
      workflows: runner,
      log: (message, extra) => logger.error(message, { ...extra }),
    });

    // An abort stops the execution and, as Step Functions does for runTask.sync, its job.
    const stoppable: WorkflowStarter = {
      start: runner.start.bind(runner),
      stop: async (workflow: WorkflowName, operationId: string, reason: string) => {
        await runner.stop(workflow, operationId, reason);
        await jobs.cancel(operationId);
      },
    };
    const backupService = new BackupService({
      store,
      backups: backupStore,
      workflows: stoppable,
      artifacts,
      snapshotDeleters: EngineRegistry.everyEngine('local snapshots', () => supervisor),
      target: 'local',
      now,
    });
    const importService = new ImportService({
      store,
      imports: importStore,
      uploads,
      workflows: stoppable,
      snapshotDeleters: EngineRegistry.everyEngine('local snapshots', () => supervisor),
      restoreDiscarders: EngineRegistry.everyEngine('local snapshots', () => snapshots),
      target: 'local',
      secrets,
      maxUploadBytes: config.maxUploadBytes,
      multipart: new MultipartUploads({ client: s3.client }),
      multipartThresholdBytes: config.multipartThresholdBytes,
      partSizeBytes: config.partSizeBytes,
      now,
    });
    const service = new AddonService({
      store,
      workflows: runner,
      target: 'local',
      finalBackups: { backups: backupStore, artifacts },
      quotas: config.quotas,
      forks: {
        backups: backupStore,
        windows: EngineRegistry.everyEngine<SnapshotProvider>('local snapshots', () => supervisor),
      },
      imports: { imports: importService, records: importStore, secrets },
      secretGroups: groupServices.secretGroups,
    });
    // Point-in-time recovery: the supervisor's drivers read the window and restore (where `pitr` is on).
    const pitrService = new PitrService({
      store,
      workflows: stoppable,
      windows: EngineRegistry.everyEngine('restorable windows', (): SnapshotProvider => supervisor),
      target: 'local',
      retentionDays: () => config.pitrRetentionDays,
    });
    const scheduleService = new ScheduleService({
      store,
      backups: backupStore,
      runner: scheduler,
      target: 'local',
      quotas: config.quotas,
    });
    const rotations = new CredentialRotationService({ store, secrets, engines, target: 'local', now });
    const networking = new NetworkingService({ store, secrets, engines, target: 'local' });
    const scaling = new ScalingService({ store, workflows: stoppable, target: 'local' });
    const alerts = localAlerts({
      client: documentClient,
      tableName: TABLE_NAME,
      store,
      source: metrics,
      stepSeconds: config.metricsIntervalSeconds,
    });
    const reconciler = createLocalReconciler({
      config,
      store,
      backups: backupStore,
      // The schedule clock: at a faster clock speed, backups fall overdue as fast as schedules fire.
      backupHealth: new BackupHealthMonitor({
        client: documentClient,
        tableName: TABLE_NAME,
        store,
        backups: backupStore,
        events: store.events,
        // The third built-in rule: the point-in-time window against what the addon promises.
        pitr: pitrService,
        alerts: alerts.backupHealth,
        now,
      }),
      executions: { describe: runner.describe.bind(runner), ...stoppable },
      supervisor,
      s3: s3.client,
      bucket: BACKUP_BUCKET,
    });
    scheduler.start(
      {
        alerts,
        backups: backupService,
        schedules: scheduleService,
        reconciler,
        imports: importService,
        rotations,
        secretGroups: groupServices.publisher,
        events: store.events,
        // Storage guard: instances created before their record kept the allocation take the
        // addon's; each change names its addon, for its event.
        storage: {
          run: async () => {
            let addons: Promise<Map<string, AddonRecord>> | undefined;
            const byResource = () =>
              (addons ??= store
                .scanAddons()
                .then((all) => new Map(all.map((addon) => [addon.resourceId, addon]))));
            const pass = await supervisor.checkStorage(
              async (resourceId) => (await byResource()).get(resourceId)?.storageGiB,
            );
            const known = pass.changes.length > 0 ? await byResource() : new Map<string, AddonRecord>();
            return {
              ...pass,
              changes: pass.changes.map((change) => ({ ...change, addon: known.get(change.resourceId) })),
            };
          },
        },
      },
      await backupStore.listAllSchedules(),
    );
    cleanups.push(() => scheduler.stop());
    const cursors = new CursorSigner(fileCursorKey(config.dataDir));
    const handlers: Record<string, ApiLambda> = {
      meta: createMetaHandler({ logger, target: 'local' }),
      catalog: createCatalogHandler({ logger, target: 'local' }),
      addons: createAddonsHandler({
        logger,
        service,
        pitr: pitrService,
        health: new BackupHealthReader({
          backups: backupStore,
          operations: store,
          retention: (addon) => pitrService.retentionDaysOf(addon),
          now,
        }),
        idempotency: dynamoDbIdempotency({ client: dynamo.client, tableName: TABLE_NAME }),
        cursors,
        networking,
        scaling,
        storage: {
          of: async (addon) => ({
            allocatedGiB: addon.storageGiB,
            ...(await supervisor.storageUsage(resourceIdFor(addon.id))),
          }),
        },
        replicas: new ReplicasService({ store, engines, workflows: runner, target: 'local' }),
      }),
      credentials: createCredentialsHandler({
        logger,
        store,
        secrets,
        rotation: rotations,
        groups: groupServices,
        cursors,
        idempotency: dynamoDbIdempotency({ client: dynamo.client, tableName: TABLE_NAME }),
      }),
      operations: createOperationsHandler({
        logger,
        store,
        cursors,
        metrics: new MetricsService({ store, source: metrics }),
        alerts: alerts.rules,
        idempotency: dynamoDbIdempotency({ client: dynamo.client, tableName: TABLE_NAME }),
      }),
      backups: createBackupsHandler({
        logger,
        backups: backupService,
        schedules: scheduleService,
        imports: importService,
        pitr: pitrService,
        exports: new ExportService({ store, backups: backupStore, workflows: stoppable, target: 'local' }),
        upgrades: new UpgradeService({
          store,
          backups: backupStore,
          artifacts,
          workflows: stoppable,
          target: 'local',
        }),
        idempotency: dynamoDbIdempotency({ client: dynamo.client, tableName: TABLE_NAME }),
        cursors,
      }),
    };
    const gateway = new LocalGateway({
      handlers: handlers as never,
      token,
      rateLimiter: new TokenBucketLimiter(config.rateLimit),
      corsOrigins: config.corsOrigins,
      console: { dir: CONSOLE_DIST, storageOrigin: s3.endpoint },
    });
    const url = await gateway.listen(config.port, config.host);
    cleanups.push(() => gateway.close());

    return {
      url,
      token,
      tokenGenerated: generated,
      dataDir: config.dataDir,
      resumed: { addons: live.length, operations: resumed.resumed.length + resumed.failed.length },
      runner,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
};

export const removeDataDir = (dataDir: string) => rm(dataDir, { recursive: true, force: true });
