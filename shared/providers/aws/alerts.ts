import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AlertAlarmsEnvSchema, EnvInput } from '../../config/env.ts';
import { AlertRuleService } from '../../services/alert-rules.ts';
import type { AddonStore } from '../../store/addon-store.ts';
import { AlertStore } from '../../store/alert-store.ts';
import { awsAlertAvailability, CloudWatchAlertAlarms } from './cloudwatch-alarms.ts';
import { CloudWatchMetrics } from './cloudwatch-metrics.ts';

/** Alert rules on AWS: the table, CloudWatch alarms and SNS topics (the operations function, the reconciler). */
export const awsAlertServices = (props: {
  env: EnvInput<typeof AlertAlarmsEnvSchema>;
  client: DynamoDBDocumentClient;
  tableName: string;
  addons: Pick<AddonStore, 'findAddon' | 'listAddons'>;
  cloudwatch?: CloudWatchClient;
  sns?: SNSClient;
}) => {
  const cloudwatch = props.cloudwatch ?? new CloudWatchClient({});
  const sns = props.sns ?? new SNSClient({});
  const alerts = new AlertStore({ client: props.client, tableName: props.tableName });
  const alarms = new CloudWatchAlertAlarms({
    cloudwatch,
    sns,
    deployment: props.env.DEPLOYMENT_NAME,
    topicArnPrefix: props.env.ALERT_TOPIC_ARN_PREFIX,
    notifyFunctionArn: props.env.ALERT_NOTIFY_FUNCTION_ARN,
    topicKeyArn: props.env.ALERT_TOPIC_KEY_ARN,
  });
  const rules = new AlertRuleService({
    alerts,
    addons: props.addons,
    target: 'aws',
    available: awsAlertAvailability(new CloudWatchMetrics({ client: cloudwatch })),
    alarms,
  });
  return { alerts, alarms, rules, cloudwatch, sns };
};
