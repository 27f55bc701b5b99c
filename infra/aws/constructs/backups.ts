import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Arn, ArnFormat, Aws, Duration, IgnoreMode, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { JOB_COMMAND } from '#shared/services/backup-workflow-tasks.ts';
import { PROJECT_ROOT } from '../bundling.ts';
import { acknowledgeGuard } from '../guard.ts';
import { acknowledgeNag } from '../nag.ts';
import type { Data } from './data.ts';
import type { AddonEngine } from './engines/addon-engine.ts';
import type { Network } from './network.ts';

export interface BackupsProps {
  data: Data;
  network: Network;
  /** Each engine adds its dump tool's variables to the job container. */
  engines: readonly AddonEngine[];
  /** @default one month */
  logRetention?: RetentionDays;
}

/** Dump artifacts live under this prefix (`BackupArtifacts.artifactFor`); IAM is scoped to it. */
export const DUMPS_PREFIX = 'dumps/';
/** Files users upload for imports (`ImportUploads.objectFor`); IAM and the lifecycle rule are scoped to it. */
export const IMPORTS_PREFIX = 'imports/';
/** S3 deletes uploads after this many days whatever their records say: imports expire after one. */
const IMPORT_UPLOAD_DAYS = 3;
export const JOB_CONTAINER_NAME = 'job';
/** uid:gid of `node` in the node:20 images the job image is built from. */
export const JOB_USER = '1000:1000';
const JOB_MEMORY_MIB = 2048;
/** Where infra/images/Dockerfile puts the RDS CA bundle. */
export const RDS_CA_BUNDLE = '/etc/ssl/certs/rds-global-bundle.pem';
const DOCKERFILE = 'infra/images/Dockerfile';

export type ArtifactAction = 'GetObject' | 'PutObject' | 'DeleteObject' | 'AbortMultipartUpload';

/**
 * Where backups go and where jobs run: the backup bucket, and the Fargate cluster and task
 * definition of the dump and restore jobs (`functions/jobs/main.ts`, image
 * `infra/images/Dockerfile`), which the backup-addon and restore-addon state machines run
 * through `ecs:runTask.sync`.
 *
 * The bucket:
 * - SSE-KMS with the platform's customer-managed key and an S3 bucket key (one KMS call per
 *   object and hour instead of per part of a multipart upload), TLS only, no public access.
 * - No versioning: a dump is written once; when the user or retention deletes a backup, its
 *   data must really go, and noncurrent versions would keep it (and bill it).
 * - Lifecycle is a safety net behind the retention sweep, not a second retention: incomplete
 *   multipart uploads (a job killed mid-dump) are invisible and billed, so they are aborted
 *   after a day. There is no age-based expiry of `dumps/`: manual backups have no expiry and a
 *   pinned backup must never be deleted, and S3 cannot see either fact (they live in DynamoDB).
 *   A tag-filtered expiry would need every scheduled dump tagged at upload and retagged on each
 *   pin/unpin; until the jobs do that, the sweep (hourly, logging each failure) is the authority.
 * - Server access logs go to a log bucket: download links are presigned URLs handed to users,
 *   and these logs are the record of who fetched what.
 */
