import { Logger } from '@aws-lambda-powertools/logger';
import {
  CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  CreateTopicCommand,
  DeleteTopicCommand,
  ListSubscriptionsByTopicCommand,
  ListTopicsCommand,
  PublishCommand,
  SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createNotifyHandler } from '#functions/alerts/notify.ts';
import { AlertAlarmLeftovers } from '#shared/providers/aws/alert-leftovers.ts';
import {
  alarmMetrics,
  awsAlertAvailability,
  CloudWatchAlertAlarms,
  parseAlarmName,
} from '#shared/providers/aws/cloudwatch-alarms.ts';
import { CloudWatchMetrics } from '#shared/providers/aws/cloudwatch-metrics.ts';
import { AlertDispatcher } from '#shared/services/alert-dispatcher.ts';
import { AlertNotifier } from '#shared/services/alert-notifier.ts';
import { verifySignature } from '#shared/services/webhook-signing.ts';
import { type AlertRuleRecord, AlertStore } from '#shared/store/alert-store.ts';
import { startTestStore, TEST_TABLE } from '../support/dynamo.ts';
import { context } from '../support/events.ts';
import { addonRecord } from '../support/fixtures.ts';

/**
 * Alert rules as deployed on AWS: the exact CloudWatch and SNS calls that mirror a rule (topic,
 * subscriptions, one alarm per addon, stale alarms removed), that remove it, and that find what a
 * deleted rule left behind.
 */
const cloudwatch = mockClient(CloudWatchClient);
const sns = mockClient(SNSClient);
const DEPLOYMENT = 'addons-test';
const PREFIX = 'arn:aws:sns:eu-west-1:123456789012:';
const NOTIFY = 'arn:aws:lambda:eu-west-1:123456789012:function:notify';
const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/k';

const rule = (overrides: Partial<AlertRuleRecord> = {}): AlertRuleRecord => ({
  id: 'alr-01abc',
  projectId: 'shop',
  name: 'CPU high',
  metric: 'cpu',
  unit: 'percent',
  comparison: '>',
  threshold: 90,
  durationSeconds: 600,
  addons: 'all',
  channels: { webhooks: [{ url: 'https://hooks.example.com/x' }], emails: ['ops@example.com'] },
  enabled: true,
  isDefault: false,
  signingSecret: 'whsec_x',
  signingSecretCreatedAt: '2026-12-01T00:00:00.000Z',
  createdAt: '2026-12-01T00:00:00.000Z',
  updatedAt: '2026-12-01T00:00:00.000Z',
  revision: 1,
  ...overrides,
});
const alarms = () =>
  new CloudWatchAlertAlarms({
    cloudwatch: new CloudWatchClient({}),
    sns: new SNSClient({}),
    deployment: DEPLOYMENT,
    topicArnPrefix: PREFIX,
    notifyFunctionArn: NOTIFY,
    topicKeyArn: KEY,
  });
const TOPIC = `${PREFIX}${DEPLOYMENT}-alert-shop-alr-01abc`;
const TAGS = [
  { Key: 'addons:deployment', Value: DEPLOYMENT },
  { Key: 'addons:project', Value: 'shop' },
  { Key: 'addons:alert-rule', Value: 'alr-01abc' },
];

beforeEach(() => {
  cloudwatch.reset();
  sns.reset();
});

