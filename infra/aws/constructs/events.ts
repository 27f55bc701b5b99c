import { Duration, Stack } from 'aws-cdk-lib';
import { EventBus } from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { FilterCriteria, FilterRule, type IEventSourceDlq, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { EventsFunctionEnvSchema } from '#shared/config/env.ts';
import type { Data } from './data.ts';
import { DeadLetters } from './dead-letters.ts';
import { ProjectFunction } from './project-function.ts';

export interface EventsProps {
  data: Data;
  /** @default one month */
  logRetention?: RetentionDays;
}

/**
 * The deployment's event bus and the relay that fills it. The events feed in the table is the
 * outbox: whatever appends an event (an operation's transition in any function, the reconciler)
 * needs no EventBridge permission; the table's stream carries each new event item to one
 * function, the only principal allowed to put events on this bus.
 */
export class Events extends Construct {
  readonly bus: EventBus;
  readonly publisher: ProjectFunction<typeof EventsFunctionEnvSchema>;
  readonly deadLetters: DeadLetters;

  constructor(scope: Construct, id: string, props: EventsProps) {
    super(scope, id);
    const { data } = props;
    this.bus = new EventBus(this, 'Bus', {
      eventBusName: `${Stack.of(this).stackName}-events`,
      description:
        'Addons platform events: operations created and ended, backup health changes (docs/events.md)',
    });
    this.publisher = new ProjectFunction(this, 'PublishFunction', {
      entry: 'functions/events/publish.ts',
      description: "Puts the events feed's new events on the deployment's event bus",
      envSchema: EventsFunctionEnvSchema,
      environment: {
        ADDONS_TARGET: 'aws',
        POWERTOOLS_SERVICE_NAME: 'addons-events',
        EVENT_BUS_NAME: this.bus.eventBusName,
      },
      timeout: Duration.seconds(30),
      logRetention: props.logRetention,
    });
    // PutEvents on this bus and nothing else.
    iam.Grant.addToPrincipal({
      grantee: this.publisher,
      actions: ['events:PutEvents'],
      resourceArns: [this.bus.eventBusArn],
    });
    this.deadLetters = new DeadLetters(this, 'DeadLetters', {
      description: 'Events that could not be put on the event bus',
      data,
    });
    this.publisher.function.addEventSource(
      new DynamoEventSource(data.table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 10,
        bisectBatchOnError: true,
        retryAttempts: 5,
        maxRecordAge: Duration.days(1),
        onFailure: this.dlq(),
        // Only new event items: operations, addons and the rest of the table never invoke it.
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.isEqual('INSERT'),
            dynamodb: { Keys: { pk: { S: FilterRule.beginsWith('EVENTS#') } } },
          }),
        ],
      }),
    );
  }

  /**
   * The dead-letter queue as the stream's on-failure destination, granted with `grantSend`:
   * `SqsDlq` would grant `kms:ReEncrypt*` and `kms:GenerateDataKey*`, which a send never needs.
   */
  private dlq(): IEventSourceDlq {
    const deadLetters = this.deadLetters;
    return {
      bind: (_mapping, handler) => {
        deadLetters.grantSend(handler);
        return { destination: deadLetters.queue.queueArn };
      },
    };
  }
}
