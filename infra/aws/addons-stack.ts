import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { Alarms } from './constructs/alarms.ts';
import { Api } from './constructs/api.ts';
import { Backups } from './constructs/backups.ts';
import { Data } from './constructs/data.ts';
import { LogEncryption } from './constructs/log-encryption.ts';
import { Network } from './constructs/network.ts';
import { PostgresAddons } from './constructs/postgres-addons.ts';
import { Reconciler } from './constructs/reconciler.ts';
import { Schedules } from './constructs/schedules.ts';
import { Workflows } from './constructs/workflows.ts';

export interface AddonsStackProps extends StackProps {
  /**
   * Retention of every log group of the stack. Control Tower (CT.CLOUDWATCH.PR.2) asks for a
   * year; a shorter one fails synthesis unless acknowledged. @default one year
   */
  logRetention?: RetentionDays;
  /** Days a deleted addon's backups are kept before retention deletes them (pinned ones: until unpinned). @default 7 */
  backupGraceDays?: number;
  /** Subscribed to the alarm topic. @default no subscription */
  alarmEmail?: string;
}

/** The whole platform on AWS. Wiring only: each feature lives in its construct. */
export class AddonsStack extends Stack {
  readonly logEncryption: LogEncryption;
  readonly alarms: Alarms;
  readonly network: Network;
  readonly data: Data;
  readonly postgres: PostgresAddons;
  readonly backups: Backups;
  readonly workflows: Workflows;
  readonly schedules: Schedules;
  readonly api: Api;
  readonly reconciler: Reconciler;

  constructor(scope: Construct, id: string, props: AddonsStackProps = {}) {
    super(scope, id, props);
    const logRetention = props.logRetention ?? RetentionDays.ONE_YEAR;
    this.logEncryption = new LogEncryption(this, 'LogEncryption');
    this.alarms = new Alarms(this, 'Alarms', { email: props.alarmEmail });
    this.network = new Network(this, 'Network', { logRetention });
    this.data = new Data(this, 'Data');
    this.postgres = new PostgresAddons(this, 'Postgres', { network: this.network, key: this.data.key });
    this.backups = new Backups(this, 'Backups', { data: this.data, network: this.network, logRetention });
    this.workflows = new Workflows(this, 'Workflows', {
      data: this.data,
      network: this.network,
      postgres: this.postgres,
      backups: this.backups,
      backupGraceDays: props.backupGraceDays,
      logRetention,
    });
    this.schedules = new Schedules(this, 'Schedules', {
      data: this.data,
      backups: this.backups,
      workflows: this.workflows,
      postgres: this.postgres,
      logRetention,
    });
    this.api = new Api(this, 'Api', {
      data: this.data,
      workflows: this.workflows,
      backups: this.backups,
      schedules: this.schedules,
      postgres: this.postgres,
      logRetention,
    });

    this.reconciler = new Reconciler(this, 'Reconciler', {
      data: this.data,
      network: this.network,
      postgres: this.postgres,
      backups: this.backups,
      workflows: this.workflows,
      schedules: this.schedules,
      logRetention,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the API' });
    new CfnOutput(this, 'UserPoolId', { value: this.api.userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', {
      value: this.api.userPoolClient.userPoolClientId,
      description: 'App client for `aws cognito-idp initiate-auth`; send its IdToken as the bearer token',
    });
    new CfnOutput(this, 'VpcId', { value: this.network.vpc.vpcId });
    new CfnOutput(this, 'BackupBucketName', {
      value: this.backups.bucket.bucketName,
      description: 'Dump backups (retained when the stack is deleted)',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarms.topic.topicArn,
      description: 'Every alarm of the platform notifies this SNS topic, on ALARM and on OK',
    });
  }
}
