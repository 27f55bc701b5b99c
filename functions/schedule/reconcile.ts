import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { DocDBClient } from '@aws-sdk/client-docdb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { documentClient } from '#functions/api/aws-clients.ts';
import { logger as defaultLogger } from '#functions/api/logger.ts';
import { lazyHandler } from '#shared/api/http-handler.ts';
import { parseEnv, ReconcileFunctionEnvSchema } from '#shared/config/env.ts';
import { errorMessage } from '#shared/errors.ts';
import { AlertAlarmLeftovers } from '#shared/providers/aws/alert-leftovers.ts';
import { awsAlertServices } from '#shared/providers/aws/alerts.ts';
import {
  RdsInstanceLeftovers,
  RdsSnapshotLeftovers,
  ScheduleLeftovers,
  SecretLeftovers,
  SecurityGroupLeftovers,
} from '#shared/providers/aws/aws-leftovers.ts';
import { BastionAccess, type BastionAccessSummary } from '#shared/providers/aws/bastion-access.ts';
import { awsRestorableWindows } from '#shared/providers/aws/engines.ts';
import { DocdbClusterLeftovers, DocdbSnapshotLeftovers } from '#shared/providers/aws/mongodb/index.ts';
import {
  ElastiCacheGroupLeftovers,
  ElastiCacheSnapshotLeftovers,
  ElastiCacheUserLeftovers,
} from '#shared/providers/aws/redis/redis-leftovers.ts';
import { awsSecretGroupServices } from '#shared/providers/aws/secret-groups.ts';
import { SfnExecutions } from '#shared/providers/aws/sfn-executions.ts';
import { DumpObjectLeftovers } from '#shared/providers/dump-leftovers.ts';
import { AlertSweep } from '#shared/services/alert-alarm-sync.ts';
import { AlertDispatcher } from '#shared/services/alert-dispatcher.ts';
import { AlertNotifier } from '#shared/services/alert-notifier.ts';
import { BackupHealthAlerts } from '#shared/services/backup-health-alerts.ts';
import { BackupHealthMonitor } from '#shared/services/backup-health-monitor.ts';
import { CredentialRotationService } from '#shared/services/credential-rotation.ts';
import { PitrService, planRetentionDays } from '#shared/services/pitr-service.ts';
import { Reconciler, type ReconcileSummary } from '#shared/services/reconciler.ts';
import { deadlinesFrom } from '#shared/services/reconciler-policy.ts';
import type { SecretGroupPublisher } from '#shared/services/secret-group-publisher.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { BackupStore } from '#shared/store/backup-store.ts';

/** What the EventBridge rules send: the frequent rule checks operations, the hourly one also leftovers. */
export const ReconcileEventSchema = z.looseObject({ leftovers: z._default(z.boolean(), false) });

/**
 * The reconciler (EventBridge rules): fails operations past their deadline, starts again those
 * whose workflow never started, releases orphaned locks and, hourly, removes this deployment's
 * leftovers. Everything it did is logged and counted (CloudWatch metrics, EMF).
 */
