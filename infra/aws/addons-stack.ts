import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { Alarms } from './constructs/alarms.ts';
import { Alerts } from './constructs/alerts.ts';
import { Api } from './constructs/api.ts';
import { Backups } from './constructs/backups.ts';
import { Bastion } from './constructs/bastion.ts';
import { ConsoleHosting } from './constructs/console-hosting.ts';
import { Data } from './constructs/data.ts';
import type { AddonEngine } from './constructs/engines/addon-engine.ts';
import { MongodbAddons } from './constructs/engines/mongodb.ts';
import { MysqlAddons } from './constructs/engines/mysql.ts';
import { PostgresqlAddons } from './constructs/engines/postgresql.ts';
import { RdsAddons } from './constructs/engines/rds-engine.ts';
import { RedisAddons } from './constructs/engines/redis.ts';
import { Events } from './constructs/events.ts';
import { LogEncryption } from './constructs/log-encryption.ts';
import { Network } from './constructs/network.ts';
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
  /**
   * A Session Manager bastion and its VPC endpoints (about $28 a month), through which an
   * operator forwards a local port to a private addon (`addons tunnel`, docs/networking.md).
   * @default false
   */
  bastion?: boolean;
}

/** The stack output naming the bastion's instance (what `addons tunnel` looks up). */
export const BASTION_OUTPUT = 'BastionInstanceId';

/**
 * The engines this stack deploys, one construct each (infra/aws/constructs/engines/): adding an
 * engine is adding its construct here, and its adapters to the registries of shared/providers/aws.
 */
const ENGINE_CONSTRUCTS = [
  {
    id: 'Postgres',
    create: (stack: AddonsStack, id: string) => new PostgresqlAddons(stack, id, { rds: stack.rds }),
  },
  { id: 'Mysql', create: (stack: AddonsStack, id: string) => new MysqlAddons(stack, id, { rds: stack.rds }) },
  {
    id: 'Mongodb',
    create: (stack: AddonsStack, id: string) => new MongodbAddons(stack, id, { rds: stack.rds }),
  },
  {
    id: 'Redis',
    create: (stack: AddonsStack, id: string) =>
      new RedisAddons(stack, id, {
        network: stack.network,
        key: stack.data.key,
        deploymentName: stack.deploymentName,
        rds: stack.rds,
      }),
  },
] as const;

/** The whole platform on AWS. Wiring only: each feature lives in its construct. */
export class AddonsStack extends Stack {
  readonly logEncryption: LogEncryption;
  readonly alarms: Alarms;
  readonly network: Network;
  readonly data: Data;
  /** What every RDS engine shares: the DB subnet group and the RDS mechanics' grants. */
  readonly rds: RdsAddons;
  /** One construct per engine the stack deploys. */
  readonly engines: readonly AddonEngine[];
  /** The Session Manager bastion, where `bastion` is on. */
  readonly bastion: Bastion | undefined;
  readonly backups: Backups;
  readonly workflows: Workflows;
  readonly schedules: Schedules;
  readonly api: Api;
  readonly console: ConsoleHosting;
  readonly reconciler: Reconciler;
  readonly events: Events;
  readonly alerts: Alerts;

  /**
   * The value of the `addons:deployment` tag on everything the workflows create: the IAM
   * conditions of every role and the reconciler's leftover search match it, so a second stack in
   * the same account (`-c stackName=...`) never touches this one's addons. The stack's own
   * resources deliberately do not carry it (a stack-wide `Tags.of` would put the stack's security
   * groups within reach of the workflow role and the reconciler, and make every RunTask, which
   * propagates the task definition's tags, need ecs:TagResource).
   */
  get deploymentName(): string {
    return this.stackName;
  }

  constructor(scope: Construct, id: string, props: AddonsStackProps = {}) {
    super(scope, id, props);
    const logRetention = props.logRetention ?? RetentionDays.ONE_YEAR;
    this.logEncryption = new LogEncryption(this, 'LogEncryption');
    this.alarms = new Alarms(this, 'Alarms', { email: props.alarmEmail });
    this.network = new Network(this, 'Network', { logRetention });
    this.data = new Data(this, 'Data');
    this.rds = new RdsAddons(this, 'Rds', {
      network: this.network,
      key: this.data.key,
      deploymentName: this.deploymentName,
    });
    this.engines = ENGINE_CONSTRUCTS.map(({ id, create }) => create(this, id));
    this.bastion = props.bastion
      ? new Bastion(this, 'Bastion', {
          network: this.network,
          ports: this.engines.map((engine) => engine.port),
        })
      : undefined;
    this.backups = new Backups(this, 'Backups', {
      data: this.data,
      network: this.network,
      engines: this.engines,
      logRetention,
    });
    this.workflows = new Workflows(this, 'Workflows', {
      data: this.data,
      network: this.network,
      deploymentName: this.deploymentName,
      rds: this.rds,
      engines: this.engines,
      backups: this.backups,
      backupGraceDays: props.backupGraceDays,
      logRetention,
      bastionSecurityGroup: this.bastion?.securityGroup,
    });
    this.schedules = new Schedules(this, 'Schedules', {
      data: this.data,
      backups: this.backups,
      workflows: this.workflows,
      engines: this.engines,
      logRetention,
    });
    // The console first: the API lets its origin call it (CORS). `npm run console:deploy` uploads its files.
    this.console = new ConsoleHosting(this, 'Console', { accessLogs: this.backups.accessLogs });
    this.alerts = new Alerts(this, 'Alerts', {
      data: this.data,
      deploymentName: this.deploymentName,
      logRetention,
    });
    this.api = new Api(this, 'Api', {
      alerts: this.alerts,
      data: this.data,
      workflows: this.workflows,
      backups: this.backups,
      schedules: this.schedules,
      engines: this.engines,
      logRetention,
      corsOrigins: [this.console.origin],
    });

    this.reconciler = new Reconciler(this, 'Reconciler', {
      alerts: this.alerts,
      data: this.data,
      network: this.network,
      deploymentName: this.deploymentName,
      rds: this.rds,
      backups: this.backups,
      workflows: this.workflows,
      schedules: this.schedules,
      bastionSecurityGroup: this.bastion?.securityGroup,
      logRetention,
    });

    this.events = new Events(this, 'Events', { data: this.data, logRetention });

    new CfnOutput(this, 'EventBusName', {
      value: this.events.bus.eventBusName,
      description: 'Operation and backup-health events (docs/events.md): rules on this bus route them',
    });
    new CfnOutput(this, 'ConsoleUrl', {
      value: this.console.url,
      description: 'The web console (sign in with a Cognito user of the pool below)',
    });
    new CfnOutput(this, 'ConsoleBucketName', {
      value: this.console.bucket.bucketName,
      description: '`npm run console:deploy` uploads the console here',
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
    if (this.bastion) {
      new CfnOutput(this, BASTION_OUTPUT, {
        value: this.bastion.instance.instanceId,
        description: 'Session Manager bastion: `npx addons tunnel <addon>` forwards a local port through it',
      });
    }
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarms.topic.topicArn,
      description: 'Every alarm of the platform notifies this SNS topic, on ALARM and on OK',
    });
  }
}
