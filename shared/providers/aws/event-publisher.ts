import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { EVENT_SOURCE, type PlatformEvent } from '../../schemas/event.ts';

/** PutEvents takes at most 10 entries per call. https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html */
const MAX_ENTRIES = 10;

/** Some entries of a PutEvents call were refused; the caller retries the whole batch. */
export class EventsNotPublishedError extends Error {
  override readonly name = 'EventsNotPublishedError';
  constructor(
    readonly failed: Array<{ eventId: string; code: string; message: string }>,
    options?: ErrorOptions,
  ) {
    super(
      `EventBridge refused ${failed.length} event(s): ${failed.map((entry) => `${entry.eventId} (${entry.code})`).join(', ')}`,
      options,
    );
  }
}

/** The EventBridge entry of a platform event: `detail-type` is its type, `detail` the event itself. */
export const toEntry = (busName: string, event: PlatformEvent): PutEventsRequestEntry => ({
  EventBusName: busName,
  Source: EVENT_SOURCE,
  DetailType: event.type,
  Detail: JSON.stringify(event),
  Time: new Date(event.occurredAt),
});

/** Puts platform events on the deployment's event bus. */
export class EventBridgePublisher {
  constructor(private readonly props: { client: EventBridgeClient; busName: string }) {}

  async publish(events: readonly PlatformEvent[]): Promise<void> {
    const failed: EventsNotPublishedError['failed'] = [];
    for (let start = 0; start < events.length; start += MAX_ENTRIES) {
      const batch = events.slice(start, start + MAX_ENTRIES);
      const result = await this.props.client.send(
        new PutEventsCommand({ Entries: batch.map((event) => toEntry(this.props.busName, event)) }),
      );
      if (!result.FailedEntryCount) continue;
      // Result entries are in request order; a failed one has an ErrorCode.
      (result.Entries ?? []).forEach((entry, index) => {
        const event = batch[index];
        if (entry.ErrorCode && event) {
          failed.push({ eventId: event.id, code: entry.ErrorCode, message: entry.ErrorMessage ?? '' });
        }
      });
    }
    if (failed.length > 0) throw new EventsNotPublishedError(failed);
  }
}
