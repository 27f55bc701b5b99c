import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Annotations, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { ISecurityGroup } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { WorkflowFunctionEnvSchema } from '#shared/config/env.ts';
import { WORKFLOWS, type WorkflowName } from '#shared/ports/workflow-starter.ts';
import { DEFAULT_BACKUP_GRACE_DAYS } from '#shared/services/addon-retirement.ts';
import { PROJECT_ROOT } from '../bundling.ts';
import { acknowledgeNag } from '../nag.ts';
import { type Backups, JOB_CONTAINER_NAME } from './backups.ts';
import type { Data } from './data.ts';
import { type AddonEngine, engineEnvironment } from './engines/addon-engine.ts';
import type { RdsAddons } from './engines/rds-engine.ts';
import type { Network } from './network.ts';
import { ProjectFunction } from './project-function.ts';
import { scheduleGroupNameOf } from './schedules.ts';

export interface WorkflowsProps {
  data: Data;
  network: Network;
  /** The `addons:deployment` tag value (the stack's). */
  deploymentName: string;
  /** What the RDS engines share: the DB subnet group. */
  rds: RdsAddons;
  /** The engines the stack deploys: their grants and environment. */
  engines: readonly AddonEngine[];
  backups: Backups;
  /** Days a deleted addon's backups are kept (pinned ones: until unpinned). @default 7 */
  backupGraceDays?: number;
  /** @default one month */
  logRetention?: RetentionDays;
  /** The bastion's group (`-c bastion=true`): the provisioning admits it in every new addon group. */
  bastionSecurityGroup?: ISecurityGroup;
}

export const STATE_MACHINES_DIR = join(PROJECT_ROOT, 'state-machines');

const pascal = (name: string) =>
  name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

/**
 * The addon workflows: one Standard state machine per `state-machines/*.asl.json` file (the
 * same files the local runner executes) and the task function their Task states invoke.
 * Standard, not Express: the Wait/Describe loops outlast Express's five minutes.
 */
export class Workflows extends Construct {
  readonly taskFunction: ProjectFunction<typeof WorkflowFunctionEnvSchema>;
  /** One per workflow in WORKFLOWS whose ASL file exists (infra tests require all of them). */
  readonly stateMachines: Partial<Record<WorkflowName, StateMachine>> = {};
  /** `${Placeholder}` -> value, for every ASL file (infra tests check both directions). */
  readonly substitutions: Record<string, string>;

