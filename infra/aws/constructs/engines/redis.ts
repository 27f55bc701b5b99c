import { Arn, ArnFormat, Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { CfnSubnetGroup, CfnUser } from 'aws-cdk-lib/aws-elasticache';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { REDIS_PORT } from '#shared/providers/aws/redis/index.ts';
import { REDIS_IMPORTS_PREFIX } from '#shared/providers/aws/redis/names.ts';
import { TAG_KEY_PREFIX, TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { acknowledgeGuard } from '../../guard.ts';
import { acknowledgeNag, nagArn } from '../../nag.ts';
import type { Network } from '../network.ts';
import type { AddonEngine, EngineEnvironment } from './addon-engine.ts';
import { ADDON_RESOURCE_PREFIX, type RdsAddons } from './rds-engine.ts';

export interface RedisAddonsProps {
  network: Network;
  /** Encrypts the replication groups at rest (the deployment's key, as for RDS). */
  key: IKey;
  deploymentName: string;
  /** The addon security groups' statements live with the RDS mechanics (the same `AddonSecurityGroups`). */
  rds: RdsAddons;
}

/**
 * ElastiCache (Redis OSS) addons (shared/providers/aws/redis/): the cache subnet group over the
 * same isolated subnets as RDS, the bucket ElastiCache exports snapshots to (downloadable RDB
 * files), and the workflow function's permissions. Everything per addon (replication groups, RBAC
 * users and user group, snapshots) is created by the workflows, named `addon-...` and tagged
 * with the deployment.
 */
export class RedisAddons extends Construct implements AddonEngine {
  readonly engine = 'redis' as const;
  readonly port = REDIS_PORT;
  readonly subnetGroup: CfnSubnetGroup;
  /**
   * Where snapshot exports go. Its own bucket: ElastiCache writes exports as its service
   * principal, which the backup bucket (SSE-KMS with the deployment key) does not admit.
   */
  readonly exportBucket: s3.Bucket;
  /**
   * The `default` user every user group must contain: one for the deployment, switched off, so
   * nobody connects without an addon's own user, and an addon's teardown deletes only its own user.
   */
  readonly defaultUser: CfnUser;
  private readonly props: RedisAddonsProps;

  constructor(scope: Construct, id: string, props: RedisAddonsProps) {
    super(scope, id);
    this.props = props;
    this.subnetGroup = new CfnSubnetGroup(this, 'SubnetGroup', {
      description: 'Isolated subnets of the Redis addons',
      subnetIds: props.network.vpc.selectSubnets(props.network.databaseSubnets).subnetIds,
    });
    this.defaultUser = new CfnUser(this, 'DisabledDefaultUser', {
      engine: 'redis',
      // Named like the addons' resources (the workflow role's `addon-*` scope), once per deployment.
      userId: `${ADDON_RESOURCE_PREFIX}${props.deploymentName.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-off`,
      userName: 'default',
      accessString: 'off ~* -@all',
      noPasswordRequired: true,
    });
    this.exportBucket = new s3.Bucket(this, 'ExportBucket', {
      // ElastiCache's export writes with SSE-S3; it cannot use the deployment's customer key.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        // An import's copy is deleted when the import ends; one a failure left behind goes anyway
        // (as the backup bucket's `imports/` rule: the upload itself is gone by then).
        { id: 'expire-import-copies', prefix: REDIS_IMPORTS_PREFIX, expiration: Duration.days(3) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // As the backup bucket (CT.S3.PR.4): events to EventBridge, natively rather than by a custom resource.
    (this.exportBucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
      eventBridgeConfiguration: { eventBridgeEnabled: true },
    };
    // ElastiCache exports as its regional service principal (documented for buckets with ACLs
    // disabled: "Grant ElastiCache access to your Amazon S3 bucket"), and reads the RDB files an
    // import seeds a new group with as the same principal (GetObject, ListBucket, GetBucketAcl:
    // "Seeding a new self-designed cluster with an externally created backup").
    this.exportBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`${Aws.REGION}.elasticache-snapshot.amazonaws.com`)],
        actions: [
          's3:PutObject',
          's3:GetObject',
          's3:ListBucket',
          's3:GetBucketAcl',
          's3:ListMultipartUploadParts',
          's3:ListBucketMultipartUploads',
        ],
        resources: [this.exportBucket.bucketArn, this.exportBucket.arnForObjects('*')],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    const exportsOnly =
      'Holds only snapshot exports ElastiCache writes and the platform reads once to hash; every access is an authorized API call recorded by CloudTrail';
    acknowledgeNag(this.exportBucket, 'S1', exportsOnly);
    acknowledgeGuard(this.exportBucket, 's3_bucket_logging_enabled_check', exportsOnly);
    acknowledgeGuard(
      this.exportBucket,
      's3_bucket_default_encryption_kms_check',
      "ElastiCache writes exports with SSE-S3; its service principal cannot use the deployment's customer key",
    );
    acknowledgeGuard(
      this.exportBucket,
      's3_bucket_versioning_enabled_check',
      'An export is written once per backup and deleted with it; versions would keep deleted data',
    );
    acknowledgeGuard(
      this.exportBucket,
      's3_bucket_object_lock_enabled_check',
      'Exports are deleted with their backups; Object Lock would refuse that',
    );
  }

  get environment(): EngineEnvironment {
    return {
      variables: {
        CACHE_SUBNET_GROUP_NAME: this.subnetGroup.ref,
        REDIS_EXPORT_BUCKET: this.exportBucket.bucketName,
        // The id itself (a Ref would be the same string): known at synthesis.
        REDIS_DEFAULT_USER_ID: this.defaultUser.userId,
      },
    };
  }

  jobEnvironment(): Record<string, string> {
    return {};
  }

  private arn(resource: string, resourceName: string): string {
    return Arn.format(
      { service: 'elasticache', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME },
      Stack.of(this),
    );
  }

  /**
   * What `ElastiCacheRedisProvider` sends, on `addon-...` resources of this deployment: every
   * create must tag what it creates as ours (with our keys only), every change or delete needs
   * the deployment tag on the resource. ElastiCache matches tags with the global keys
   * (`aws:RequestTag`, `aws:ResourceTag`). Unconditioned: Describe* and ListTagsForResource
   * (read-only), the subnet group and default parameter group a create only references.
   */
  grantProvisioning(grantee: iam.IGrantable): void {
    const { deploymentName, key } = this.props;
    // The addon security groups (created and deleted as for RDS addons).
    this.props.rds.grantInstances(grantee);
    const ours = ['replicationgroup', 'cluster', 'user', 'usergroup', 'snapshot'].map((resource) =>
      this.arn(resource, `${ADDON_RESOURCE_PREFIX}*`),
    );
    const allow = (
      actions: string[],
      resourceArns: string[],
      conditions?: Record<string, Record<string, unknown>>,
    ) => iam.Grant.addToPrincipal({ grantee, actions, resourceArns, ...(conditions ? { conditions } : {}) });
    const taggedAsOurs = {
      StringEquals: { [`aws:RequestTag/${TAG_KEYS.deployment}`]: deploymentName },
      'ForAllValues:StringLike': { 'aws:TagKeys': [`${TAG_KEY_PREFIX}*`] },
    };
    const isOurs = { StringEquals: { [`aws:ResourceTag/${TAG_KEYS.deployment}`]: deploymentName } };
    allow(
      [
        'elasticache:CreateReplicationGroup',
        'elasticache:CreateUser',
        'elasticache:CreateUserGroup',
        'elasticache:CreateSnapshot',
      ],
      ours,
      taggedAsOurs,
    );
    // What creates reference: the subnet group, and the default parameter groups of Redis 7.
    allow(
      ['elasticache:CreateReplicationGroup'],
      [this.arn('subnetgroup', this.subnetGroup.ref), this.arn('parametergroup', 'default.redis*')],
    );
    // Tag-on-create and the pointer switch: our keys only, never on another deployment's resource.
    allow(['elasticache:AddTagsToResource'], ours, {
      'ForAllValues:StringLike': { 'aws:TagKeys': [`${TAG_KEY_PREFIX}*`] },
      StringEqualsIfExists: { [`aws:ResourceTag/${TAG_KEYS.deployment}`]: deploymentName },
    });
    allow(
      [
        'elasticache:DeleteReplicationGroup',
        'elasticache:DeleteUser',
        'elasticache:DeleteUserGroup',
        'elasticache:DeleteSnapshot',
        'elasticache:CopySnapshot',
      ],
      ours,
      isOurs,
    );
    // A plan or Multi-AZ change (scale-addon): the node type, Multi-AZ and automatic failover of
    // one of our replication groups; a replicas change (update-replicas): its number of replica
    // nodes, with Multi-AZ and automatic failover off before the last goes and back on after.
    allow(
      [
        'elasticache:ModifyReplicationGroup',
        'elasticache:IncreaseReplicaCount',
        'elasticache:DecreaseReplicaCount',
      ],
      ours,
      isOurs,
    );
    // Credential rotation (rotate-credentials): the passwords of one of our addons' users.
    allow(['elasticache:ModifyUser'], ours, isOurs);
    // The export's own name is chosen per backup; its source must be ours (above).
    allow(['elasticache:CopySnapshot'], [this.arn('snapshot', '*')]);
    allow(
      [
        'elasticache:DescribeReplicationGroups',
        'elasticache:DescribeUserGroups',
        'elasticache:DescribeUsers',
        'elasticache:DescribeSnapshots',
        // An import seeds the new group on the version the addon's primary runs.
        'elasticache:DescribeCacheClusters',
        // Why an upgrade did not happen (redis-upgrade.ts).
        'elasticache:DescribeEvents',
        'elasticache:ListTagsForResource',
      ],
      ['*'],
    );
    // ElastiCache encrypts at rest through a grant it creates with the caller's permission.
    allow(['kms:CreateGrant', 'kms:DescribeKey'], [key.keyArn], {
      StringEquals: { 'kms:ViaService': `elasticache.${Aws.REGION}.amazonaws.com` },
    });
    allow(
      ['iam:CreateServiceLinkedRole'],
      [
        `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/aws-service-role/elasticache.amazonaws.com/AWSServiceRoleForElastiCache`,
      ],
      { StringEquals: { 'iam:AWSServiceName': 'elasticache.amazonaws.com' } },
    );
    // Exports: CopySnapshot's caller must see the bucket; the provider lists and hashes exports.
    allow(['s3:GetBucketLocation', 's3:ListBucket'], [this.exportBucket.bucketArn]);
    // DeleteObject: a backup that fails after its export removes the copy; an import's copy goes too.
    allow(['s3:GetObject', 's3:DeleteObject'], [this.exportBucket.arnForObjects('*')]);
    // An import copies the uploaded RDB file here (CopyObject) for ElastiCache to seed from.
    allow(['s3:PutObject'], [this.exportBucket.arnForObjects(`${REDIS_IMPORTS_PREFIX}*`)]);

    const ack = (resource: string, reason: string) =>
      acknowledgeNag(grantee, `IAM5[Resource::${resource}]`, reason);
    for (const resource of ['replicationgroup', 'cluster', 'user', 'usergroup', 'snapshot']) {
      ack(
        nagArn('elasticache', `${resource}:${ADDON_RESOURCE_PREFIX}*`),
        'Redis addon resources are created at run time, one set per addon, all named addon-<addon id>...; changes require the deployment tag',
      );
    }
    ack(
      nagArn('elasticache', 'parametergroup:default.redis*'),
      'CreateReplicationGroup is authorized on the default Redis parameter group of the requested major',
    );
    ack(
      nagArn('elasticache', 'snapshot:*'),
      'CopySnapshot names an export target chosen per backup; the source snapshot must be ours (statement above)',
    );
    ack('*', 'ElastiCache Describe* and ListTagsForResource are read-only');
    const bucketId = Stack.of(this).getLogicalId(this.exportBucket.node.defaultChild as s3.CfnBucket);
    ack(
      `<${bucketId}.Arn>/*`,
      'Exports are written per backup under names ElastiCache derives from the backup',
    );
    ack(
      `<${bucketId}.Arn>/${REDIS_IMPORTS_PREFIX}*`,
      'One copy of an uploaded RDB file per import, named after the import at run time',
    );
  }

  grantSnapshotDeletion(grantee: iam.IGrantable): void {
    // A snapshot backup's downloadable copy goes with it.
    this.grantExports(grantee, 's3:DeleteObject');
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['elasticache:DeleteSnapshot'],
      resourceArns: [this.arn('snapshot', `${ADDON_RESOURCE_PREFIX}*`)],
      conditions: { StringEquals: { [`aws:ResourceTag/${TAG_KEYS.deployment}`]: this.props.deploymentName } },
    });
    acknowledgeNag(
      grantee,
      `IAM5[Resource::${nagArn('elasticache', `snapshot:${ADDON_RESOURCE_PREFIX}*`)}]`,
      'Snapshot backups are taken at run time, one per backup; all are named addon-<addon id>-<backup id>',
    );
  }

  grantSnapshotDownload(grantee: iam.IGrantable): void {
    this.grantExports(grantee, 's3:GetObject');
  }

  private grantExports(grantee: iam.IGrantable, action: string): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: [action],
      resourceArns: [this.exportBucket.arnForObjects('*')],
    });
    const bucketId = Stack.of(this).getLogicalId(this.exportBucket.node.defaultChild as s3.CfnBucket);
    acknowledgeNag(
      grantee,
      `IAM5[Resource::<${bucketId}.Arn>/*]`,
      'The export bucket holds only Redis snapshot exports, one per backup, named by ElastiCache at run time',
    );
  }
}