describe('CloudWatch alarms of an alert rule', () => {
  it('creates the topic, subscribes the notify function and the e-mail, one alarm per addon, and deletes a stale alarm', async () => {
    const pg = addonRecord({ id: 'adn-01pg', projectId: 'shop', engine: 'postgresql', status: 'running' });
    sns.on(CreateTopicCommand).resolves({ TopicArn: TOPIC });
    sns.on(ListSubscriptionsByTopicCommand).resolves({
      Subscriptions: [
        { Endpoint: 'old@example.com', SubscriptionArn: `${TOPIC}:sub-old`, Protocol: 'email' },
      ],
    });
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        { AlarmName: `${DEPLOYMENT}-alert-shop-alr-01abc-adn-01pg` },
        { AlarmName: `${DEPLOYMENT}-alert-shop-alr-01abc-adn-01gone` },
      ],
    });

    await alarms().sync(rule(), [pg]);

    expect(sns.commandCalls(CreateTopicCommand).map((call) => call.args[0].input)).toEqual([
      { Name: `${DEPLOYMENT}-alert-shop-alr-01abc`, Attributes: { KmsMasterKeyId: KEY }, Tags: TAGS },
    ]);
    expect(sns.commandCalls(SubscribeCommand).map((call) => call.args[0].input)).toEqual([
      { TopicArn: TOPIC, Protocol: 'lambda', Endpoint: NOTIFY },
      { TopicArn: TOPIC, Protocol: 'email', Endpoint: 'ops@example.com' },
    ]);
    expect(sns.commandCalls(UnsubscribeCommand).map((call) => call.args[0].input)).toEqual([
      { SubscriptionArn: `${TOPIC}:sub-old` },
    ]);
    expect(cloudwatch.commandCalls(PutMetricAlarmCommand).map((call) => call.args[0].input)).toEqual([
      {
        AlarmName: `${DEPLOYMENT}-alert-shop-alr-01abc-adn-01pg`,
        AlarmDescription: 'CPU high: cpu > 90 for 600 s on adn-01pg (alert rule alr-01abc of project shop)',
        Metrics: [
          {
            Id: 's0',
            MetricStat: {
              Metric: {
                Namespace: 'AWS/RDS',
                MetricName: 'CPUUtilization',
                Dimensions: [{ Name: 'DBInstanceIdentifier', Value: pg.resourceId }],
              },
              Period: 60,
              Stat: 'Average',
            },
            ReturnData: false,
          },
          { Id: 'e0', Expression: 's0', Label: 'cpu', ReturnData: true },
        ],
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 90,
        EvaluationPeriods: 10,
        DatapointsToAlarm: 10,
        TreatMissingData: 'missing',
        ActionsEnabled: true,
        AlarmActions: [TOPIC],
        OKActions: [TOPIC],
        Tags: [...TAGS, { Key: 'addons:addon', Value: 'adn-01pg' }],
      },
    ]);
    expect(cloudwatch.commandCalls(DescribeAlarmsCommand)[0]?.args[0].input).toEqual({
      AlarmNamePrefix: `${DEPLOYMENT}-alert-shop-alr-01abc-`,
      AlarmTypes: ['MetricAlarm'],
      NextToken: undefined,
    });
    expect(cloudwatch.commandCalls(DeleteAlarmsCommand).map((call) => call.args[0].input)).toEqual([
      { AlarmNames: [`${DEPLOYMENT}-alert-shop-alr-01abc-adn-01gone`] },
    ]);
  });

  it('alarms on storage in percent of the allocated storage on RDS', async () => {
    const pg = addonRecord({ id: 'adn-01pg', projectId: 'shop', storageGiB: 20 });
    sns.on(CreateTopicCommand).resolves({ TopicArn: TOPIC });
    sns
      .on(ListSubscriptionsByTopicCommand)
      .resolves({ Subscriptions: [{ Endpoint: NOTIFY, SubscriptionArn: `${TOPIC}:s1` }] });
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });

    await alarms().sync(
      rule({
        metric: 'storage.used-percent',
        threshold: 85,
        comparison: '>=',
        durationSeconds: 0,
        channels: { webhooks: [], emails: [] },
      }),
      [pg],
    );

    const input = cloudwatch.commandCalls(PutMetricAlarmCommand)[0]?.args[0].input;
    expect(input?.Metrics?.at(-1)).toEqual({
      Id: 'e0',
      Expression: `100 * (1 - s0 / ${20 * 1024 ** 3})`,
      Label: 'storage.used-percent',
      ReturnData: true,
    });
    expect(input?.Metrics?.[0]?.MetricStat?.Metric?.MetricName).toBe('FreeStorageSpace');
    expect([input?.ComparisonOperator, input?.EvaluationPeriods]).toEqual([
      'GreaterThanOrEqualToThreshold',
      1,
    ]);
    expect(sns.commandCalls(SubscribeCommand)).toHaveLength(0);
    expect(cloudwatch.commandCalls(DeleteAlarmsCommand)).toHaveLength(0);
  });

  it('gives a backup-health rule its topic and e-mail subscriber but no alarm, and publishes its changes there', async () => {
    const pg = addonRecord({ id: 'adn-01pg', projectId: 'shop', engine: 'postgresql', status: 'running' });
    const backupRule = rule({
      metric: 'backup.problems',
      unit: 'count',
      comparison: '>=',
      threshold: 1,
      durationSeconds: 0,
    });
    sns.on(CreateTopicCommand).resolves({ TopicArn: TOPIC });
    sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [] });
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });

    await alarms().sync(backupRule, [pg]);
    await alarms().send(backupRule, {
      id: 'alr-01abc.adn-01pg.alert.firing.1',
      type: 'alert.firing',
      projectId: 'shop',
      addonId: 'adn-01pg',
      occurredAt: '2026-12-01T10:00:00.000Z',
      operation: null,
      backupHealth: null,
      alert: {
        ruleId: backupRule.id,
        ruleName: backupRule.name,
        metric: 'backup.problems',
        comparison: '>=',
        threshold: 1,
        durationSeconds: 0,
        state: 'firing',
        value: 1,
      },
    });

    expect(sns.commandCalls(SubscribeCommand).map((call) => call.args[0].input.Protocol)).toEqual([
      'lambda',
      'email',
    ]);
    expect(cloudwatch.commandCalls(PutMetricAlarmCommand)).toEqual([]);
    const published = sns.commandCalls(PublishCommand).map((call) => call.args[0].input);
    expect(published).toEqual([
      expect.objectContaining({
        TopicArn: TOPIC,
        Subject: '[FIRING] CPU high on adn-01pg',
        MessageAttributes: { 'addons-event': { DataType: 'String', StringValue: 'alert.firing' } },
      }),
    ]);
    expect(published[0]?.Message).toContain('backup.problems >= 1: the value is 1');
  });

  it('removes the alarms and the topic of a deleted rule', async () => {
    cloudwatch
      .on(DescribeAlarmsCommand)
      .resolves({ MetricAlarms: [{ AlarmName: `${DEPLOYMENT}-alert-shop-alr-01abc-adn-01pg` }] });
    await alarms().remove(rule());
    expect(cloudwatch.commandCalls(DeleteAlarmsCommand).map((call) => call.args[0].input)).toEqual([
      { AlarmNames: [`${DEPLOYMENT}-alert-shop-alr-01abc-adn-01pg`] },
    ]);
    expect(sns.commandCalls(DeleteTopicCommand).map((call) => call.args[0].input)).toEqual([
      { TopicArn: TOPIC },
    ]);
  });

  it('says which metrics CloudWatch can alarm on, per engine', () => {
    const available = awsAlertAvailability(new CloudWatchMetrics({ client: new CloudWatchClient({}) }));
    expect(available('postgresql', 'storage.used-percent')).toBeUndefined();
    expect(available('mongodb', 'storage.used-percent')).toMatch(/free storage/);
    expect(available('postgresql', 'connections.used-percent')).toMatch(/connection limit/);
    expect(available('mysql', 'replication-lag')).toBeUndefined();
    expect(available('redis', 'replication-lag')).toMatch(/no replication-lag/);
    expect(available('postgresql', 'postgresql.transactions')).toMatch(/no transaction rate/);
    // Used storage on RDS is metric math on FreeStorageSpace, which an alarm can evaluate too.
    expect(available('mysql', 'storage.used')).toBeUndefined();
    const addon = { id: 'adn-1', resourceId: 'addon-1', engine: 'postgresql' as const, storageGiB: 50 };
    expect(
      alarmMetrics({ metric: 'storage.used' }, addon).map((query) => query.Expression ?? query.Id),
    ).toEqual(['m0_0', `${50 * 1024 ** 3} - m0_0`, 's0']);
  });
});

