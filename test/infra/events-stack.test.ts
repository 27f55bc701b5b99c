import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EVENT_SOURCE } from '#shared/schemas/event.ts';
import { eventItem, operationEvents } from '#shared/store/event-store.ts';
import { newId, nowIso } from '#shared/util/ids.ts';
import { context } from '../support/events.ts';
import { operation } from '../support/fixtures.ts';
import { logicalIdOf } from '../workflows/support/aws-workflows.ts';
import { isAllowed, roleStatements } from './support/iam.ts';
import { FAKE_ENV, functionEnvironment, resolveIntrinsics } from './support/intrinsics.ts';
import { SYNTH_TIMEOUT_MS, type SynthesizedStack, synthesizeAddons } from './support/stack.ts';

/**
 * The events relay as deployed: the table's stream, filtered to new event items, invokes the
 * publish function with the environment CDK gives it; its PutEvents requests (to
 * aws-sdk-client-mock) are checked entry by entry and against its synthesized role, and no other
 * role of the stack may put events anywhere.
 */
let synthesized: SynthesizedStack;
let publisherRoleId: string;
let busArn: string;
let handler: (event: DynamoDBStreamEvent, context: Context) => Promise<{ published: number }>;
const eventBridge = mockClient(EventBridgeClient);

beforeAll(async () => {
  synthesized = synthesizeAddons();
  const { stack, json } = synthesized;
  const fnId = logicalIdOf(synthesized, stack.events.publisher.function);
  publisherRoleId = logicalIdOf(synthesized, stack.events.publisher.role);
  busArn = resolveIntrinsics(stack.resolve(stack.events.bus.eventBusArn), json) as string;
  Object.assign(process.env, functionEnvironment(json, fnId), { AWS_REGION: FAKE_ENV.region });
  ({ handler } = await import('#functions/events/publish.ts'));
}, SYNTH_TIMEOUT_MS);

beforeEach(() => {
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
    FailedEntryCount: 0,
    Entries: input.Entries.map(() => ({ EventId: newId('evt') })),
  }));
});

/** The stream records DynamoDB sends for these new items (and one update that must be ignored). */
const streamOf = (items: Record<string, unknown>[]): DynamoDBStreamEvent => ({
  Records: [
    ...items.map((item) => ({
      eventName: 'INSERT' as const,
      dynamodb: { NewImage: marshall(item, { removeUndefinedValues: true }) as never },
    })),
    {
      eventName: 'MODIFY' as const,
      dynamodb: { NewImage: marshall({ pk: 'PROJECT#p', sk: 'ADDON#a' }) as never },
    },
  ],
});

describe('the events relay in the AWS stack', () => {
  it("puts an operation's created and completed events on the deployment's bus, as documented", async () => {
    // Prepare
    const op = {
      ...operation({
        projectId: 'proj-ev',
        addonId: newId('adn'),
        type: 'backup' as const,
        backupId: newId('bkp'),
      }),
      status: 'completed' as const,
      completedAt: nowIso(),
    };
    const events = operationEvents(op);

    // Act
    const result = await handler(streamOf(events.map(eventItem)), context());

    // Assess
    expect(result).toEqual({ published: 2 });
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls).toHaveLength(1);
    const entries = calls[0]?.args[0].input.Entries ?? [];
    expect(entries.map((entry) => [entry.Source, entry.DetailType, entry.EventBusName])).toEqual([
      [EVENT_SOURCE, 'operation.created', process.env.EVENT_BUS_NAME],
      [EVENT_SOURCE, 'operation.completed', process.env.EVENT_BUS_NAME],
    ]);
    expect(entries.map((entry) => JSON.parse(entry.Detail ?? '{}'))).toEqual(events);
    expect(entries[1]?.Time?.toISOString()).toBe(op.completedAt);
    // The role allows exactly this request.
    const allowed = isAllowed(roleStatements(synthesized.json, publisherRoleId), {
      action: 'events:PutEvents',
      resource: busArn,
      context: {},
      because: 'PutEvents',
    } as never);
    expect(allowed).toBe(true);
  });

  it('fails the batch when EventBridge refuses an entry, so that Lambda retries it', async () => {
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }],
    });
    const events = operationEvents(operation({ projectId: 'proj-ev', addonId: newId('adn') }));
    await expect(handler(streamOf(events.map(eventItem)), context())).rejects.toThrow(/ThrottlingException/);
  });

  it('lets only the publisher put events, and only on this bus', () => {
    const { json } = synthesized;
    const putters = Object.entries(json.Resources)
      .filter(([, resource]) => resource.Type === 'AWS::IAM::Policy')
      .flatMap(([id, resource]) => {
        const document = resolveIntrinsics(resource.Properties?.PolicyDocument, json) as {
          Statement: Array<{ Action: string | string[]; Resource: string | string[] }>;
        };
        return document.Statement.filter((statement) =>
          [statement.Action].flat().some((action) => ['events:PutEvents', 'events:*', '*'].includes(action)),
        ).map((statement) => ({ id, resources: [statement.Resource].flat() }));
      });
    expect(putters).toHaveLength(1);
    expect(putters[0]?.resources).toEqual([busArn]);
    const roles = (json.Resources[putters[0]?.id ?? '']?.Properties?.Roles ?? []) as Array<{ Ref: string }>;
    expect(roles).toEqual([{ Ref: publisherRoleId }]);
  });

  it('is invoked by new event items of the table stream only, with a dead-letter queue', () => {
    const { template } = synthesized;
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
    });
    const mappings = template.findResources('AWS::Lambda::EventSourceMapping');
    const [mapping] = Object.values(mappings).filter((resource) =>
      JSON.stringify(resource.Properties.FunctionName).includes(
        logicalIdOf(synthesized, synthesized.stack.events.publisher.function),
      ),
    );
    expect(
      mapping?.Properties.FilterCriteria.Filters.map((filter: { Pattern: string }) =>
        JSON.parse(filter.Pattern),
      ),
    ).toEqual([{ eventName: ['INSERT'], dynamodb: { Keys: { pk: { S: [{ prefix: 'EVENTS#' }] } } } }]);
    expect(mapping?.Properties.DestinationConfig.OnFailure.Destination).toBeDefined();
    expect(mapping?.Properties.BisectBatchOnSplit ?? mapping?.Properties.BisectBatchOnFunctionError).toBe(
      true,
    );
  });
});
