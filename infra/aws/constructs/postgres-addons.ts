import { Arn, ArnFormat, Aws, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { CfnDBParameterGroup, SubnetGroup } from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import { ENGINES } from '#shared/catalog/engines.ts';
import { TAG_KEYS } from '#shared/providers/aws/rds-postgres-provider.ts';
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
 * subnets and, per PostgreSQL major in the engine catalog, a parameter group that forces TLS
 * (`rds.force_ssl=1`; an addon without TLS keeps the RDS default group). Everything per addon
 * (the instance, its security group) is created by the provisioning workflow, whose
 * permissions `grantProvisioning` scopes to the `addon-` prefix and to this deployment's tag.
 */
export class PostgresAddons extends Construct {
  readonly subnetGroup: SubnetGroup;
  /** PostgreSQL major -> parameter group name. */
  readonly tlsParameterGroups: Record<string, string> = {};
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
      const group = new CfnDBParameterGroup(this, `TlsParameters${major}`, {
        family: `postgres${major}`,
        description: `PostgreSQL ${major} addons with TLS required`,
        parameters: { 'rds.force_ssl': '1' },
      });
      this.tlsParameterGroups[major] = group.ref;
    }
  }

  /** The deployment tag value the workflow puts on what it creates; IAM conditions match it. */
  get deploymentName(): string {
    return Stack.of(this).stackName;
  }

  /** Everything RdsPostgresProvider sends, on the narrowest resources each action supports. */
  grantProvisioning(grantee: iam.IGrantable): void {
    const stack = Stack.of(this);
    const rdsArn = (resource: string, resourceName: string) =>
      Arn.format({ service: 'rds', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME }, stack);
    const ec2Arn = (resource: string, resourceName: string) =>
      Arn.format({ service: 'ec2', resource, resourceName, arnFormat: ArnFormat.SLASH_RESOURCE_NAME }, stack);
    const instances = rdsArn('db', `${ADDON_RESOURCE_PREFIX}*`);
    const snapshots = this.snapshotArns();
    const parameterGroups = [
      ...Object.values(this.tlsParameterGroups).map((name) => rdsArn('pg', name)),
      rdsArn('pg', 'default.postgres*'),
    ];
    const securityGroups = ec2Arn('security-group', '*');
    const ownedByThisDeployment = { [`aws:ResourceTag/${TAG_KEYS.deployment}`]: this.deploymentName };

    // CreateDBInstance is authorized on every resource it names: the instance, the subnet group,
    // the parameter group (ours, or the engine default) and the default option group.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:CreateDBInstance'],
      resourceArns: [
        instances,
        rdsArn('subgrp', this.subnetGroup.subnetGroupName),
        ...parameterGroups,
        rdsArn('og', 'default:postgres-*'),
      ],
    });
    // Snapshot backups: taken from an addon instance, named after it (`addon-...`), tagged.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:CreateDBSnapshot'],
      resourceArns: [instances, snapshots],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:AddTagsToResource', 'rds:DescribeDBSnapshots', 'rds:DeleteDBSnapshot'],
      resourceArns: [snapshots],
    });
    // Snapshot restores create a staging instance (`addon-...-r<hash>`) in the addon's subnet
    // group with its parameter group; RestoreDBInstanceFromDBSnapshot is authorized on each.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:RestoreDBInstanceFromDBSnapshot'],
      resourceArns: [
        instances,
        snapshots,
        rdsArn('subgrp', this.subnetGroup.subnetGroupName),
        ...parameterGroups,
        rdsArn('og', 'default:postgres-*'),
      ],
    });
    iam.Grant.addToPrincipal({
      grantee,
      // AddTagsToResource: CreateDBInstance with Tags is authorized as tagging too.
      actions: [
        'rds:AddTagsToResource',
        'rds:DescribeDBInstances',
        'rds:ModifyDBInstance',
        'rds:DeleteDBInstance',
      ],
      resourceArns: [instances],
    });
    // RDS encrypts storage with the caller's right to create grants on the key.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:CreateGrant', 'kms:DescribeKey'],
      resourceArns: [this.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `rds.${Aws.REGION}.amazonaws.com` } },
    });
    // The first RDS instance of an account creates RDS's service-linked role, as the caller.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['iam:CreateServiceLinkedRole'],
      resourceArns: [
        `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS`,
      ],
      conditions: { StringEquals: { 'iam:AWSServiceName': 'rds.amazonaws.com' } },
    });

    // Security groups: created only in our VPC and only with our deployment tag; changed and
    // deleted only when they carry it.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['ec2:CreateSecurityGroup'],
      resourceArns: [ec2Arn('vpc', this.network.vpc.vpcId)],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['ec2:CreateSecurityGroup'],
      resourceArns: [securityGroups],
      conditions: { StringEquals: { [`aws:RequestTag/${TAG_KEYS.deployment}`]: this.deploymentName } },
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['ec2:CreateTags'],
      resourceArns: [securityGroups],
      conditions: { StringEquals: { 'ec2:CreateAction': 'CreateSecurityGroup' } },
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['ec2:AuthorizeSecurityGroupIngress', 'ec2:DeleteSecurityGroup'],
      resourceArns: [securityGroups],
      conditions: { StringEquals: ownedByThisDeployment },
    });
    // Describe* calls support no resource-level permissions.
    iam.Grant.addToPrincipal({ grantee, actions: ['ec2:DescribeSecurityGroups'], resourceArns: ['*'] });

    const ack = (resource: string, reason: string) =>
      acknowledgeNag(grantee, `IAM5[Resource::${resource}]`, reason);
    ack(
      nagArn('rds', `db:${ADDON_RESOURCE_PREFIX}*`),
      'Addon DB instances are created at run time, one per addon; all are named addon-<addon id>',
    );
    ack(
      nagArn('rds', 'pg:default.postgres*'),
      'CreateDBInstance without TLS uses the engine default parameter group of the requested major',
    );
    ack(
      nagArn('rds', 'og:default:postgres-*'),
      'CreateDBInstance is authorized on the default option group of the requested major',
    );
    ack(
      nagArn('ec2', 'security-group/*'),
      'Addon security groups are created at run time; every statement on them requires the addons:deployment tag of this stack',
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
    });
    acknowledgeNag(
      grantee,
      `IAM5[Resource::${nagArn('rds', `snapshot:${ADDON_RESOURCE_PREFIX}*`)}]`,
      'Snapshot backups are taken at run time, one per backup; all are named addon-<addon id>-<backup id>',
    );
  }
}
