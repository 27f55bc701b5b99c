import {
  CreateScheduleCommand,
  type CreateScheduleCommandInput,
  DeleteScheduleCommand,
  type SchedulerClient,
  UpdateScheduleCommand,
} from '@aws-sdk/client-scheduler';
import type { ScheduleRunner } from '../../ports/schedule-runner.ts';
import type { Schedule } from '../../schemas/backup.ts';
import { timingOf, toCronExpression } from '../../services/schedule-timing.ts';
import { isAwsError, toPlatformError, transientErrors } from './aws-errors.ts';

export interface EventBridgeScheduleRunnerProps {
  client: SchedulerClient;
  /** The deployment's schedule group: IAM scopes the API function to it. */
  groupName: string;
  /** The run-backup function every schedule invokes. */
  targetArn: string;
  /** The role EventBridge Scheduler assumes to invoke it (may invoke only that function). */
  roleArn: string;
  /** The SQS queue that receives a firing whose invocation kept failing (an alarm watches it). */
  deadLetterArn: string;
}

/** What run-backup receives: it reads the schedule itself, so an edit needs no new payload. */
export interface ScheduledBackupEvent {
  projectId: string;
  addonId: string;
  scheduleId: string;
  /** Filled in by EventBridge Scheduler at each firing: the backup id derives from it. */
  scheduledTime: string;
}

/**
 * Each firing is invoked within this many minutes after its scheduled time: EventBridge
 * Scheduler disperses the invocations over the window, so thousands of schedules due in the
 * same minute reach run-backup, Step Functions and DynamoDB spread out instead of all at once
 * (docs/performance.md, "Scheduled fan-out"). The backup id still derives from the scheduled
 * time, which the window does not change.
 */
export const SCHEDULE_FLEXIBLE_WINDOW_MINUTES = 4;

/** A context attribute EventBridge Scheduler substitutes in the target input. */
const SCHEDULED_TIME = '<aws.scheduler.scheduled-time>';

/**
 * Addon backup schedules as EventBridge Scheduler schedules, one per addon schedule, named after
 * the schedule id in the deployment's group. A disabled schedule is kept with state DISABLED,
 * so enabling it again is an update.
 *
 * - Cron in UTC (`toCronExpression`), with a flexible window of `SCHEDULE_FLEXIBLE_WINDOW_MINUTES`:
 *   a backup due at 02:00 starts between 02:00 and 02:04.
 * - Retries: a missed invocation is retried for up to an hour, never later; a backup started
 *   much later than planned would only collide with the next one (which is then a recorded skip).
 *   A firing still undelivered then goes to the dead-letter queue. Retries and duplicates are
 *   harmless: the input carries the scheduled time, and the backup id derives from it.
 * - `ActionAfterCompletion: NONE`: recurring schedules never complete; nothing to delete.
 */
export class EventBridgeScheduleRunner implements ScheduleRunner {
  private readonly send: SchedulerClient['send'];

  constructor(private readonly props: EventBridgeScheduleRunnerProps) {
    this.send = transientErrors(props.client, 'EventBridge Scheduler');
  }

  /** Schedule names allow letters, digits, `-`, `_` and `.`, 1 to 64: schedule ids are such names. */
  scheduleName(schedule: Pick<Schedule, 'id'>): string {
    return schedule.id;
  }

  definitionOf(schedule: Schedule): CreateScheduleCommandInput {
    const input: ScheduledBackupEvent = {
      projectId: schedule.projectId,
      addonId: schedule.addonId,
      scheduleId: schedule.id,
      scheduledTime: SCHEDULED_TIME,
    };
    return {
      Name: this.scheduleName(schedule),
      GroupName: this.props.groupName,
      Description: `${schedule.interval} ${schedule.type} backup of addon ${schedule.addonId} (project ${schedule.projectId})`,
      ScheduleExpression: toCronExpression(timingOf(schedule)),
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'FLEXIBLE', MaximumWindowInMinutes: SCHEDULE_FLEXIBLE_WINDOW_MINUTES },
      State: schedule.enabled ? 'ENABLED' : 'DISABLED',
      ActionAfterCompletion: 'NONE',
      Target: {
        Arn: this.props.targetArn,
        RoleArn: this.props.roleArn,
        Input: JSON.stringify(input),
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: this.props.deadLetterArn },
      },
    };
  }

  /** Create, or update the schedule a previous attempt (or the first save) created. */
  async upsert(schedule: Schedule): Promise<void> {
    const definition = this.definitionOf(schedule);
    try {
      await this.send(new CreateScheduleCommand(definition));
      return;
    } catch (error) {
      if (!isAwsError(error, 'Conflict')) throw toPlatformError(error, 'creating the backup schedule');
    }
    try {
      await this.send(new UpdateScheduleCommand(definition));
    } catch (error) {
      throw toPlatformError(error, 'updating the backup schedule');
    }
  }

  remove(schedule: Pick<Schedule, 'id' | 'projectId' | 'addonId'>): Promise<void> {
    return new EventBridgeScheduleRemover(this.props).remove(schedule);
  }
}

/**
 * Only the removal of schedules, for the delete workflow: it needs the group and a client, not
 * the target and role that creating a schedule takes. An absent schedule is already removed.
 */
export class EventBridgeScheduleRemover implements Pick<ScheduleRunner, 'remove'> {
  private readonly send: SchedulerClient['send'];

  constructor(private readonly props: { client: SchedulerClient; groupName: string }) {
    this.send = transientErrors(props.client, 'EventBridge Scheduler');
  }

  async remove(schedule: Pick<Schedule, 'id'>): Promise<void> {
    try {
      await this.send(new DeleteScheduleCommand({ Name: schedule.id, GroupName: this.props.groupName }));
    } catch (error) {
      if (isAwsError(error, 'ResourceNotFound')) return;
      throw toPlatformError(error, 'deleting the backup schedule');
    }
  }
}
