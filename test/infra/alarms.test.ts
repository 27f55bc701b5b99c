import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Alarm, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { describe, expect, it } from 'vitest';
import { createAddonsApp } from '#infra/aws/addons-app.ts';
import { Alarms, parseAlarmEmail } from '#infra/aws/constructs/alarms.ts';

// The whole stack's alarms are checked in addons-stack.test.ts; here, the construct alone (fast).
const stackWithOneAlarm = (email?: string) => {
  const stack = new Stack(new App(), 'AlarmsTest');
  const alarms = new Alarms(stack, 'Alarms', { email });
  new Alarm(stack, 'SomeAlarm', {
    metric: new Metric({ namespace: 'Test', metricName: 'Failures', period: Duration.minutes(5) }),
    threshold: 1,
    evaluationPeriods: 1,
  });
  return { stack, alarms, template: Template.fromStack(stack) };
};

describe('alarm notifications', () => {
  it('subscribe the -c alarmEmail address to the topic', () => {
    // Prepare / Act
    const { stack, alarms, template } = stackWithOneAlarm('ops@example.com');

    // Assess
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: stack.resolve(alarms.topic.topicArn),
    });
  });

  it('add the topic to an alarm defined after the Alarms construct, on ALARM and on OK', () => {
    // Prepare / Act
    const { stack, alarms, template } = stackWithOneAlarm();

    // Assess
    const topic = stack.resolve(alarms.topic.topicArn);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmActions: [topic], OKActions: [topic] });
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  });

  it('refuse an -c alarmEmail that is not an email address, naming the setting', () => {
    expect(() => createAddonsApp({ context: { alarmEmail: 'ops-at-example.com' } })).toThrow(/alarmEmail/);
    expect(parseAlarmEmail(undefined)).toBeUndefined();
    expect(parseAlarmEmail('')).toBeUndefined();
    expect(parseAlarmEmail('ops@example.com')).toBe('ops@example.com');
  });
});
