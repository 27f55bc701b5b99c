import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { documentClient } from '#functions/api/aws-clients.ts';
import { logger as defaultLogger } from '#functions/api/logger.ts';
import { lazyHandler } from '#shared/api/http-handler.ts';
import { parseEnv, SweepFunctionEnvSchema } from '#shared/config/env.ts';
import { awsSnapshotDeleters } from '#shared/providers/aws/engines.ts';
import { liveImportSecrets } from '#shared/providers/aws/live-import-secrets.ts';
import { SfnWorkflowStarter } from '#shared/providers/aws/sfn-workflow-starter.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { ImportUploads } from '#shared/providers/import-uploads.ts';
import { BackupService, type SweepOutcome } from '#shared/services/backup-service.ts';
import { ImportService } from '#shared/services/import-service.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { BackupStore } from '#shared/store/backup-store.ts';
import { ImportStore } from '#shared/store/import-store.ts';

export interface SweepResult {
  deleted: number;
  failed: SweepOutcome['failed'];
}

/**
 * The retention sweep, hourly (an EventBridge rule): every unpinned backup whose retention ran
 * out loses its data (S3 artifact or RDS snapshot), then its record; it pages through all of
 * them. A backup that cannot be deleted is logged as an error, does not stop the others, and is
 * tried again at the next sweep.
 */
export const createSweepHandler = (deps: {
  logger: Logger;
  backups: BackupService;
  /** Imports past their expiry go with their uploaded files. */
  imports?: Pick<ImportService, 'sweepExpired'>;
}) => {
  const run = async (): Promise<SweepResult> => {
    const { deleted, failed } = await deps.backups.sweepExpired();
    if (deleted.length > 0) deps.logger.info('retention deleted expired backups', { backups: deleted });
    for (const failure of failed) deps.logger.error('retention could not delete a backup', { ...failure });
    const imports = await deps.imports?.sweepExpired();
    if (imports?.deleted.length) deps.logger.info('expired imports deleted', { imports: imports.deleted });
    for (const failure of imports?.failed ?? [])
      deps.logger.error('could not delete an expired import', { ...failure });
    return { deleted: deleted.length, failed };
  };
  return middy(run).use(injectLambdaContext(deps.logger, { resetKeys: true }));
};

export const handler: (event: unknown, context: Context) => Promise<SweepResult> = lazyHandler(() => {
  const env = parseEnv(SweepFunctionEnvSchema);
  const client = documentClient();
  return createSweepHandler({
    logger: defaultLogger,
    backups: new BackupService({
      store: new AddonStore({ client, tableName: env.TABLE_NAME }),
      backups: new BackupStore({ client, tableName: env.TABLE_NAME }),
      // The sweep starts no workflow.
      workflows: new SfnWorkflowStarter({ client: new SFNClient({}), stateMachineArns: {} }),
      artifacts: new BackupArtifacts({ client: new S3Client({}), bucket: env.BACKUP_BUCKET }),
      snapshotDeleters: awsSnapshotDeleters(() => new RDSClient({})),
      target: env.ADDONS_TARGET,
    }),
    imports: new ImportService({
      store: new AddonStore({ client, tableName: env.TABLE_NAME }),
      imports: new ImportStore({ client, tableName: env.TABLE_NAME }),
      uploads: new ImportUploads({ client: new S3Client({}), bucket: env.BACKUP_BUCKET }),
      workflows: new SfnWorkflowStarter({ client: new SFNClient({}), stateMachineArns: {} }),
      snapshotDeleters: awsSnapshotDeleters(() => new RDSClient({})),
      target: env.ADDONS_TARGET,
      secrets: liveImportSecrets(env),
    }),
  });
});
