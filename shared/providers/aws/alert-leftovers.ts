import {
  type CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
} from '@aws-sdk/client-cloudwatch';
import { DeleteTopicCommand, ListTopicsCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Leftover, LeftoverSource } from '../../ports/reconciler.ts';
import { parseAlarmName } from './cloudwatch-alarms.ts';

/**
 * The alarms and topics of alert rules (cloudwatch-alarms.ts), found by their deterministic names:
 * a rule deleted while its alarms could not be (a crash, a throttle) leaves them here, and an
 * alarm whose addon is gone goes too. Deleting an alarm or topic that is gone is a no-op.
 */
export class AlertAlarmLeftovers implements LeftoverSource {
  readonly name = 'alert alarms and topics';

  constructor(private readonly props: { cloudwatch: CloudWatchClient; sns: SNSClient; deployment: string }) {}

  async list(): Promise<Leftover[]> {
    const leftovers: Leftover[] = [];
    let token: string | undefined;
    do {
      const page = await this.props.cloudwatch.send(
        new DescribeAlarmsCommand({
          AlarmNamePrefix: `${this.props.deployment}-alert-`,
          AlarmTypes: ['MetricAlarm'],
          NextToken: token,
        }),
      );
      for (const alarm of page.MetricAlarms ?? []) {
        const owner = parseAlarmName(this.props.deployment, alarm.AlarmName ?? '');
        if (!owner?.addonId) continue;
        leftovers.push({
          kind: 'alert-alarm',
          id: alarm.AlarmName as string,
          ...(alarm.AlarmConfigurationUpdatedTimestamp
            ? { createdAt: alarm.AlarmConfigurationUpdatedTimestamp }
            : {}),
          owner: {
            kind: 'alert-rule',
            projectId: owner.projectId,
            ruleId: owner.ruleId,
            addonId: owner.addonId,
          },
        });
      }
      token = page.NextToken;
    } while (token);
    let next: string | undefined;
    do {
      const page = await this.props.sns.send(new ListTopicsCommand({ NextToken: next }));
      for (const topic of page.Topics ?? []) {
        const arn = topic.TopicArn ?? '';
        const owner = parseAlarmName(this.props.deployment, arn.slice(arn.lastIndexOf(':') + 1));
        if (!owner || owner.addonId) continue;
        leftovers.push({
          kind: 'alert-topic',
          id: arn,
          owner: { kind: 'alert-rule', projectId: owner.projectId, ruleId: owner.ruleId },
        });
      }
      next = page.NextToken;
    } while (next);
    return leftovers;
  }

  async remove(leftover: Leftover): Promise<void> {
    if (leftover.kind === 'alert-alarm') {
      await this.props.cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: [leftover.id] }));
    } else {
      await this.props.sns.send(new DeleteTopicCommand({ TopicArn: leftover.id }));
    }
  }
}
