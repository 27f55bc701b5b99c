import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { documentClient } from '#functions/api/aws-clients.ts';
import { logger as defaultLogger } from '#functions/api/logger.ts';
import { lazyHandler } from '#shared/api/http-handler.ts';
import { parsePart } from '#shared/api/zod-issues.ts';
import { parseEnv, RunBackupFunctionEnvSchema } from '#shared/config/env.ts';
import { errorMessage, TransientError } from '#shared/errors.ts';
import type { ScheduleRunner } from '#shared/ports/schedule-runner.ts';
import { awsSnapshotDeleters } from '#shared/providers/aws/engines.ts';
import { SfnWorkflowStarter } from '#shared/providers/aws/sfn-workflow-starter.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import { ScheduleService } from '#shared/services/schedule-service.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { BackupStore } from '#shared/store/backup-store.ts';

/** The input every EventBridge Scheduler schedule sends (EventBridgeScheduleRunner). */
export const ScheduledBackupEventSchema = z.object({
  projectId: z.string().check(z.minLength(1)),
  addonId: z.string().check(z.minLength(1)),
  scheduleId: z.string().check(z.minLength(1)),
  /**
   * When the firing was due: EventBridge Scheduler fills in `<aws.scheduler.scheduled-time>`.
   * Schedules written before it was in the input fall back to the time of invocation.
   */
  scheduledTime: z.optional(z.iso.datetime({ offset: true })),
});

export type RunBackupResult =
  | { outcome: 'started'; backupId: string }
  | { outcome: 'skipped'; reason: string }
  | { outcome: 'duplicate'; backupId: string }
  | { outcome: 'failed-to-start'; reason: string }
  | { outcome: 'no-schedule' | 'disabled' };

export interface RunBackupDeps {
  logger: Logger;
  backups: BackupService;
  schedules: ScheduleService;
  store: BackupStore;
  now?: () => Date;
}

/**
 * The target of every backup schedule: read the schedule as it is now (an edit since the
 * schedule was written to EventBridge wins), start the backup, and record what came of it on
 * the schedule. The backup id comes from the schedule and its scheduled time, so a retry or a
 * duplicate delivery of the same firing creates nothing more. An operation in flight makes the
 * run a recorded skip: a normal outcome. A start that Step Functions throttled (a scheduled
 * fan-out) is thrown: Lambda delivers the firing again, which resumes that backup under the same
 * execution name. Any other run that cannot start is recorded, and not thrown: a retry would
 * fail the same way.
 */
export const createRunBackupHandler = (deps: RunBackupDeps) => {
  const now = deps.now ?? (() => new Date());
  const run = async (event: unknown): Promise<RunBackupResult> => {
    const ref = parsePart(ScheduledBackupEventSchema, event, 'scheduled backup event');
    deps.logger.appendKeys({ ...ref });
    const at = ref.scheduledTime ? new Date(ref.scheduledTime) : now();
    const schedule = await deps.store.findSchedule(ref.projectId, ref.addonId, ref.scheduleId);
    if (!schedule) {
      deps.logger.warn('the schedule no longer exists; nothing to back up');
      return { outcome: 'no-schedule' };
    }
    if (!schedule.enabled) return { outcome: 'disabled' };
    let result: RunBackupResult;
    try {
      result = await deps.backups.runScheduled(schedule, at);
    } catch (error) {
      if (error instanceof TransientError) {
        // Throttled (a scheduled fan-out): Lambda delivers the event again, which resumes it.
        deps.logger.warn('the scheduled backup start was throttled; the firing will be retried', {
          error: error as Error,
        });
        throw error;
      }
      deps.logger.error('the scheduled backup could not start', { error: error as Error });
      result = { outcome: 'failed-to-start', reason: errorMessage(error) };
    }
    if (result.outcome === 'duplicate') {
      deps.logger.info('this firing already has its backup; nothing to do', { ...result });
      return result;
    }
    await deps.schedules.recordRun(schedule, result, at);
    deps.logger.info('scheduled backup', { ...result });
    return result;
  };
  return middy(run).use(injectLambdaContext(deps.logger, { resetKeys: true }));
};

/** This function never changes schedules; only the backups API does. */
const noScheduleChanges: ScheduleRunner = {
  upsert: () => Promise.reject(new Error('The run-backup function does not change schedules')),
  remove: () => Promise.reject(new Error('The run-backup function does not change schedules')),
};

/** How run-backup's Step Functions client retries: the SDK's standard strategy, 3 attempts. */
export const RUN_BACKUP_SFN_CLIENT_CONFIG = {};

/** The AWS clients run-backup calls through; an execution environment makes them once. */
export interface RunBackupClients {
  documentClient: DynamoDBDocumentClient;
  sfn: SFNClient;
  s3: S3Client;
  rds: () => RDSClient;
}

/** run-backup's composition root, given its environment and clients (the simulation builds it too). */
export const composeRunBackup = (
  env: z.infer<typeof RunBackupFunctionEnvSchema>,
  clients: RunBackupClients,
  logger: Logger = defaultLogger,
) => {
  const client = clients.documentClient;
  const store = new AddonStore({ client, tableName: env.TABLE_NAME });
  const backups = new BackupStore({ client, tableName: env.TABLE_NAME });
  return createRunBackupHandler({
    logger,
    store: backups,
    backups: new BackupService({
      store,
      backups,
      workflows: new SfnWorkflowStarter({
        client: clients.sfn,
        stateMachineArns: { 'backup-addon': env.BACKUP_ADDON_STATE_MACHINE_ARN },
      }),
      // Only names artifacts and deletes snapshots when a start fails: no call is sent otherwise.
      artifacts: new BackupArtifacts({ client: clients.s3, bucket: env.BACKUP_BUCKET }),
      snapshotDeleters: awsSnapshotDeleters(clients.rds),
      target: env.ADDONS_TARGET,
    }),
    schedules: new ScheduleService({ store, backups, runner: noScheduleChanges, target: env.ADDONS_TARGET }),
  });
};

export const handler: (event: unknown, context: Context) => Promise<RunBackupResult> = lazyHandler(() =>
  composeRunBackup(parseEnv(RunBackupFunctionEnvSchema), {
    documentClient: documentClient(),
    sfn: new SFNClient(RUN_BACKUP_SFN_CLIENT_CONFIG),
    s3: new S3Client({}),
    rds: () => new RDSClient({}),
  }),
);