export const createReconcileHandler = (deps: {
  logger: Logger;
  metrics: Metrics;
  reconciler: Reconciler;
  /** Re-publishes stale secret groups (a missed hook, a crash between an addon's change and it). */
  secretGroups?: Pick<SecretGroupPublisher, 'sweep'>;
  /** Alert deliveries due and changes a crash left unannounced; hourly, the alarms of every rule. */
  alerts?: Pick<AlertSweep, 'run'>;
  /** The bastion's rule in every addon group while there is a bastion, in none without (bastion-access.ts). */
  bastion?: Pick<BastionAccess, 'converge'>;
  /** Credential rotations past their deadline: their rotate-credentials workflow retires them. */
  rotations?: Pick<CredentialRotationService, 'sweep'>;
}) => {
  const run = async (event: unknown): Promise<ReconcileSummary & { bastion?: BastionAccessSummary }> => {
    const { leftovers } = ReconcileEventSchema.parse(event ?? {});
    const summary: ReconcileSummary & { bastion?: BastionAccessSummary } = await deps.reconciler.run({
      leftovers,
    });
    if (deps.bastion) {
      try {
        const converged = await deps.bastion.converge();
        summary.bastion = converged;
        deps.metrics.addMetric(
          'BastionRulesChanged',
          MetricUnit.Count,
          converged.admitted.length + converged.revoked.length,
        );
        for (const rule of converged.admitted)
          deps.logger.info('bastion admitted in an addon group', { rule });
        for (const rule of converged.revoked) deps.logger.info('former bastion rule revoked', { rule });
        for (const failed of converged.failed)
          deps.logger.warn('addon group not converged to the bastion yet', failed);
      } catch (error) {
        summary.errors.push({ step: 'bastion', reason: errorMessage(error) });
      }
    }
    if (deps.secretGroups) {
      try {
        const swept = await deps.secretGroups.sweep();
        summary.secretGroups = swept;
        deps.metrics.addMetric('SecretGroupsRepublished', MetricUnit.Count, swept.published.length);
        for (const id of swept.published) deps.logger.warn('stale secret group published again', { id });
        for (const failed of swept.failed) deps.logger.warn('secret group not published yet', failed);
      } catch (error) {
        summary.errors.push({ step: 'secret-groups', reason: errorMessage(error) });
      }
    }
    if (deps.rotations) {
      try {
        summary.rotationsRetired = await deps.rotations.sweep();
        for (const addonId of summary.rotationsRetired)
          deps.logger.info('credential rotation past its deadline: retiring', { addonId });
      } catch (error) {
        summary.errors.push({ step: 'credential-rotations', reason: errorMessage(error) });
      }
    }
    if (deps.alerts) {
      try {
        const swept = await deps.alerts.run({ alarms: leftovers });
        summary.alerts = swept;
        deps.metrics.addMetric('AlertDeliveriesFailed', MetricUnit.Count, swept.failed.length);
        for (const error of swept.errors) deps.logger.warn('alert rule alarms not synced', error);
      } catch (error) {
        summary.errors.push({ step: 'alerts', reason: errorMessage(error) });
      }
    }
    const count = (name: string, value: number) => deps.metrics.addMetric(name, MetricUnit.Count, value);
    count('OperationsFailed', summary.operations.failed.length);
    count('OperationsRestarted', summary.operations.restarted.length);
    count('LocksReleased', summary.locks.released.length);
    count('EventsRepublished', summary.events.republished.length);
    count('BackupHealthChanges', summary.events.backupHealth.length);
    count('LeftoversRemoved', summary.leftovers.removed.length);
    count('LeftoversKept', summary.leftovers.kept.length);
    count('LeftoverRemovalsFailed', summary.leftovers.failed.length);
    count('ReconcilerErrors', summary.errors.length);
    for (const failed of summary.operations.failed)
      deps.logger.warn('operation failed by the reconciler', failed);
    for (const operationId of summary.operations.restarted)
      deps.logger.warn('operation started again: its workflow never started', { operationId });
    for (const released of summary.locks.released) deps.logger.warn('orphaned addon lock released', released);
    for (const operationId of summary.events.republished)
      deps.logger.warn('events of an ended operation written by the reconciler', { operationId });
    for (const change of summary.events.backupHealth)
      deps.logger.info('backup health changed', { ...change });
    for (const removed of summary.leftovers.removed) deps.logger.info('leftover removed', removed);
    for (const kept of summary.leftovers.kept) deps.logger.error('leftover kept for an operator', kept);
    for (const failed of summary.leftovers.failed) deps.logger.warn('leftover not removed yet', failed);
    for (const error of summary.errors) deps.logger.error('reconciler step failed', error);
    return summary;
  };
  return middy(run)
    .use(injectLambdaContext(deps.logger, { resetKeys: true }))
    .use(logMetrics(deps.metrics));
};

