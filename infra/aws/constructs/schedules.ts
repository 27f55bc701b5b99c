import { Arn, ArnFormat, Aws, Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { RunBackupFunctionEnvSchema, SweepFunctionEnvSchema } from '#shared/config/env.ts';
import { acknowledgeNag, nagArn } from '../nag.ts';
import type { Backups } from './backups.ts';
import type { Data } from './data.ts';
import { DeadLetters } from './dead-letters.ts';
import type { AddonEngine } from './engines/addon-engine.ts';
import { grantLiveImportSecrets } from './live-imports.ts';
import { ProjectFunction } from './project-function.ts';
import type { Workflows } from './workflows.ts';

export interface SchedulesProps {
  data: Data;
  backups: Backups;
  workflows: Workflows;
  /** The engines the stack deploys: the retention sweep deletes their snapshot backups. */
  engines: readonly AddonEngine[];
  /** @default one month */
  logRetention?: RetentionDays;
}

/** run-backup's limits and retries (the scheduled fan-out simulation models them). */
export const RUN_BACKUP_FUNCTION = {
  timeoutSeconds: 30,
  /** None is reserved: it shares the account's unreserved concurrency (1,000 by default). */
  concurrency: 1000,
  retryAttempts: 2,
  maxEventAgeSeconds: 3600,
} as const;

/** The deployment's EventBridge Scheduler group: the workflows delete a deleted addon's schedules in it. */
export const scheduleGroupNameOf = (scope: Construct): string => `${Stack.of(scope).stackName}-backups`;

/**
 * Backup schedules and retention. Each addon backup schedule is an EventBridge Scheduler
 * schedule in this deployment's group, created by the backups API at run time; every schedule
 * invokes the run-backup function through a role that may invoke only it. The retention sweep
 * runs hourly on an EventBridge rule.
 */
export class Schedules extends Construct {
  readonly group: CfnScheduleGroup;
  readonly groupName: string;
  readonly schedulerRole: iam.Role;
  readonly runBackup: ProjectFunction<typeof RunBackupFunctionEnvSchema>;
  readonly sweep: ProjectFunction<typeof SweepFunctionEnvSchema>;
  /** Where a schedule firing goes when EventBridge Scheduler could not invoke run-backup. */
  readonly scheduleDeadLetters: DeadLetters;
  readonly runBackupDeadLetters: DeadLetters;
  readonly sweepDeadLetters: DeadLetters;
  readonly errorAlarms: Alarm[];

  constructor(scope: Construct, id: string, props: SchedulesProps) {
    super(scope, id);
    const { data, backups, workflows, engines } = props;
    const common = {
      ADDONS_TARGET: 'aws',
      POWERTOOLS_SERVICE_NAME: 'addons-schedules',
      TABLE_NAME: data.table.tableName,
      BACKUP_BUCKET: backups.bucket.bucketName,
    } as const;

    this.groupName = scheduleGroupNameOf(this);
    this.group = new CfnScheduleGroup(this, 'Group', { name: this.groupName });

    this.runBackup = new ProjectFunction(this, 'RunBackupFunction', {
      entry: 'functions/schedule/run-backup.ts',
      description: 'Starts the backup of an addon schedule (EventBridge Scheduler target)',
      envSchema: RunBackupFunctionEnvSchema,
      environment: {
        ...common,
        BACKUP_ADDON_STATE_MACHINE_ARN: workflows.stateMachine('backup-addon').stateMachineArn,
      },
      timeout: Duration.seconds(RUN_BACKUP_FUNCTION.timeoutSeconds),
      logRetention: props.logRetention,
    });
    data.grantStore(this.runBackup, ['GetItem', 'PutItem', 'UpdateItem']);
    // Deleting an addon deletes its schedules (delete-addon's RemoveSchedules step).
    this.grantDeleteSchedules(workflows.taskFunction);
    workflows.stateMachine('backup-addon').grantStartExecution(this.runBackup);

    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: 'EventBridge Scheduler: invokes the run-backup function, nothing else',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          // Confused deputy: only schedules of this account, in this deployment's group.
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': this.scheduleArns() },
        },
      }),
    });
    this.runBackup.function.grantInvokeLatestVersion(this.schedulerRole);
    this.scheduleDeadLetters = new DeadLetters(this, 'ScheduleDeadLetters', {
      description: 'A backup schedule firing could not invoke run-backup',
      data,
    });
    this.scheduleDeadLetters.grantSend(this.schedulerRole);
    // Scheduler invokes its Lambda target asynchronously: a run that throws twice more goes here.
    this.runBackupDeadLetters = new DeadLetters(this, 'RunBackupDeadLetters', {
      description: 'The run-backup function failed on a schedule firing',
      data,
    });
    this.runBackup.function.configureAsyncInvoke({
      onFailure: this.runBackupDeadLetters,
      retryAttempts: RUN_BACKUP_FUNCTION.retryAttempts,
      maxEventAge: Duration.seconds(RUN_BACKUP_FUNCTION.maxEventAgeSeconds),
    });

    this.sweep = new ProjectFunction(this, 'SweepFunction', {
      entry: 'functions/schedule/sweep.ts',
      description: 'Retention: deletes the backups whose retention ran out (hourly)',
      envSchema: SweepFunctionEnvSchema,
      // An expired live import's connection string is deleted with it.
      environment: { ...common, SECRET_NAME_PREFIX: data.secretNamePrefix },
      // Each expired backup is an S3 or RDS delete and a DynamoDB delete; hundreds fit.
      timeout: Duration.minutes(5),
      logRetention: props.logRetention,
    });
    data.grantStore(this.sweep, ['Query', 'DeleteItem']);
    backups.grantArtifacts(this.sweep, ['DeleteObject']);
    backups.grantImports(this.sweep, ['DeleteObject']);
    grantLiveImportSecrets(data, this.sweep, 'delete');
    for (const engine of engines) engine.grantSnapshotDeletion(this.sweep);
    this.sweepDeadLetters = new DeadLetters(this, 'SweepDeadLetters', {
      description: 'The retention sweep failed',
      data,
    });
    this.sweep.function.configureAsyncInvoke({
      onFailure: this.sweepDeadLetters,
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
    });
    new Rule(this, 'SweepRule', {
      description: 'Backup retention sweep',
      schedule: Schedule.rate(Duration.hours(1)),
      targets: [
        new LambdaFunction(this.sweep.function, { retryAttempts: 2, maxEventAge: Duration.hours(1) }),
      ],
    });
    // A sweep that could not delete a backup still succeeds (it logs the backup); errors here
    // mean a run failed as a whole, as do run-backup's.
    this.errorAlarms = [this.runBackup, this.sweep].map(
      (fn) =>
        new Alarm(fn, 'ErrorsAlarm', {
          alarmDescription: `${fn.node.id} failed`,
          metric: fn.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
    );
  }

  /** Schedules of this deployment's group. */
  scheduleArns(): string {
    return Arn.format(
      {
        service: 'scheduler',
        resource: 'schedule',
        resourceName: `${this.groupName}/*`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      },
      Stack.of(this),
    );
  }

  /** Delete schedules of the group, and nothing else. */
  grantDeleteSchedules(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['scheduler:DeleteSchedule'],
      resourceArns: [this.scheduleArns()],
    });
    acknowledgeNag(
      grantee,
      `IAM5[Resource::${nagArn('scheduler', `schedule/${this.groupName}/*`)}]`,
      'Deleting an addon deletes its schedules, named at run time, in this deployment’s schedule group only',
    );
  }

  /** Create, update and delete schedules in the group, passing the scheduler role to them. */
  grantManageSchedules(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['scheduler:CreateSchedule', 'scheduler:UpdateSchedule', 'scheduler:DeleteSchedule'],
      resourceArns: [this.scheduleArns()],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['iam:PassRole'],
      resourceArns: [this.schedulerRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
    });
    acknowledgeNag(
      grantee,
      `IAM5[Resource::${nagArn('scheduler', `schedule/${this.groupName}/*`)}]`,
      'One schedule per addon backup schedule, created at run time in this deployment’s schedule group only',
    );
  }
}
