import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import middy from '@middy/core';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { logger as defaultLogger } from '#functions/api/logger.ts';
import { lazyHandler } from '#shared/api/http-handler.ts';
import { EventsFunctionEnvSchema, parseEnv } from '#shared/config/env.ts';
import { EventBridgePublisher } from '#shared/providers/aws/event-publisher.ts';
import { EventSchema, type PlatformEvent } from '#shared/schemas/event.ts';

/** The platform events among the table's new items (the stream's filter lets only those through). */
export const eventsOf = (stream: DynamoDBStreamEvent): PlatformEvent[] =>
  stream.Records.flatMap((record) => {
    const image = record.dynamodb?.NewImage;
    if (record.eventName !== 'INSERT' || !image) return [];
    const item = unmarshall(image as Record<string, AttributeValue>);
    if (typeof item.pk !== 'string' || !item.pk.startsWith('EVENTS#')) return [];
    return [EventSchema.parse(item)];
  });

/**
 * The events feed's outbox relay: each event the store appends reaches the table's stream, and
 * this function puts it on the deployment's bus. A refused entry fails the batch, which Lambda
 * retries (then splits, then sends to the dead-letter queue): delivery is at least once, and a
 * consumer drops duplicates by `detail.id`.
 */
export const createPublishHandler = (deps: { logger: Logger; publisher: EventBridgePublisher }) => {
  const run = async (stream: DynamoDBStreamEvent): Promise<{ published: number }> => {
    const events = eventsOf(stream);
    await deps.publisher.publish(events);
    for (const event of events) deps.logger.info('event published', { id: event.id, type: event.type });
    return { published: events.length };
  };
  return middy(run).use(injectLambdaContext(deps.logger, { resetKeys: true }));
};

export const handler: (event: DynamoDBStreamEvent, context: Context) => Promise<{ published: number }> =
  lazyHandler(() => {
    const env = parseEnv(EventsFunctionEnvSchema);
    return createPublishHandler({
      logger: defaultLogger,
      publisher: new EventBridgePublisher({ client: new EventBridgeClient({}), busName: env.EVENT_BUS_NAME }),
    });
  });
