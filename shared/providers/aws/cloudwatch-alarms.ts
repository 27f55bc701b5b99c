import {
  type CloudWatchClient,
  type ComparisonOperator,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  type MetricDataQuery,
  PutMetricAlarmCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  CreateTopicCommand,
  DeleteTopicCommand,
  ListSubscriptionsByTopicCommand,
  PublishCommand,
  type SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import { alertMetricInputs, isPlatformEvaluated } from '../../metrics/alert-metrics.ts';
import type { AlertAlarms, AlertEmails } from '../../ports/alert-alarms.ts';
import type { MetricsSource } from '../../ports/metrics-source.ts';
import type { Comparison } from '../../schemas/alert.ts';
import type { PlatformEvent } from '../../schemas/event.ts';
import { type AlertMetricAvailability, availabilityFromSource } from '../../services/alert-rules.ts';
import type { AddonRecord } from '../../store/addon-store.ts';
import type { AlertRuleRecord } from '../../store/alert-store.ts';
import { metricDataQueries } from './cloudwatch-metrics.ts';
import { TAG_KEYS } from './tags.ts';

/** The tag naming the alert rule an alarm or topic belongs to. */
export const ALERT_RULE_TAG = 'addons:alert-rule';
/** CloudWatch alarms evaluate standard-resolution metrics per minute. */
const PERIOD = 60;
const GIB = 1024 ** 3;

const OPERATORS: Record<Comparison, ComparisonOperator> = {
  '>': 'GreaterThanThreshold',
  '>=': 'GreaterThanOrEqualToThreshold',
  '<': 'LessThanThreshold',
  '<=': 'LessThanOrEqualToThreshold',
};

/** Names are deterministic: `<deployment>-alert-<project>-<rule>[-<addon>]`, so a retry finds what it made. */
export const alertTopicName = (deployment: string, rule: Pick<AlertRuleRecord, 'projectId' | 'id'>) =>
  `${deployment}-alert-${rule.projectId}-${rule.id}`;
export const alertAlarmName = (
  deployment: string,
  rule: Pick<AlertRuleRecord, 'projectId' | 'id'>,
  addonId: string,
) => `${alertTopicName(deployment, rule)}-${addonId}`;

/** The rule and addon of an alarm name of this deployment (undefined: not one of ours). */
export const parseAlarmName = (deployment: string, name: string) => {
  const prefix = `${deployment}-alert-`;
  if (!name.startsWith(prefix)) return undefined;
  const match = /^(.+)-(alr-[a-z0-9]+)(?:-(adn-[a-z0-9]+))?$/.exec(name.slice(prefix.length));
  if (!match) return undefined;
  return { projectId: match[1] as string, ruleId: match[2] as string, addonId: match[3] };
};

/**
 * What CloudWatch can alarm on: the catalog series the metrics API reads from CloudWatch, storage
 * in percent on RDS (FreeStorageSpace against the allocated storage), never the connection ratio
 * (CloudWatch does not publish the limit).
 */
export const awsAlertAvailability =
  (metrics: Pick<MetricsSource, 'unavailable'>): AlertMetricAvailability =>
  (engine, metric) => {
    if (metric === 'connections.used-percent') {
      return 'CloudWatch does not publish the connection limit, so the ratio cannot be alarmed on';
    }
    if (metric === 'storage.used-percent') {
      const reason = metrics.unavailable(engine, 'storage.free');
      return reason ? `no free storage to compare with: ${reason}` : undefined;
    }
    return availabilityFromSource(metrics)(engine, metric);
  };

/** The alarm's metric (math): `e0` is the value compared with the threshold. */
export const alarmMetrics = (
  rule: Pick<AlertRuleRecord, 'metric'>,
  addon: Pick<AddonRecord, 'id' | 'resourceId' | 'engine' | 'storageGiB'>,
): MetricDataQuery[] => {
  // Backup health is the platform's own evaluation (backup-health-alerts.ts): the topic, no alarm.
  if (isPlatformEvaluated(rule.metric)) return [];
  const target = {
    addonId: addon.id,
    resourceId: addon.resourceId,
    engine: addon.engine,
    storageGiB: addon.storageGiB,
  };
  const window = { from: 0, step: PERIOD, points: 1 };
  const hidden = (queries: MetricDataQuery[]) => queries.map((query) => ({ ...query, ReturnData: false }));
  if (rule.metric === 'storage.used-percent') {
    return [
      ...hidden(metricDataQueries(target, ['storage.free'], window)),
      {
        Id: 'e0',
        Expression: `100 * (1 - s0 / ${addon.storageGiB * GIB})`,
        Label: 'storage.used-percent',
        ReturnData: true,
      },
    ];
  }
  const [input] = alertMetricInputs(rule.metric, addon.engine) ?? [];
  if (!input) return [];
  return [
    ...hidden(metricDataQueries(target, [input], window)),
    { Id: 'e0', Expression: 's0', Label: rule.metric, ReturnData: true },
  ];
};

export interface CloudWatchAlertAlarmsProps {
  cloudwatch: CloudWatchClient;
  sns: SNSClient;
  deployment: string;
  /** `arn:<partition>:sns:<region>:<account>:`: topics are named, so their ARNs are known. */
  topicArnPrefix: string;
  /** The function subscribed to every rule's topic: it records states and events, and signs webhooks. */
  notifyFunctionArn: string;
  /** The KMS key topics are encrypted with (its policy lets CloudWatch publish). */
  topicKeyArn: string;
}

/**
 * Alert rules on AWS: one SNS topic per rule (`<deployment>-alert-<project>-<rule>`), and one
 * CloudWatch alarm per (rule, covered addon) whose AlarmActions and OKActions are the topic. The
 * topic's subscribers are the rule's e-mail addresses (SNS sends its own message) and the
 * platform's notify function, which records the state change and its event and delivers the
 * rule's webhooks signed like on the local target. Everything is tagged with the deployment,
 * project and rule, and is put again idempotently on each sync.
 */
export class CloudWatchAlertAlarms implements AlertAlarms, AlertEmails {
  constructor(private readonly props: CloudWatchAlertAlarmsProps) {}

  /**
   * A change of a rule without alarms (backup health) to its topic: SNS mails it to the rule's
   * confirmed e-mail subscribers. The notify function, subscribed too, ignores it (not an alarm).
   */
  async send(rule: AlertRuleRecord, event: PlatformEvent): Promise<void> {
    const alert = event.alert;
    const state = event.type === 'alert.firing' ? 'FIRING' : 'RESOLVED';
    const subject = `[${state}] ${rule.name} on ${event.addonId}`.replace(/[^\x20-\x7e]/g, '?');
    await this.props.sns.send(
      new PublishCommand({
        TopicArn: this.topicArn(rule),
        Subject: subject.slice(0, 100),
        Message: [
          `${rule.name}: ${state.toLowerCase()} on addon ${event.addonId} of project ${rule.projectId}.`,
          `${rule.metric} ${rule.comparison} ${rule.threshold}: the value is ${alert?.value ?? 'unknown'} (since ${event.occurredAt}).`,
          "See the addon's backupHealth (GET /v1/projects/{projectId}/addons/{addonId}) for the problems.",
          `Event ${event.id}`,
        ].join('\n'),
        MessageAttributes: { 'addons-event': { DataType: 'String', StringValue: event.type } },
      }),
    );
  }

  topicArn(rule: Pick<AlertRuleRecord, 'projectId' | 'id'>): string {
    return `${this.props.topicArnPrefix}${alertTopicName(this.props.deployment, rule)}`;
  }

  private tags(rule: Pick<AlertRuleRecord, 'projectId' | 'id'>) {
    return [
      { Key: TAG_KEYS.deployment, Value: this.props.deployment },
      { Key: TAG_KEYS.project, Value: rule.projectId },
      { Key: ALERT_RULE_TAG, Value: rule.id },
    ];
  }

  async sync(rule: AlertRuleRecord, addons: readonly AddonRecord[]): Promise<void> {
    const { cloudwatch, sns, deployment } = this.props;
    const created = await sns.send(
      new CreateTopicCommand({
        Name: alertTopicName(deployment, rule),
        Attributes: { KmsMasterKeyId: this.props.topicKeyArn },
        Tags: this.tags(rule),
      }),
    );
    const topicArn = created.TopicArn ?? this.topicArn(rule);
    await this.syncSubscriptions(rule, topicArn);
    const wanted = new Set<string>();
    for (const addon of addons) {
      const metrics = alarmMetrics(rule, addon);
      if (metrics.length === 0) continue;
      const name = alertAlarmName(deployment, rule, addon.id);
      wanted.add(name);
      const periods = Math.max(1, Math.ceil(rule.durationSeconds / PERIOD));
      await cloudwatch.send(
        new PutMetricAlarmCommand({
          AlarmName: name,
          AlarmDescription: `${rule.name}: ${rule.metric} ${rule.comparison} ${rule.threshold} for ${rule.durationSeconds} s on ${addon.id} (alert rule ${rule.id} of project ${rule.projectId})`,
          Metrics: metrics,
          ComparisonOperator: OPERATORS[rule.comparison],
          Threshold: rule.threshold,
          EvaluationPeriods: periods,
          DatapointsToAlarm: periods,
          // No data neither fires nor resolves, as on the local target.
          TreatMissingData: 'missing',
          ActionsEnabled: rule.enabled,
          AlarmActions: [topicArn],
          OKActions: [topicArn],
          Tags: [...this.tags(rule), { Key: TAG_KEYS.addon, Value: addon.id }],
        }),
      );
    }
    const stale = (await this.alarmsOf(rule)).filter((name) => !wanted.has(name));
    if (stale.length > 0) await cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: stale }));
  }

  async remove(rule: Pick<AlertRuleRecord, 'id' | 'projectId'>): Promise<void> {
    const names = await this.alarmsOf(rule);
    for (let index = 0; index < names.length; index += 100) {
      await this.props.cloudwatch.send(
        new DeleteAlarmsCommand({ AlarmNames: names.slice(index, index + 100) }),
      );
    }
    // Deleting a topic that is gone succeeds: idempotent.
    await this.props.sns.send(new DeleteTopicCommand({ TopicArn: this.topicArn(rule) }));
  }

  /** The names of the rule's alarms (a prefix listing). */
  async alarmsOf(rule: Pick<AlertRuleRecord, 'id' | 'projectId'>): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.props.cloudwatch.send(
        new DescribeAlarmsCommand({
          AlarmNamePrefix: `${alertTopicName(this.props.deployment, rule)}-`,
          AlarmTypes: ['MetricAlarm'],
          NextToken: token,
        }),
      );
      names.push(...(page.MetricAlarms ?? []).map((alarm) => alarm.AlarmName ?? '').filter(Boolean));
      token = page.NextToken;
    } while (token);
    return names;
  }

  /** E-mail addresses and the notify function subscribed; addresses no longer in the rule removed. */
  private async syncSubscriptions(rule: AlertRuleRecord, topicArn: string): Promise<void> {
    const wanted = new Map<string, 'email' | 'lambda'>([
      [this.props.notifyFunctionArn, 'lambda'],
      ...rule.channels.emails.map((email) => [email, 'email'] as [string, 'email']),
    ]);
    const existing: Array<{ endpoint: string; arn: string }> = [];
    let token: string | undefined;
    do {
      const page = await this.props.sns.send(
        new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken: token }),
      );
      for (const subscription of page.Subscriptions ?? []) {
        existing.push({ endpoint: subscription.Endpoint ?? '', arn: subscription.SubscriptionArn ?? '' });
      }
      token = page.NextToken;
    } while (token);
    for (const [endpoint, protocol] of wanted) {
      if (existing.some((subscription) => subscription.endpoint === endpoint)) continue;
      await this.props.sns.send(
        new SubscribeCommand({ TopicArn: topicArn, Protocol: protocol, Endpoint: endpoint }),
      );
    }
    for (const subscription of existing) {
      // A subscription still waiting for its e-mail confirmation has no ARN to unsubscribe yet.
      if (wanted.has(subscription.endpoint) || !subscription.arn.startsWith('arn:')) continue;
      await this.props.sns.send(new UnsubscribeCommand({ SubscriptionArn: subscription.arn }));
    }
  }
}