export const handler: (event: unknown, context: Context) => Promise<ReconcileSummary> = lazyHandler(() => {
  const env = parseEnv(ReconcileFunctionEnvSchema);
  const client = documentClient();
  const rds = new RDSClient({});
  const docdb = new DocDBClient({});
  const elasticache = new ElastiCacheClient({});
  const store = new AddonStore({ client, tableName: env.TABLE_NAME });
  const addons = store;
  const backups = new BackupStore({ client, tableName: env.TABLE_NAME });
  const alerts = awsAlertServices({ env, client, tableName: env.TABLE_NAME, addons: store });
  // Backup-health rules have no alarm: their e-mails go to the rule's topic from here.
  const notifier = new AlertNotifier({ alerts: alerts.alerts, events: store.events, emails: alerts.alarms });
  const executions = new SfnExecutions({
    client: new SFNClient({}),
    stateMachineArns: {
      'provision-addon': env.PROVISION_ADDON_STATE_MACHINE_ARN,
      'delete-addon': env.DELETE_ADDON_STATE_MACHINE_ARN,
      'backup-addon': env.BACKUP_ADDON_STATE_MACHINE_ARN,
      'restore-addon': env.RESTORE_ADDON_STATE_MACHINE_ARN,
      'export-backup': env.EXPORT_BACKUP_STATE_MACHINE_ARN,
      'scale-addon': env.SCALE_ADDON_STATE_MACHINE_ARN,
      'upgrade-addon': env.UPGRADE_ADDON_STATE_MACHINE_ARN,
      'update-replicas': env.UPDATE_REPLICAS_STATE_MACHINE_ARN,
      'update-networking': env.UPDATE_NETWORKING_STATE_MACHINE_ARN,
      'rotate-credentials': env.ROTATE_CREDENTIALS_STATE_MACHINE_ARN,
    },
  });
  const ec2 = new EC2Client({});
  const secretGroups = awsSecretGroupServices({ env, client, addons, logger: defaultLogger });
  return createReconcileHandler({
    // Addons created before `-c bastion=true` get its rule; turned off, every addon loses it.
    bastion: new BastionAccess({
      ec2,
      vpcId: env.VPC_ID,
      deployment: env.DEPLOYMENT_NAME,
      bastionGroupId: env.BASTION_SECURITY_GROUP_ID,
    }),
    // Starts the retiring workflow: the previous password goes at the deadline as with `finish`.
    rotations: new CredentialRotationService({
      store,
      secrets: secretGroups.secrets,
      target: 'aws',
      workflows: executions,
    }),
    alerts: new AlertSweep({
      alerts: alerts.alerts,
      addons: store,
      rules: alerts.rules,
      alarms: alerts.alarms,
      notifier,
      dispatcher: new AlertDispatcher({ alerts: alerts.alerts }),
    }),
    secretGroups: secretGroups.publisher,
    logger: defaultLogger,
    metrics: new Metrics({ namespace: 'Addons', serviceName: env.POWERTOOLS_SERVICE_NAME }),
    reconciler: new Reconciler({
      store,
      backups,
      // The frequent rule evaluates the built-in backup-health rules: a few reads per scheduled addon.
      backupHealth: new BackupHealthMonitor({
        client,
        tableName: env.TABLE_NAME,
        store,
        backups,
        events: store.events,
        // The point-in-time rule: the RDS window (DescribeDBInstances) against the plan's retention.
        pitr: new PitrService({
          store,
          workflows: executions,
          windows: awsRestorableWindows(() => rds),
          target: 'aws',
          retentionDays: planRetentionDays,
        }),
        alerts: new BackupHealthAlerts({ alerts: alerts.alerts, notifier }),
      }),
      executions,
      sources: [
        new RdsInstanceLeftovers({ rds, deployment: env.DEPLOYMENT_NAME }),
        new RdsSnapshotLeftovers({ rds, deployment: env.DEPLOYMENT_NAME }),
        new DocdbClusterLeftovers({ docdb, deployment: env.DEPLOYMENT_NAME }),
        new DocdbSnapshotLeftovers({ docdb, deployment: env.DEPLOYMENT_NAME }),
        // Groups before the user groups they use: ElastiCache refuses a user group still in use.
        new ElastiCacheGroupLeftovers({ elasticache, deployment: env.DEPLOYMENT_NAME }),
        new ElastiCacheUserLeftovers({ elasticache, deployment: env.DEPLOYMENT_NAME }),
        new ElastiCacheSnapshotLeftovers({ elasticache, deployment: env.DEPLOYMENT_NAME }),
        new SecurityGroupLeftovers({
          ec2,
          vpcId: env.VPC_ID,
          deployment: env.DEPLOYMENT_NAME,
        }),
        new SecretLeftovers({ secrets: new SecretsManagerClient({}), prefix: env.SECRET_NAME_PREFIX }),
        new ScheduleLeftovers({ scheduler: new SchedulerClient({}), groupName: env.SCHEDULE_GROUP_NAME }),
        new DumpObjectLeftovers({ client: new S3Client({}), bucket: env.BACKUP_BUCKET }),
        new AlertAlarmLeftovers({
          cloudwatch: alerts.cloudwatch,
          sns: alerts.sns,
          deployment: env.DEPLOYMENT_NAME,
        }),
      ],
      alertRuleExists: async (projectId, ruleId) =>
        (await alerts.alerts.findRule(projectId, ruleId)) !== undefined,
      settings: {
        deadlinesMs: deadlinesFrom('aws', env.OPERATION_DEADLINES),
        startGraceMs: env.START_GRACE_SECONDS * 1000,
        leftoverMinAgeMs: env.LEFTOVER_MIN_AGE_SECONDS * 1000,
      },
    }),
  });
});
