import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { DestinationOptions, IDestination, IFunction } from 'aws-cdk-lib/aws-lambda';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeGuard } from '../guard.ts';
import { acknowledgeNag } from '../nag.ts';
import type { Data } from './data.ts';

export interface DeadLettersProps {
  /** What lands here, for the alarm's description. */
  description: string;
  /** The platform key encrypts the queue. */
  data: Data;
}

/**
 * A dead-letter queue for an asynchronous invocation that kept failing (an EventBridge
 * Scheduler target, an async-invoked Lambda), with an alarm as soon as one message waits in it.
 * Messages stay 14 days, the SQS maximum, so an operator can read what failed and replay it.
 */
export class DeadLetters extends Construct implements IDestination {
  readonly queue: Queue;
  readonly alarm: Alarm;
  private readonly data: Data;

  constructor(scope: Construct, id: string, props: DeadLettersProps) {
    super(scope, id);
    this.data = props.data;
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: props.data.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledgeNag(
      this.queue,
      'SQS3',
      'This queue is itself a dead-letter queue (of an EventBridge Scheduler target or an async Lambda invocation); a second level would only hide failures from its alarm',
    );
    acknowledgeGuard(
      this.queue,
      'sqs_dlq_check',
      'This queue is itself a dead-letter queue: a dead-letter queue of it would only move the same messages one hop further, away from its alarm',
    );
    this.alarm = new Alarm(this, 'Alarm', {
      alarmDescription: `${props.description}: a message is waiting in the dead-letter queue`,
      metric: this.queue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  /**
   * Send to the queue and nothing more: `grantSendMessages` would add `kms:ReEncrypt*` and
   * `kms:GenerateDataKey*`, which SQS never needs for a send.
   */
  grantSend(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({ grantee, actions: ['sqs:SendMessage'], resourceArns: [this.queue.queueArn] });
    this.data.grantKeyVia(grantee, 'sqs', ['kms:GenerateDataKey', 'kms:Decrypt']);
  }

  /** As the on-failure destination of an async-invoked function: Lambda sends with the function's role. */
  bind(_scope: Construct, fn: IFunction, _options?: DestinationOptions) {
    this.grantSend(fn);
    return { destination: this.queue.queueArn };
  }
}
