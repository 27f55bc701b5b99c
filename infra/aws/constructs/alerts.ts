import { Arn, ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AlertNotifyFunctionEnvSchema } from '#shared/config/env.ts';
import { acknowledgeGuard, denyGrantsToNonServices } from '../guard.ts';
import { acknowledgeNag, nagArn } from '../nag.ts';
import type { Data } from './data.ts';
import { ProjectFunction } from './project-function.ts';

export interface AlertsProps {
  data: Data;
  deploymentName: string;
  /** @default one month */
  logRetention?: RetentionDays;
}

/**
 * Alert rules on AWS (docs/alerts.md). Each rule is an SNS topic
 * (`<deployment>-alert-<project>-<rule>`, encrypted with this construct's key, whose policy lets
 * CloudWatch publish) and one CloudWatch alarm per covered addon, created at run time by the
 * operations function and kept in line by the reconciler. Every topic is subscribed by the notify
 * function: it records the alarm's state change and its event and delivers the rule's webhooks,
 * signed with the rule's secret.
 */
export class Alerts extends Construct {
  readonly notify: ProjectFunction<typeof AlertNotifyFunctionEnvSchema>;
  readonly topicKey: Key;
  private readonly deploymentName: string;

  constructor(scope: Construct, id: string, props: AlertsProps) {
    super(scope, id);
    const { data } = props;
    this.deploymentName = props.deploymentName;
    this.topicKey = new Key(this, 'TopicKey', {
      description: "Alert rules' SNS topics (CloudWatch alarms publish to them)",
      enableKeyRotation: true,
    });
    this.topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    denyGrantsToNonServices(this.topicKey);
    this.notify = new ProjectFunction(this, 'NotifyFunction', {
      entry: 'functions/alerts/notify.ts',
      description: "Alert rules' alarm changes: states, events and signed webhooks",
      envSchema: AlertNotifyFunctionEnvSchema,
      environment: {
        ADDONS_TARGET: 'aws',
        POWERTOOLS_SERVICE_NAME: 'addons-alerts',
        TABLE_NAME: data.table.tableName,
        DEPLOYMENT_NAME: props.deploymentName,
      },
      // A webhook attempt times out after 10 s; a few due ones are delivered per invocation.
      timeout: Duration.minutes(1),
      logRetention: props.logRetention,
    });
    data.grantStore(this.notify, ['GetItem', 'Query', 'PutItem', 'UpdateItem']);
    this.notify.function.addPermission('InvokedByAlertTopics', {
      principal: new iam.ServicePrincipal('sns.amazonaws.com'),
      sourceArn: this.topicArn('*'),
      sourceAccount: Stack.of(this).account,
    });
    acknowledgeGuard(
      this.notify.function,
      'lambda_function_public_access_prohibited_check',
      "The invoke permission names SNS with this account as SourceAccount and this deployment's alert topics as SourceArn; the rule reads only literal strings or Ref/GetAtt, and an environment-agnostic stack builds both with intrinsics",
    );
  }

  private topicArn(suffix: string): string {
    return Arn.format(
      {
        service: 'sns',
        resource: `${this.deploymentName}-alert-${suffix}`,
        arnFormat: ArnFormat.NO_RESOURCE_NAME,
      },
      Stack.of(this),
    );
  }

  /** What the operations function and the reconciler need to mirror rules (`AlertAlarmsEnvSchema`). */
  get environment() {
    return {
      DEPLOYMENT_NAME: this.deploymentName,
      ALERT_TOPIC_ARN_PREFIX: Arn.format(
        { service: 'sns', resource: '', arnFormat: ArnFormat.NO_RESOURCE_NAME },
        Stack.of(this),
      ),
      ALERT_NOTIFY_FUNCTION_ARN: this.notify.function.functionArn,
      ALERT_TOPIC_KEY_ARN: this.topicKey.keyArn,
    };
  }

  /**
   * Alarms and topics of alert rules, on this deployment's names only: put, list and delete
   * alarms; create, subscribe and delete topics. `reconcile` adds ListTopics (the leftover search)
   * and Publish (backup-health changes to the e-mail subscribers).
   */
  grantManage(grantee: iam.IGrantable, options: { reconcile?: boolean } = {}): void {
    const alarms = Arn.format(
      {
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: `${this.deploymentName}-alert-*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      },
      Stack.of(this),
    );
    iam.Grant.addToPrincipal({
      grantee,
      actions: [
        'cloudwatch:PutMetricAlarm',
        'cloudwatch:DeleteAlarms',
        'cloudwatch:DescribeAlarms',
        // PutMetricAlarm with Tags is authorized as TagResource too.
        'cloudwatch:TagResource',
      ],
      resourceArns: [alarms],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: [
        'sns:CreateTopic',
        'sns:DeleteTopic',
        'sns:TagResource',
        'sns:Subscribe',
        'sns:Unsubscribe',
        'sns:ListSubscriptionsByTopic',
      ],
      // Subscription ARNs are the topic's ARN and an id: the same pattern covers Unsubscribe.
      resourceArns: [this.topicArn('*')],
    });
    acknowledgeNag(
      grantee,
      `IAM5[Resource::${nagArn('cloudwatch', `alarm:${this.deploymentName}-alert-*`)}]`,
      "One alarm per alert rule and addon, created at run time under this deployment's alert prefix",
    );
    acknowledgeNag(
      grantee,
      `IAM5[Resource::${nagArn('sns', `${this.deploymentName}-alert-*`)}]`,
      "One topic per alert rule, created at run time under this deployment's alert prefix (and its subscriptions)",
    );
    if (options.reconcile) {
      // Backup-health rules have no alarm: the reconciler publishes their changes to the topic
      // itself, for its e-mail subscribers (the topic is encrypted with the topic key).
      iam.Grant.addToPrincipal({ grantee, actions: ['sns:Publish'], resourceArns: [this.topicArn('*')] });
      this.topicKey.grant(grantee, 'kms:GenerateDataKey', 'kms:Decrypt');
      iam.Grant.addToPrincipal({ grantee, actions: ['sns:ListTopics'], resourceArns: ['*'] });
      acknowledgeNag(
        grantee,
        'IAM5[Resource::*]',
        'sns:ListTopics supports no resource-level permission: `*` is the only resource it accepts; it only lists topic ARNs',
      );
    }
  }
}
