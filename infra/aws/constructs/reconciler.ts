import { Arn, ArnFormat, type CfnResource, Duration, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ReconcileFunctionEnvSchema } from '#shared/config/env.ts';
import { WORKFLOWS } from '#shared/ports/workflow-starter.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { acknowledgeNag, nagArn } from '../nag.ts';
import type { Alerts } from './alerts.ts';
import { type Backups, DUMPS_PREFIX } from './backups.ts';
import type { Data } from './data.ts';
import { ADDON_RESOURCE_PREFIX, type RdsAddons } from './engines/rds-engine.ts';
import type { Network } from './network.ts';
import { ProjectFunction } from './project-function.ts';
import type { Schedules } from './schedules.ts';
import { grantSecretGroupSecrets } from './secret-groups.ts';
import type { Workflows } from './workflows.ts';

/**
 * What the ElastiCache sweep deletes (shared/providers/aws/redis/redis-leftovers.ts): a group's
 * member clusters go with it, as in the Redis engine's own grant (engines/redis.ts).
 */
const ELASTICACHE_RESOURCES = ['replicationgroup', 'cluster', 'usergroup', 'user', 'snapshot'];

export interface ReconcilerProps {
  data: Data;
  network: Network;
  /** The `addons:deployment` tag value (the stack's): leftovers are what carries it. */
  deploymentName: string;
  /** What the RDS engines share: addon instances and snapshot backups. */
  rds: RdsAddons;
  backups: Backups;
  workflows: Workflows;
  schedules: Schedules;
  /** Alert rules: deliveries retried, alarms kept in line with the addons, leftovers removed. */
  alerts: Alerts;
  /** Per-type deadlines in minutes, `create=240,backup=1560`; the defaults otherwise. */
  operationDeadlines?: string;
  /**
   * The bastion's group (`-c bastion=true`): each run admits it in addon groups that lack it
   * (addons created before it); without one, each run revokes the rules of a former bastion.
   */
  bastionSecurityGroup?: ec2.ISecurityGroup;
  /** @default one month */
  logRetention?: RetentionDays;
}

/**
 * The reconciler (`functions/schedule/reconcile.ts`): every five minutes it fails operations
 * past their deadline, starts again those whose workflow never started and releases orphaned
 * locks; every hour it also removes this deployment's leftovers (listing every instance,
 * snapshot, group, secret, schedule and dump is heavier). It may delete only what carries
 * this deployment's tag, or lives under its names (secret prefix, schedule group, dumps/).
 */
export class Reconciler extends Construct {
  readonly function: ProjectFunction<typeof ReconcileFunctionEnvSchema>;

  constructor(scope: Construct, id: string, props: ReconcilerProps) {
    super(scope, id);
    const { data, network, backups, workflows, schedules } = props;
    const machine = (workflow: (typeof WORKFLOWS)[number]) =>
      workflows.stateMachine(workflow).stateMachineArn;
    this.function = new ProjectFunction(this, 'Function', {
      entry: 'functions/schedule/reconcile.ts',
      description: 'Reconciler: stuck operations, orphaned locks and leftovers of this deployment',
      // Scheduler serves only the leftover sweep's listing of schedules: loaded when that runs.
      runtimeClients: ['scheduler'],
      envSchema: ReconcileFunctionEnvSchema,
      environment: {
        ADDONS_TARGET: 'aws',
        POWERTOOLS_SERVICE_NAME: 'addons-reconciler',
        TABLE_NAME: data.table.tableName,
        BACKUP_BUCKET: backups.bucket.bucketName,
        SECRET_NAME_PREFIX: data.secretNamePrefix,
        SECRETS_KMS_KEY_ID: data.key.keyArn,
        DEPLOYMENT_NAME: props.deploymentName,
        VPC_ID: network.vpc.vpcId,
        SCHEDULE_GROUP_NAME: schedules.groupName,
        PROVISION_ADDON_STATE_MACHINE_ARN: machine('provision-addon'),
        DELETE_ADDON_STATE_MACHINE_ARN: machine('delete-addon'),
        BACKUP_ADDON_STATE_MACHINE_ARN: machine('backup-addon'),
        RESTORE_ADDON_STATE_MACHINE_ARN: machine('restore-addon'),
        EXPORT_BACKUP_STATE_MACHINE_ARN: machine('export-backup'),
        SCALE_ADDON_STATE_MACHINE_ARN: machine('scale-addon'),
        UPGRADE_ADDON_STATE_MACHINE_ARN: machine('upgrade-addon'),
        UPDATE_REPLICAS_STATE_MACHINE_ARN: machine('update-replicas'),
        UPDATE_NETWORKING_STATE_MACHINE_ARN: machine('update-networking'),
        ROTATE_CREDENTIALS_STATE_MACHINE_ARN: machine('rotate-credentials'),
        OPERATION_DEADLINES: props.operationDeadlines,
        ...(props.bastionSecurityGroup
          ? { BASTION_SECURITY_GROUP_ID: props.bastionSecurityGroup.securityGroupId }
          : {}),
        ...(({ DEPLOYMENT_NAME: _d, ...rest }) => rest)(props.alerts.environment),
      },
      // Listing every resource and checking each owner: minutes at worst, far below the hour.
      timeout: Duration.minutes(10),
      logRetention: props.logRetention,
    });
    this.grant(props);
    props.alerts.grantManage(this.function, { reconcile: true });

    const target = (leftovers: boolean) =>
      new LambdaFunction(this.function.function, {
        event: RuleTargetInput.fromObject({ leftovers }),
        retryAttempts: 0,
      });
    new Rule(this, 'OperationsRule', {
      description: 'Reconciler: operations and locks',
      schedule: Schedule.rate(Duration.minutes(5)),
      targets: [target(false)],
    });
    new Rule(this, 'LeftoversRule', {
      description: 'Reconciler: operations, locks and leftovers',
      schedule: Schedule.rate(Duration.hours(1)),
      targets: [target(true)],
    });
  }