  constructor(scope: Construct, id: string, props: WorkflowsProps) {
    super(scope, id);
    const { data, network, rds, engines, backups } = props;
    const retention = props.logRetention ?? RetentionDays.ONE_MONTH;

    this.taskFunction = new ProjectFunction(this, 'TaskFunction', {
      entry: 'functions/workflow/handler.ts',
      // Schedules change only when an addon is deleted, restored as a new one or forked: 15 KB
      // of client that most steps never call (the budget test).
      runtimeClients: ['scheduler'],
      description:
        'Addon workflow steps (provision, delete, backup, restore) on RDS, S3, Secrets Manager and DynamoDB',
      envSchema: WorkflowFunctionEnvSchema,
      environment: {
        ADDONS_TARGET: 'aws',
        POWERTOOLS_SERVICE_NAME: 'addons-workflows',
        TABLE_NAME: data.table.tableName,
        SECRET_NAME_PREFIX: data.secretNamePrefix,
        SECRETS_KMS_KEY_ID: data.key.keyArn,
        DEPLOYMENT_NAME: props.deploymentName,
        VPC_ID: network.vpc.vpcId,
        VPC_CIDR: network.vpc.vpcCidrBlock,
        ...(props.bastionSecurityGroup
          ? { BASTION_SECURITY_GROUP_ID: props.bastionSecurityGroup.securityGroupId }
          : {}),
        DB_SUBNET_GROUP_NAME: rds.subnetGroup.subnetGroupName,
        RDS_SUBNET_GROUP_NAME: rds.publicSubnetGroup.subnetGroupName,
        STORAGE_KMS_KEY_ID: data.key.keyArn,
        ...engineEnvironment(this, engines),
        BACKUP_BUCKET: backups.bucket.bucketName,
        JOB_CLUSTER_ARN: backups.cluster.clusterArn,
        JOB_TASK_DEFINITION_ARN: backups.taskDefinition.taskDefinitionArn,
        JOB_CONTAINER_NAME,
        JOB_SUBNET_IDS: Fn.join(',', backups.jobSubnetIds),
        JOB_SECURITY_GROUP_IDS: Fn.join(',', backups.jobSecurityGroupIds),
        // Live-import jobs: the subnets routed through the NAT gateway, the database-port group.
        ...(network.liveImportSecurityGroup
          ? {
              LIVE_IMPORT_SUBNET_IDS: Fn.join(
                ',',
                network.vpc.selectSubnets(network.liveImportSubnets).subnetIds,
              ),
              LIVE_IMPORT_SECURITY_GROUP_IDS: network.liveImportSecurityGroup.securityGroupId,
            }
          : {}),
        SCHEDULE_GROUP_NAME: scheduleGroupNameOf(this),
        BACKUP_GRACE_DAYS: props.backupGraceDays ?? DEFAULT_BACKUP_GRACE_DAYS,
      },
      // Each step is a few AWS calls, bounded by its ASL TimeoutSeconds (120 s for most); the
      // export step copies a backup to a user's bucket and reads the copy back, up to 15 minutes.
      timeout: Duration.minutes(15),
      memorySize: 512,
      logRetention: retention,
    });
    // Query: a deleted addon's schedules and backups (delete-addon's RemoveSchedules, RetireBackups).
    // PutItem: an operation's end writes its events into the feed (AddonStore.updateOperation).
    data.grantStore(this.taskFunction, ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem']);
    data.grantConnectionDetails(this.taskFunction, 'write');
    data.grantConnectionDetailStages(this.taskFunction);
    for (const engine of engines) engine.grantProvisioning(this.taskFunction);
    // completeDump reads the job's result and size; a failed backup deletes its partial artifact.
    backups.grantArtifacts(this.taskFunction, ['GetObject', 'DeleteObject']);
    // A completed import deletes its uploaded file; a Redis import on ElastiCache copies it first
    // (CopyObject reads the source: GetObject and the key's Decrypt).
    backups.grantImports(this.taskFunction, ['GetObject', 'DeleteObject']);
    // Exports: the copy is written into (and read back from) a bucket the user owns, in another
    // account, whose bucket policy grants this role `<projectId>/*`: cross-account access needs
    // both that policy and this identity policy. Bucket names are the user's, known only at run
    // time, so the resource is every bucket, but never one of this account's (s3:ResourceAccount):
    // the platform's own buckets cannot be written through an export.
    this.taskFunction.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject'],
        resources: [`arn:${Stack.of(this).partition}:s3:::*/*`],
        conditions: { StringNotEquals: { 's3:ResourceAccount': Stack.of(this).account } },
      }),
    );
    acknowledgeNag(
      this.taskFunction,
      'IAM5[Resource::arn:<AWS::Partition>:s3:::*/*]',
      "Backup exports write to users' own buckets, named at run time in other accounts (their bucket policies decide); the condition s3:ResourceAccount != this account keeps the platform's buckets out",
    );

    this.substitutions = { WorkflowTaskFunctionArn: this.taskFunction.function.functionArn };

    for (const workflow of WORKFLOWS) {
      const file = join(STATE_MACHINES_DIR, `${workflow}.asl.json`);
      if (!existsSync(file)) {
        Annotations.of(this).addWarningV2(
          'addons:state-machine-missing',
          `No ASL file for workflow '${workflow}'`,
        );
        continue;
      }
      const name = pascal(workflow);
      // Vended-logs prefix: CloudWatch Logs keeps one resource policy for all of them.
      const logGroup = new LogGroup(this, `${name}Logs`, {
        logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-${workflow}`,
        retention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const machine = new StateMachine(this, name, {
        stateMachineType: StateMachineType.STANDARD,
        definitionBody: DefinitionBody.fromFile(file),
        definitionSubstitutions: this.substitutions,
        // Workflow state holds ids and statuses only: passwords never pass through it.
        logs: { destination: logGroup, level: LogLevel.ALL, includeExecutionData: true },
        tracingEnabled: true,
      });
      // The ASL names the function ARN directly as a Task Resource, so CDK cannot infer this grant.
      this.taskFunction.function.grantInvokeLatestVersion(machine);
      acknowledgeNag(
        machine.role,
        'IAM5[Resource::*]',
        'Step Functions logging (logs:CreateLogDelivery and related) and X-Ray tracing support no resource-level permissions',
      );
      // The dump and restore jobs run as Fargate tasks through `ecs:runTask.sync` (provision-addon:
      // the restore job that seeds a fork from a dump backup).
      // upgrade-addon: the dump job of the backup taken before the upgrade.
      // rotate-credentials: the login job of engines whose logins change inside the instance (RDS).
      if (
        ['backup-addon', 'restore-addon', 'provision-addon', 'upgrade-addon', 'rotate-credentials'].includes(
          workflow,
        )
      )
        backups.grantRunJob(machine);
      this.stateMachines[workflow] = machine;
    }
  }

  stateMachine(workflow: WorkflowName): StateMachine {
    const machine = this.stateMachines[workflow];
    if (!machine) throw new Error(`There is no state machine for workflow '${workflow}'`);
    return machine;
  }
}
