import { Arn, ArnFormat, Aws, Duration, Stack } from 'aws-cdk-lib';
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
import type { PostgresAddons } from './postgres-addons.ts';
import { ProjectFunction } from './project-function.ts';
import type { Workflows } from './workflows.ts';

export interface SchedulesProps {
  data: Data;
  backups: Backups;
  workflows: Workflows;
  postgres: PostgresAddons;
  /** @default one month */
  logRetention?: RetentionDays;
}

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

  constructor(scope: Construct, id: string, props: SchedulesProps) {
    super(scope, id);
    const { data, backups, workflows, postgres } = props;
    const common = {
      ADDONS_TARGET: 'aws',
      POWERTOOLS_SERVICE_NAME: 'addons-schedules',
      TABLE_NAME: data.table.tableName,
      BACKUP_BUCKET: backups.bucket.bucketName,
    } as const;

    this.groupName = `${Stack.of(this).stackName}-backups`;
    this.group = new CfnScheduleGroup(this, 'Group', { name: this.groupName });

    this.runBackup = new ProjectFunction(this, 'RunBackupFunction', {
      entry: 'functions/schedule/run-backup.ts',
      description: 'Starts the backup of an addon schedule (EventBridge Scheduler target)',
      envSchema: RunBackupFunctionEnvSchema,
      environment: {
        ...common,
        BACKUP_ADDON_STATE_MACHINE_ARN: workflows.stateMachine('backup-addon').stateMachineArn,
      },
      timeout: Duration.seconds(30),
      logRetention: props.logRetention,
    });
    data.grantStore(this.runBackup, ['GetItem', 'PutItem', 'UpdateItem']);
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

    this.sweep = new ProjectFunction(this, 'SweepFunction', {
      entry: 'functions/schedule/sweep.ts',
      description: 'Retention: deletes the backups whose retention ran out (hourly)',
      envSchema: SweepFunctionEnvSchema,
      environment: common,
      // Each expired backup is an S3 or RDS delete and a DynamoDB delete; hundreds fit.
      timeout: Duration.minutes(5),
      logRetention: props.logRetention,
    });
    data.grantStore(this.sweep, ['Query', 'DeleteItem']);
    backups.grantArtifacts(this.sweep, ['DeleteObject']);
    postgres.grantSnapshotDeletion(this.sweep);
    new Rule(this, 'SweepRule', {
      description: 'Backup retention sweep',
      schedule: Schedule.rate(Duration.hours(1)),
      targets: [
        new LambdaFunction(this.sweep.function, { retryAttempts: 2, maxEventAge: Duration.hours(1) }),
      ],
    });
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