describe('leftover alarms and topics', () => {
  it('lists this deployment’s alert alarms and topics with their rule, and deletes them', async () => {
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        {
          AlarmName: `${DEPLOYMENT}-alert-my-shop-alr-01abc-adn-01pg`,
          AlarmConfigurationUpdatedTimestamp: new Date(0),
        },
        { AlarmName: 'someone-else' },
      ],
    });
    sns.on(ListTopicsCommand).resolves({
      Topics: [
        { TopicArn: `${PREFIX}${DEPLOYMENT}-alert-my-shop-alr-01abc` },
        { TopicArn: `${PREFIX}other` },
      ],
    });
    const source = new AlertAlarmLeftovers({
      cloudwatch: new CloudWatchClient({}),
      sns: new SNSClient({}),
      deployment: DEPLOYMENT,
    });

    const listed = await source.list();

    expect(listed.map((leftover) => [leftover.kind, leftover.id, leftover.owner])).toEqual([
      [
        'alert-alarm',
        `${DEPLOYMENT}-alert-my-shop-alr-01abc-adn-01pg`,
        { kind: 'alert-rule', projectId: 'my-shop', ruleId: 'alr-01abc', addonId: 'adn-01pg' },
      ],
      [
        'alert-topic',
        `${PREFIX}${DEPLOYMENT}-alert-my-shop-alr-01abc`,
        { kind: 'alert-rule', projectId: 'my-shop', ruleId: 'alr-01abc' },
      ],
    ]);
    for (const leftover of listed) await source.remove(leftover);
    expect(cloudwatch.commandCalls(DeleteAlarmsCommand)[0]?.args[0].input).toEqual({
      AlarmNames: [`${DEPLOYMENT}-alert-my-shop-alr-01abc-adn-01pg`],
    });
    expect(sns.commandCalls(DeleteTopicCommand)[0]?.args[0].input).toEqual({
      TopicArn: `${PREFIX}${DEPLOYMENT}-alert-my-shop-alr-01abc`,
    });
    expect(parseAlarmName(DEPLOYMENT, 'unrelated-alert-x')).toBeUndefined();
  });
});

