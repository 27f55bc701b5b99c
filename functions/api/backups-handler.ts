import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient } from '@aws-sdk/client-sfn';
import { lazyHandler } from '#shared/api/http-handler.ts';
import { dynamoDbIdempotency } from '#shared/api/idempotency.ts';
import { rateLimiterFromEnv } from '#shared/api/rate-limit.ts';
import { BackupsFunctionEnvSchema, parseEnv } from '#shared/config/env.ts';
import { awsRestorableWindows, awsSnapshotDeleters } from '#shared/providers/aws/engines.ts';
import { EventBridgeScheduleRunner } from '#shared/providers/aws/eventbridge-schedule-runner.ts';
import { liveImportSecrets } from '#shared/providers/aws/live-import-secrets.ts';
import { SfnWorkflowStarter } from '#shared/providers/aws/sfn-workflow-starter.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { MultipartUploads } from '#shared/providers/import-multipart.ts';
import { ImportUploads } from '#shared/providers/import-uploads.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import { ExportService } from '#shared/services/export-service.ts';
import { ImportService } from '#shared/services/import-service.ts';
import { PitrService } from '#shared/services/pitr-service.ts';
import { ScheduleService } from '#shared/services/schedule-service.ts';
import { UpgradeService } from '#shared/services/upgrade-service.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { BackupStore } from '#shared/store/backup-store.ts';
import { ImportStore } from '#shared/store/import-store.ts';
import { cursorSigner, documentClient, dynamoClient } from './aws-clients.ts';
import { createBackupsHandler } from './backups.ts';
import { logger } from './logger.ts';

/**
 * The AWS entry point of the backups API: backups start the backup-addon and restore-addon
 * state machines, dump artifacts live in the backup bucket (download links are presigned with
 * this function's role), snapshots are only ever deleted from here, and schedules are
 * EventBridge Scheduler schedules that invoke the run-backup function.
 */
export const handler = lazyHandler(() => {
  const env = parseEnv(BackupsFunctionEnvSchema);
  const client = documentClient();
  const store = new AddonStore({ client, tableName: env.TABLE_NAME });
  const backups = new BackupStore({ client, tableName: env.TABLE_NAME });
  const service = new BackupService({
    store,
    backups,
    workflows: new SfnWorkflowStarter({
      client: new SFNClient({}),
      stateMachineArns: {
        'backup-addon': env.BACKUP_ADDON_STATE_MACHINE_ARN,
        'restore-addon': env.RESTORE_ADDON_STATE_MACHINE_ARN,
      },
    }),
    artifacts: new BackupArtifacts({ client: new S3Client({}), bucket: env.BACKUP_BUCKET }),
    snapshotDeleters: awsSnapshotDeleters(() => new RDSClient({})),
    target: env.ADDONS_TARGET,
  });
  // No default CRC32 of the (empty) body in presigned PUTs: S3 would refuse the real upload.
  const uploadClient = new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED' });
  const imports = new ImportService({
    store,
    imports: new ImportStore({ client, tableName: env.TABLE_NAME }),
    uploads: new ImportUploads({ client: uploadClient, bucket: env.BACKUP_BUCKET }),
    multipart: new MultipartUploads({ client: uploadClient }),
    maxUploadBytes: env.ADDONS_MAX_UPLOAD_BYTES,
    multipartThresholdBytes: env.ADDONS_MULTIPART_THRESHOLD_BYTES,
    partSizeBytes: env.ADDONS_UPLOAD_PART_BYTES,
    workflows: new SfnWorkflowStarter({
      client: new SFNClient({}),
      stateMachineArns: { 'restore-addon': env.RESTORE_ADDON_STATE_MACHINE_ARN },
    }),
    snapshotDeleters: awsSnapshotDeleters(() => new RDSClient({})),
    target: env.ADDONS_TARGET,
    secrets: liveImportSecrets(env),
  });
  const pitr = new PitrService({
    store,
    workflows: new SfnWorkflowStarter({
      client: new SFNClient({}),
      stateMachineArns: { 'restore-addon': env.RESTORE_ADDON_STATE_MACHINE_ARN },
    }),
    windows: awsRestorableWindows(() => new RDSClient({})),
    target: env.ADDONS_TARGET,
  });
  const exports = new ExportService({
    store,
    backups,
    workflows: new SfnWorkflowStarter({
      client: new SFNClient({}),
      stateMachineArns: { 'export-backup': env.EXPORT_BACKUP_STATE_MACHINE_ARN },
    }),
    target: env.ADDONS_TARGET,
  });
  const upgrades = new UpgradeService({
    store,
    backups,
    artifacts: new BackupArtifacts({ client: new S3Client({}), bucket: env.BACKUP_BUCKET }),
    workflows: new SfnWorkflowStarter({
      client: new SFNClient({}),
      stateMachineArns: { 'upgrade-addon': env.UPGRADE_ADDON_STATE_MACHINE_ARN },
    }),
    target: env.ADDONS_TARGET,
  });
  const schedules = new ScheduleService({
    store,
    backups,
    runner: new EventBridgeScheduleRunner({
      client: new SchedulerClient({}),
      groupName: env.SCHEDULE_GROUP_NAME,
      targetArn: env.SCHEDULE_TARGET_ARN,
      roleArn: env.SCHEDULE_ROLE_ARN,
      deadLetterArn: env.SCHEDULE_DEAD_LETTER_ARN,
    }),
    target: env.ADDONS_TARGET,
    quotas: {
      schedulesPerAddon: env.MAX_SCHEDULES_PER_ADDON,
      minScheduleIntervalMinutes: env.MIN_SCHEDULE_INTERVAL_MINUTES,
    },
  });
  return createBackupsHandler({
    logger,
    rateLimiter: rateLimiterFromEnv(env),
    backups: service,
    schedules,
    imports,
    pitr,
    exports,
    upgrades,
    idempotency: dynamoDbIdempotency({ client: dynamoClient(), tableName: env.TABLE_NAME }),
    cursors: cursorSigner(env.CURSOR_SECRET_ARN),
  });
});