  private grant(props: ReconcilerProps): void {
    const { data, rds, backups, workflows, schedules } = props;
    const grantee = this.function;
    const stack = Stack.of(this);
    const rdsArn = (resource: string, resourceName: string) =>
      Arn.format({ service: 'rds', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME }, stack);
    const elasticacheArn = (resource: string, resourceName: string) =>
      Arn.format(
        { service: 'elasticache', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME },
        stack,
      );
    const ours = { StringEquals: { [`aws:ResourceTag/${TAG_KEYS.deployment}`]: props.deploymentName } };

    // PutItem: the events a crash kept out of the feed, and backup-health states and events.
    data.grantStore(grantee, ['GetItem', 'Query', 'Scan', 'PutItem', 'UpdateItem', 'DeleteItem']);
    // The secret groups' sweep: stale documents published again from their sources' details, and
    // interrupted group deletes finished (DeleteSecret on the prefix is granted below for leftovers).
    data.grantConnectionDetails(grantee, 'read');
    grantSecretGroupSecrets(data, grantee, 'publish');
    for (const workflow of WORKFLOWS) {
      const machine = workflows.stateMachine(workflow);
      machine.grantStartExecution(grantee);
      machine.grantExecution(grantee, 'states:DescribeExecution', 'states:StopExecution');
    }
    // Listing without an identifier is authorized on every instance or snapshot of the account.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:DescribeDBInstances'],
      resourceArns: [rdsArn('db', '*')],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:DescribeDBSnapshots'],
      resourceArns: [rdsArn('snapshot', '*')],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:ModifyDBInstance', 'rds:DeleteDBInstance'],
      resourceArns: [rdsArn('db', `${ADDON_RESOURCE_PREFIX}*`)],
      conditions: ours,
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:DeleteDBSnapshot'],
      resourceArns: [rds.snapshotArns()],
      conditions: ours,
    });
    // DocumentDB (MongoDB addons): its IAM is RDS's, on cluster and cluster-snapshot ARNs.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:DescribeDBClusters', 'rds:DescribeDBClusterSnapshots'],
      resourceArns: [rdsArn('cluster', '*'), rdsArn('cluster-snapshot', '*')],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:ListTagsForResource'],
      resourceArns: [
        rdsArn('cluster', `${ADDON_RESOURCE_PREFIX}*`),
        rdsArn('cluster-snapshot', `${ADDON_RESOURCE_PREFIX}*`),
      ],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:ModifyDBCluster', 'rds:DeleteDBCluster', 'rds:DeleteDBClusterSnapshot'],
      resourceArns: [
        rdsArn('cluster', `${ADDON_RESOURCE_PREFIX}*`),
        rdsArn('cluster-snapshot', `${ADDON_RESOURCE_PREFIX}*`),
      ],
      conditions: ours,
    });
    iam.Grant.addToPrincipal({
      grantee,
      // The ingress changes: the bastion's rule in addon groups (bastion-access.ts).
      actions: [
        'ec2:DeleteSecurityGroup',
        'ec2:AuthorizeSecurityGroupIngress',
        'ec2:RevokeSecurityGroupIngress',
      ],
      resourceArns: [
        Arn.format(
          {
            service: 'ec2',
            resource: 'security-group',
            resourceName: '*',
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          },
          stack,
        ),
      ],
      conditions: ours,
    });
    // ElastiCache (Redis addons): replication groups, RBAC user groups and users, snapshots.
    iam.Grant.addToPrincipal({
      grantee,
      actions: [
        'elasticache:DeleteReplicationGroup',
        'elasticache:DeleteUserGroup',
        'elasticache:DeleteUser',
        'elasticache:DeleteSnapshot',
        // A replica node above its addon's count that a failed compensation left.
        'elasticache:DecreaseReplicaCount',
      ],
      resourceArns: ELASTICACHE_RESOURCES.map((resource) =>
        elasticacheArn(resource, `${ADDON_RESOURCE_PREFIX}*`),
      ),
      conditions: ours,
    });
    // Describe and List calls of EC2, Secrets Manager and Scheduler support no resource-level
    // permissions; ElastiCache's Describe* and ListTagsForResource are read-only and list everything.
    iam.Grant.addToPrincipal({
      grantee,
      actions: [
        'ec2:DescribeSecurityGroups',
        'secretsmanager:ListSecrets',
        'scheduler:ListSchedules',
        'elasticache:DescribeReplicationGroups',
        'elasticache:DescribeUserGroups',
        'elasticache:DescribeUsers',
        'elasticache:DescribeSnapshots',
        'elasticache:ListTagsForResource',
      ],
      resourceArns: ['*'],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:DeleteSecret'],
      resourceArns: [data.secretArnPattern()],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['scheduler:DeleteSchedule'],
      resourceArns: [schedules.scheduleArns()],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [backups.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': `${DUMPS_PREFIX}*` } },
    });
    backups.grantArtifacts(grantee, ['DeleteObject']);

    const ack = (resource: string, reason: string) =>
      acknowledgeNag(grantee, `IAM5[Resource::${resource}]`, reason);
    ack(
      nagArn('rds', 'db:*'),
      'Listing DB instances (to find leftovers) is authorized on every instance of the account',
    );
    ack(
      nagArn('rds', 'snapshot:*'),
      'Listing DB snapshots (to find leftovers) is authorized on every snapshot of the account',
    );
    ack(
      nagArn('rds', `db:${ADDON_RESOURCE_PREFIX}*`),
      'Leftover addon instances are deleted only when they carry this deployment’s addons:deployment tag',
    );
    ack(
      nagArn('rds', `snapshot:${ADDON_RESOURCE_PREFIX}*`),
      'Leftover snapshot backups are deleted only when they carry this deployment’s addons:deployment tag',
    );
    ack(
      nagArn('rds', 'cluster:*'),
      'Listing DocumentDB clusters (to find leftovers) is authorized on every cluster',
    );
    ack(
      nagArn('rds', 'cluster-snapshot:*'),
      'Listing DocumentDB cluster snapshots (to find leftovers) is authorized on every cluster snapshot',
    );
    ack(
      nagArn('rds', `cluster:${ADDON_RESOURCE_PREFIX}*`),
      'Leftover DocumentDB clusters are deleted only when they carry this deployment’s addons:deployment tag',
    );
    ack(
      nagArn('rds', `cluster-snapshot:${ADDON_RESOURCE_PREFIX}*`),
      'Leftover DocumentDB cluster snapshots are deleted only when they carry this deployment’s addons:deployment tag',
    );
    ack(
      nagArn('ec2', 'security-group/*'),
      'Leftover addon security groups are deleted only when they carry this deployment’s addons:deployment tag',
    );
    for (const resource of ELASTICACHE_RESOURCES) {
      ack(
        nagArn('elasticache', `${resource}:${ADDON_RESOURCE_PREFIX}*`),
        'Leftover Redis addon resources (replication groups, RBAC user groups and users, snapshots) are deleted only when they carry this deployment’s addons:deployment tag',
      );
    }
    ack(
      '*',
      'ec2:DescribeSecurityGroups, secretsmanager:ListSecrets and scheduler:ListSchedules support no resource-level permissions; ElastiCache Describe* and ListTagsForResource are read-only',
    );
    ack(
      nagArn('secretsmanager', `secret:${data.secretNamePrefix}*`),
      'Leftover connection-detail secrets live under this deployment’s prefix',
    );
    ack(
      nagArn('scheduler', `schedule/${schedules.groupName}/*`),
      'Leftover backup schedules live in this deployment’s schedule group',
    );
    for (const workflow of WORKFLOWS) {
      const machineId = stack.getLogicalId(workflows.stateMachine(workflow).node.defaultChild as CfnResource);
      acknowledgeNag(
        grantee,
        `IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${machineId}"}]}]}:*]`,
        `Executions are named after operation ids at run time; DescribeExecution and StopExecution are limited to executions of ${workflow}`,
      );
    }
  }
}