describe('the notify function (subscribed to every rule topic)', () => {
  it('turns an ALARM and then an OK notification into one firing and one resolved change, event and signed webhook each', async () => {
    const env = await startTestStore();
    try {
      const alerts = new AlertStore({ client: env.documentClient, tableName: TEST_TABLE });
      await alerts.createRule(rule({ projectId: 'shop' }));
      const posts: Array<{ body: string; signature: string }> = [];
      const handler = createNotifyHandler({
        logger: new Logger({ logLevel: 'SILENT' }),
        deployment: DEPLOYMENT,
        alerts,
        notifier: new AlertNotifier({ alerts, events: env.store.events }),
        dispatcher: new AlertDispatcher({
          alerts,
          post: async (_url, body, headers) => {
            posts.push({ body, signature: headers['x-addons-signature'] ?? '' });
            return { status: 200 };
          },
        }),
      });
      const notification = (state: string, at: Date) =>
        ({
          Records: [
            {
              Sns: {
                Message: JSON.stringify({
                  AlarmName: `${DEPLOYMENT}-alert-shop-alr-01abc-adn-01pg`,
                  NewStateValue: state,
                  NewStateReason:
                    'Threshold Crossed: 1 datapoint [95.5 (01/12/26 10:00:00)] was greater than the threshold (90.0).',
                  StateChangeTime: at.toISOString().replace('Z', '+0000'),
                }),
              },
            },
          ],
        }) as never;
      const t0 = Date.now() - 60_000;

      // The platform's own backup-health message on the same topic (for its e-mails): ignored.
      const own = await handler(
        { Records: [{ Sns: { Message: 'Backup health degraded: firing on addon adn-01pg' } }] } as never,
        context(),
      );
      expect(own.changes).toEqual([]);
      const fired = await handler(notification('ALARM', new Date(t0)), context());
      const again = await handler(notification('ALARM', new Date(t0)), context());
      const resolved = await handler(notification('OK', new Date(t0 + 30_000)), context());

      expect([fired.changes, again.changes, resolved.changes]).toEqual([
        [{ ruleId: 'alr-01abc', addonId: 'adn-01pg', kind: 'firing' }],
        [],
        [{ ruleId: 'alr-01abc', addonId: 'adn-01pg', kind: 'resolved' }],
      ]);
      expect(posts.map((post) => JSON.parse(post.body).alert.state)).toEqual(['firing', 'ok']);
      expect(JSON.parse(posts[0]?.body ?? '{}').alert.value).toBe(95.5);
      expect(posts.every((post) => verifySignature('whsec_x', post.body, post.signature))).toBe(true);
      const events = (await env.store.events.list('shop', { limit: 10 })).items;
      expect(events.map((event) => event.type)).toEqual(['alert.firing', 'alert.resolved']);
    } finally {
      await env.stop();
    }
  });
});