export class Backups extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly logGroup: LogGroup;
  private readonly key: IKey;
  private readonly network: Network;

  constructor(scope: Construct, id: string, props: BackupsProps) {
    super(scope, id);
    const { data, network } = props;
    this.key = data.key;
    this.network = network;

    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      // S3 server access logging supports only SSE-S3 on the target bucket.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    publishEventsToEventBridge(this.accessLogs);
    const selfLogging =
      'This is the server access log bucket of the backup bucket; logging it into itself would log its own log writes';
    acknowledgeNag(this.accessLogs, 'S1', selfLogging);
    acknowledgeGuard(this.accessLogs, 's3_bucket_logging_enabled_check', selfLogging);
    acknowledgeGuard(
      this.accessLogs,
      's3_bucket_default_encryption_kms_check',
      'S3 server access logging delivers only to buckets encrypted with SSE-S3, not SSE-KMS',
    );
    acknowledgeGuard(
      this.accessLogs,
      's3_bucket_versioning_enabled_check',
      'Only the S3 logging service writes here, each delivery under a new key, and logs expire after a year: versions would only keep expired logs',
    );
    acknowledgeGuard(
      this.accessLogs,
      's3_bucket_object_lock_enabled_check',
      'Log objects expire after a year by lifecycle; Object Lock needs versioning and would keep them past it',
    );

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: data.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: false,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'backups/',
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        // A safety net behind the import expiry sweep: uploads are only ever a day's means to an import.
        {
          id: 'expire-import-uploads',
          prefix: IMPORTS_PREFIX,
          expiration: Duration.days(IMPORT_UPLOAD_DAYS),
        },
      ],
      // Backups outlive the stack: `cdk destroy` must not take them.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    publishEventsToEventBridge(this.bucket);
    acknowledgeGuard(
      this.bucket,
      's3_bucket_versioning_enabled_check',
      'A dump is written once; when a user or the retention sweep deletes a backup its data must really go, and noncurrent versions would keep it (and bill it)',
    );
    acknowledgeGuard(
      this.bucket,
      's3_bucket_object_lock_enabled_check',
      'Backups are deleted on request and by retention; Object Lock would refuse those deletions. Pinning a backup is the product-level way to keep one',
    );

    this.logGroup = new LogGroup(this, 'JobLogs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: network.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'JobTask', {
      // The engine's dump tool, zstd and the upload stream: one vCPU is the bottleneck, memory stays flat.
      cpu: 1024,
      memoryLimitMiB: JOB_MEMORY_MIB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    this.container = this.taskDefinition.addContainer('Job', {
      containerName: JOB_CONTAINER_NAME,
      image: ecs.ContainerImage.fromAsset(PROJECT_ROOT, {
        file: DOCKERFILE,
        platform: Platform.LINUX_ARM64,
        // The context is the repository root: stage only what the Dockerfile copies, with the
        // same rules as its own `.dockerignore`, or synth would copy node_modules into cdk.out.
        exclude: dockerIgnoreRules(),
        ignoreMode: IgnoreMode.DOCKER,
      }),
      command: JOB_COMMAND,
      // The image's `node` user (infra/images/Dockerfile). The job streams between the database
      // and S3 and writes no file, so the root filesystem is read-only and no volume is needed.
      user: JOB_USER,
      readonlyRootFilesystem: true,
      // The whole task's memory: a hard limit, so a runaway job is stopped, not the host starved.
      memoryLimitMiB: JOB_MEMORY_MIB,
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'job' }),
      environment: {
        SECRET_NAME_PREFIX: data.secretNamePrefix,
        AWS_REGION: Aws.REGION,
        // Every connection verifies the RDS server certificate (the bundle is in the image),
        // in the variables each engine's dump tool reads.
        ...Object.assign({}, ...props.engines.map((engine) => engine.jobEnvironment(RDS_CA_BUNDLE))),
      },
    });
    acknowledgeNag(
      this.taskDefinition,
      'ECS2',
      'The environment holds only the secret name prefix, the region and the TLS settings; connection details are read from Secrets Manager by the job',
    );

    // The job reads the addon's connection details and streams the dump to or from S3.
    data.grantConnectionDetails(this.taskDefinition.taskRole, 'read');
    this.grantArtifacts(this.taskDefinition.taskRole, ['GetObject', 'PutObject', 'AbortMultipartUpload']);
    // A restore job also reads an import's uploaded dump.
    this.grantImports(this.taskDefinition.taskRole, ['GetObject']);
    acknowledgeNag(
      this.taskDefinition,
      'IAM5[Resource::*]',
      'The execution role pulls the job image: ecr:GetAuthorizationToken supports no resource-level permissions',
    );
  }

  /** The security groups of every job (the endpoints); each job also joins its addon's project client group. */
  get jobSecurityGroupIds(): string[] {
    return [this.network.jobSecurityGroup.securityGroupId];
  }

  get jobSubnetIds(): string[] {
    return this.network.vpc.selectSubnets(this.network.databaseSubnets).subnetIds;
  }

  /** Object actions on dump artifacts only, with the key through S3 where the data is read or written. */
  grantArtifacts(grantee: iam.IGrantable, actions: readonly ArtifactAction[]): void {
    this.grantObjects(
      grantee,
      actions,
      DUMPS_PREFIX,
      'One dump artifact per backup, created at run time under dumps/<project>/<addon>/',
    );
  }

  /**
   * Object actions on uploaded import files only (`imports/<project>/<addon>/<import>`). PutObject
   * is for the function that presigns upload URLs: the URL carries its role's permission.
   */
  grantImports(grantee: iam.IGrantable, actions: readonly ArtifactAction[]): void {
    this.grantObjects(
      grantee,
      actions,
      IMPORTS_PREFIX,
      'One uploaded file per import, created at run time under imports/<project>/<addon>/',
    );
  }

  /**
   * Object actions under one key prefix of the bucket, with the key through S3 where the data is
   * read or written; the wildcard under the prefix is acknowledged with `why` (objects are created
   * at run time).
   */
  private grantObjects(
    grantee: iam.IGrantable,
    actions: readonly ArtifactAction[],
    prefix: string,
    why: string,
  ): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: actions.map((action) => `s3:${action}`),
      resourceArns: [this.bucket.arnForObjects(`${prefix}*`)],
    });
    const keyActions = [
      ...(actions.includes('GetObject') || actions.includes('PutObject') ? ['kms:Decrypt'] : []),
      ...(actions.includes('PutObject') ? ['kms:GenerateDataKey'] : []),
    ];
    if (keyActions.length > 0) {
      iam.Grant.addToPrincipal({
        grantee,
        actions: keyActions,
        resourceArns: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      });
    }
    acknowledgeNag(
      grantee,
      `IAM5[Resource::<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/${prefix}*]`,
      why,
    );
  }

  /**
   * What a state machine needs to run a job with `ecs:runTask.sync`: RunTask on this task
   * definition in this cluster, PassRole on its two roles, and the managed EventBridge rule
   * Step Functions uses to learn that the task stopped.
   * https://docs.aws.amazon.com/step-functions/latest/dg/ecs-iam.html
   */
  grantRunJob(grantee: iam.IGrantable): void {
    const stack = Stack.of(this);
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['ecs:RunTask'],
      resourceArns: [this.taskDefinition.taskDefinitionArn],
      conditions: { ArnEquals: { 'ecs:cluster': this.cluster.clusterArn } },
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
      resourceArns: [
        Arn.format(
          {
            service: 'ecs',
            resource: 'task',
            resourceName: `${this.cluster.clusterName}/*`,
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          },
          stack,
        ),
      ],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['iam:PassRole'],
      resourceArns: [this.taskDefinition.taskRole.roleArn, this.taskDefinition.obtainExecutionRole().roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      resourceArns: [
        Arn.format(
          {
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForECSTaskRule',
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          },
          stack,
        ),
      ],
    });
    acknowledgeNag(
      grantee,
      `IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<${stack.getLogicalId(this.cluster.node.defaultChild as ecs.CfnCluster)}>/*]`,
      'Job tasks are started at run time; StopTask and DescribeTasks are limited to tasks of the job cluster',
    );
  }
}

/**
 * Object events to EventBridge (CT.S3.PR.4): a record of every dump written or deleted that
 * rules can act on. Set on the CloudFormation bucket itself: `eventBridgeEnabled` would add a
 * custom-resource Lambda to do what the AWS::S3::Bucket property does natively.
 */
const publishEventsToEventBridge = (bucket: s3.Bucket): void => {
  (bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
    eventBridgeConfiguration: { eventBridgeEnabled: true },
  };
};

/**
 * The Dockerfile's own ignore file, so that `docker build` and the CDK asset see the same
 * context; plus the Dockerfile itself, which `docker build -f` reads from the staged context
 * (CDK re-includes it only by its base name, which does not match `infra/images/Dockerfile`).
 */
const dockerIgnoreRules = (): string[] => [
  ...readFileSync(join(PROJECT_ROOT, `${DOCKERFILE}.dockerignore`), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#')),
  `!${DOCKERFILE}`,
  `!${DOCKERFILE}.dockerignore`,
];
