import { Arn, ArnFormat, Aws, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { CfnDBParameterGroup, SubnetGroup } from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import { ENGINES } from '#shared/catalog/engines.ts';
import { TAG_KEY_PREFIX, TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { acknowledgeGuard } from '../guard.ts';
import { acknowledgeNag, nagArn } from '../nag.ts';
import type { Network } from './network.ts';

export interface PostgresAddonsProps {
  network: Network;
  /** Encrypts the addons' storage. */
  key: IKey;
}

/** `resourceIdFor` names every DB instance and security group `addon-...`. */
export const ADDON_RESOURCE_PREFIX = 'addon-';

/**
 * What RDS PostgreSQL addons share, created once by CDK: the DB subnet group over the isolated
 * subnets and, per PostgreSQL major in the engine catalog, two parameter groups: one forcing TLS
 * (`rds.force_ssl=1`, the default for new addons) and one accepting plain connections (an addon
 * created with `tls: false`; the RDS default group forces TLS from PostgreSQL 15 on, so it cannot
 * serve as "no TLS"). Everything per addon (the instance, its security group, its project's
 * client group) is created by the provisioning workflow, whose permissions `grantProvisioning`
 * scopes to the `addon-` prefix and to this deployment's tag.
 */
export class PostgresAddons extends Construct {
  readonly subnetGroup: SubnetGroup;
  /** PostgreSQL major -> parameter group name, TLS required. */
  readonly tlsParameterGroups: Record<string, string> = {};
  /** PostgreSQL major -> parameter group name, TLS optional. */
  readonly noTlsParameterGroups: Record<string, string> = {};
  private readonly network: Network;
  private readonly key: IKey;

  constructor(scope: Construct, id: string, props: PostgresAddonsProps) {
    super(scope, id);
    this.network = props.network;
    this.key = props.key;
    this.subnetGroup = new SubnetGroup(this, 'SubnetGroup', {
      vpc: props.network.vpc,
      vpcSubnets: props.network.databaseSubnets,
      description: 'Isolated subnets of the PostgreSQL addons',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    for (const major of ENGINES.postgresql.versions.aws) {
      const tls = new CfnDBParameterGroup(this, `TlsParameters${major}`, {
        family: `postgres${major}`,
        description: `PostgreSQL ${major} addons with TLS required`,
        parameters: { 'rds.force_ssl': '1' },
      });
      this.tlsParameterGroups[major] = tls.ref;
      const noTls = new CfnDBParameterGroup(this, `NoTlsParameters${major}`, {
        family: `postgres${major}`,
        description: `PostgreSQL ${major} addons created without TLS (TLS still offered)`,
        parameters: { 'rds.force_ssl': '0' },
      });
      this.noTlsParameterGroups[major] = noTls.ref;
      acknowledgeGuard(
        noTls,
        'rds_db_parameter_group_tls_check',
        'Used only by an addon its owner creates with an explicit tls: false (a client without TLS support); every addon requires TLS by default, and the server still offers TLS',
      );
    }
  }

  /** The deployment tag value the workflow puts on what it creates; IAM conditions match it. */
  get deploymentName(): string {
    return Stack.of(this).stackName;
  }

  /** A request that creates or tags something must tag it as this deployment's, with our keys only. */
  private get taggedAsOurs() {
    return {
      StringEquals: { [`aws:RequestTag/${TAG_KEYS.deployment}`]: this.deploymentName },
      'ForAllValues:StringLike': { 'aws:TagKeys': [`${TAG_KEY_PREFIX}*`] },
    };
  }

  /**
   * Everything RdsPostgresProvider sends, on the narrowest resources each action supports, and
   * on this deployment's resources only: every statement that changes or deletes an instance, a
   * snapshot or a security group requires the `addons:deployment` tag of this stack, and every
   * create requires the request to carry it. RDS matches an existing resource's tags with its own
   * keys (`rds:db-tag/...`, `rds:snapshot-tag/...`), EC2 with `aws:ResourceTag/...`.
   * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAM.SpecifyingCustomTags.html
   *
   * Not conditioned, and why: Describe* calls (read-only; DescribeSecurityGroups supports no
   * resource-level permissions at all); the subnet group, parameter groups and default option
   * group a create or restore only references (the default option group cannot carry our tag);
   * the KMS grant (RDS's, through kms:ViaService) and the service-linked role.
   */
  grantProvisioning(grantee: iam.IGrantable): void {
    const stack = Stack.of(this);
    const rdsArn = (resource: string, resourceName: string) =>
      Arn.format({ service: 'rds', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME }, stack);
    const ec2Arn = (resource: string, resourceName: string) =>
      Arn.format({ service: 'ec2', resource, resourceName, arnFormat: ArnFormat.SLASH_RESOURCE_NAME }, stack);
    const instances = rdsArn('db', `${ADDON_RESOURCE_PREFIX}*`);
    const snapshots = this.snapshotArns();
    const referenced = [
      rdsArn('subgrp', this.subnetGroup.subnetGroupName),
      ...[...Object.values(this.tlsParameterGroups), ...Object.values(this.noTlsParameterGroups)].map(
        (name) => rdsArn('pg', name),
      ),
      rdsArn('og', 'default:postgres-*'),
    ];
    const securityGroups = ec2Arn('security-group', '*');
    const instanceIsOurs = { StringEquals: { [`rds:db-tag/${TAG_KEYS.deployment}`]: this.deploymentName } };
    const snapshotIsOurs = {
      StringEquals: { [`rds:snapshot-tag/${TAG_KEYS.deployment}`]: this.deploymentName },
    };
    const allow = (
      actions: string[],
      resourceArns: string[],
      conditions?: Record<string, Record<string, unknown>>,
    ) => iam.Grant.addToPrincipal({ grantee, actions, resourceArns, ...(conditions ? { conditions } : {}) });

    // CreateDBInstance and RestoreDBInstanceFromDBSnapshot are authorized on every resource they
    // name: the new instance (tagged as ours), the snapshot restored (ours), and what they reference.
    allow(['rds:CreateDBInstance', 'rds:RestoreDBInstanceFromDBSnapshot'], [instances], this.taggedAsOurs);
    allow(['rds:CreateDBInstance', 'rds:RestoreDBInstanceFromDBSnapshot'], referenced);
    allow(['rds:RestoreDBInstanceFromDBSnapshot'], [snapshots], snapshotIsOurs);
    // Snapshot backups: taken from one of our instances, as a snapshot tagged as ours.
    allow(['rds:CreateDBSnapshot'], [instances], instanceIsOurs);
    allow(['rds:CreateDBSnapshot'], [snapshots], this.taggedAsOurs);
    // Tags given to a create are authorized as AddTagsToResource on the resource being created,
    // which has no tags yet: "if it exists" keeps another deployment's resources out of reach.
    allow(['rds:AddTagsToResource'], [instances, snapshots], {
      ...this.taggedAsOurs,
      StringEqualsIfExists: {
        [`rds:db-tag/${TAG_KEYS.deployment}`]: this.deploymentName,
        [`rds:snapshot-tag/${TAG_KEYS.deployment}`]: this.deploymentName,
      },
    });
    allow(['rds:ModifyDBInstance', 'rds:DeleteDBInstance'], [instances], instanceIsOurs);
    allow(['rds:DeleteDBSnapshot'], [snapshots], snapshotIsOurs);
    allow(['rds:DescribeDBInstances'], [instances]);
    allow(['rds:DescribeDBSnapshots'], [snapshots]);
    // RDS encrypts storage with the caller's right to create grants on the key.
    allow(['kms:CreateGrant', 'kms:DescribeKey'], [this.key.keyArn], {
      StringEquals: { 'kms:ViaService': `rds.${Aws.REGION}.amazonaws.com` },
    });
    // The first RDS instance of an account creates RDS's service-linked role, as the caller.
    allow(
      ['iam:CreateServiceLinkedRole'],
      [
        `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS`,
      ],
      { StringEquals: { 'iam:AWSServiceName': 'rds.amazonaws.com' } },
    );

    // Security groups (project client groups and addon groups): created only in our VPC and only
    // tagged as ours; their rules changed and the groups deleted only when they carry our tag.
    allow(['ec2:CreateSecurityGroup'], [ec2Arn('vpc', this.network.vpc.vpcId)]);
    allow(['ec2:CreateSecurityGroup'], [securityGroups], this.taggedAsOurs);
    allow(['ec2:CreateTags'], [securityGroups], {
      StringEquals: {
        'ec2:CreateAction': 'CreateSecurityGroup',
        [`aws:RequestTag/${TAG_KEYS.deployment}`]: this.deploymentName,
      },
    });
    allow(
      [
        'ec2:AuthorizeSecurityGroupIngress',
        'ec2:AuthorizeSecurityGroupEgress',
        'ec2:RevokeSecurityGroupEgress',
        'ec2:DeleteSecurityGroup',
      ],
      [securityGroups],
      { StringEquals: { [`aws:ResourceTag/${TAG_KEYS.deployment}`]: this.deploymentName } },
    );
    // Describe* calls support no resource-level permissions.
    allow(['ec2:DescribeSecurityGroups'], ['*']);

    const ack = (resource: string, reason: string) =>
      acknowledgeNag(grantee, `IAM5[Resource::${resource}]`, reason);
    ack(
      nagArn('rds', `db:${ADDON_RESOURCE_PREFIX}*`),
      'Addon DB instances are created at run time, one per addon; all are named addon-<addon id>, and changes require the deployment tag',
    );
    ack(
      nagArn('rds', 'og:default:postgres-*'),
      'CreateDBInstance is authorized on the default option group of the requested major',
    );
    ack(
      nagArn('ec2', 'security-group/*'),
      'Addon and project client security groups are created at run time; every statement on them requires the addons:deployment tag of this stack',
    );
    ack(
      nagArn('rds', `snapshot:${ADDON_RESOURCE_PREFIX}*`),
      'Snapshot backups are taken at run time, one per backup; all are named addon-<addon id>-<backup id>',
    );
    ack('*', 'ec2:DescribeSecurityGroups supports no resource-level permissions');
  }

  /** Snapshot backups of the addons: `addon-<addon id>-<backup id>`. */
  snapshotArns(): string {
    return Arn.format(
      {
        service: 'rds',
        resource: 'snapshot',
        resourceName: `${ADDON_RESOURCE_PREFIX}*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      },
      Stack.of(this),
    );
  }

  /** Delete snapshot backups (the backups API and the retention sweep). */
  grantSnapshotDeletion(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:DeleteDBSnapshot'],
      resourceArns: [this.snapshotArns()],
      conditions: { StringEquals: { [`rds:snapshot-tag/${TAG_KEYS.deployment}`]: this.deploymentName } },
    });
    acknowledgeNag(
      grantee,
      `IAM5[Resource::${nagArn('rds', `snapshot:${ADDON_RESOURCE_PREFIX}*`)}]`,
      'Snapshot backups are taken at run time, one per backup; all are named addon-<addon id>-<backup id>',
    );
  }
}
