import { Arn, ArnFormat, Aws, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { CfnDBParameterGroup, type CfnDBSubnetGroup, SubnetGroup } from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import { ENGINES } from '#shared/catalog/engines.ts';
import type { RdsEngineProfile } from '#shared/providers/aws/rds/rds-engine-provider.ts';
import { TAG_KEY_PREFIX, TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { acknowledgeGuard } from '../../guard.ts';
import { acknowledgeNag, nagArn } from '../../nag.ts';
import type { Network } from '../network.ts';
import type { AddonEngine, EngineEnvironment } from './addon-engine.ts';

const READ_REPLICA_CREATE = 'rds:CreateDBInstanceReadReplica';

/**
 * What creates an addon's DB instance: a create, a snapshot restore, a point-in-time restore, a
 * read replica of it (rds-replicas.ts).
 */
const RDS_CREATES = [
  'rds:CreateDBInstance',
  'rds:RestoreDBInstanceFromDBSnapshot',
  'rds:RestoreDBInstanceToPointInTime',
  READ_REPLICA_CREATE,
];

const AUTOMATED_BACKUPS_REASON =
  "RDS automated backups are named by RDS (ab-...) and carry no tag of ours; reading their window and restoring a deleted addon's instance from them needs them all";

/** `resourceIdFor` names every DB instance and security group `addon-...`. */
export const ADDON_RESOURCE_PREFIX = 'addon-';

export interface RdsAddonsProps {
  network: Network;
  /** Encrypts the addons' storage. */
  key: IKey;
  /** The `addons:deployment` tag value the workflows put on what they create (the stack's). */
  deploymentName: string;
}

/**
 * What every RDS engine's addons share, created once: the DB subnet group over the isolated
 * subnets, and the permissions of the RDS mechanics (`shared/providers/aws/rds/`), which do not
 * depend on the engine: instances named `addon-...`, their snapshots and security groups, the
 * storage key. Each engine construct (`RdsEngine`) adds its parameter groups and what its
 * creates reference; everything per addon is created by the provisioning workflow.
 */
export class RdsAddons extends Construct {
  /** Over the isolated subnets: RDS addons created before the public subnets, and DocumentDB. */
  readonly subnetGroup: SubnetGroup;
  /**
   * Over the public subnets: where RDS addons are created, so that one can be made public in place
   * (RDS documents a subnet group change only for moving an instance to another VPC).
   */
  readonly publicSubnetGroup: SubnetGroup;
  readonly deploymentName: string;
  private readonly network: Network;
  private readonly key: IKey;
  /** Grantees already given the shared statements: every engine asks, each is granted once. */
  private readonly provisioners = new Set<iam.IGrantable>();
  private readonly snapshotDeleters = new Set<iam.IGrantable>();
  private readonly windowReaders = new Set<iam.IGrantable>();

  constructor(scope: Construct, id: string, props: RdsAddonsProps) {
    super(scope, id);
    this.network = props.network;
    this.key = props.key;
    this.deploymentName = props.deploymentName;
    this.subnetGroup = new SubnetGroup(this, 'SubnetGroup', {
      vpc: props.network.vpc,
      vpcSubnets: props.network.databaseSubnets,
      description: 'Isolated subnets of the RDS addons',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Keeps the logical id this group had when only PostgreSQL was deployed (`Postgres/SubnetGroup`):
    // a new id would make CloudFormation replace the group, which fails while instances use it.
    (this.subnetGroup.node.defaultChild as CfnDBSubnetGroup).overrideLogicalId('PostgresSubnetGroup9F8A4D6E');
    this.publicSubnetGroup = new SubnetGroup(this, 'PublicSubnetGroup', {
      vpc: props.network.vpc,
      vpcSubnets: props.network.publicDatabaseSubnets,
      description: 'Public subnets of the RDS addons (public only with PubliclyAccessible and an allow list)',
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }

  /** `arn:...:rds:<region>:<account>:<resource>:<name>` */
  rdsArn(resource: string, resourceName: string): string {
    return Arn.format(
      { service: 'rds', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME },
      Stack.of(this),
    );
  }

  /** Snapshot backups of the addons: `addon-<addon id>-<backup id>`. */
  snapshotArns(): string {
    return this.rdsArn('snapshot', `${ADDON_RESOURCE_PREFIX}*`);
  }

  /** A request that creates or tags something must tag it as this deployment's, with our keys only. */
  private get taggedAsOurs() {
    return {
      StringEquals: { [`aws:RequestTag/${TAG_KEYS.deployment}`]: this.deploymentName },
      'ForAllValues:StringLike': { 'aws:TagKeys': [`${TAG_KEY_PREFIX}*`] },
    };
  }

  /**
   * Everything the RDS mechanics send, on the narrowest resources each action supports, and on
   * this deployment's resources only: every statement that changes or deletes an instance, a
   * snapshot or a security group requires the `addons:deployment` tag of this stack, and every
   * create requires the request to carry it. RDS matches an existing resource's tags with its own
   * keys (`rds:db-tag/...`, `rds:snapshot-tag/...`), EC2 with `aws:ResourceTag/...`.
   * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAM.SpecifyingCustomTags.html
   *
   * Not conditioned, and why: Describe* calls (read-only; DescribeSecurityGroups supports no
   * resource-level permissions at all); the subnet group a create or restore only references
   * (each engine grants its own parameter groups and default option group: `RdsEngine`); the KMS
   * grant (RDS's, through kms:ViaService) and the service-linked role.
   */
  grantInstances(grantee: iam.IGrantable): void {
    if (this.provisioners.has(grantee)) return;
    this.provisioners.add(grantee);
    const stack = Stack.of(this);
    const ec2Arn = (resource: string, resourceName: string) =>
      Arn.format({ service: 'ec2', resource, resourceName, arnFormat: ArnFormat.SLASH_RESOURCE_NAME }, stack);
    const instances = this.rdsArn('db', `${ADDON_RESOURCE_PREFIX}*`);
    const snapshots = this.snapshotArns();
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
    // name: the new instance (tagged as ours), the snapshot restored (ours), and what they
    // reference (the subnet group here; parameter and option groups per engine).
    // RestoreDBInstanceToPointInTime (point-in-time recovery, rds-pitr.ts) is authorized the same
    // way: on the staging instance (tagged as ours) and the source instance (an addon's).
    allow(
      RDS_CREATES.filter((action) => action !== READ_REPLICA_CREATE),
      [instances],
      this.taggedAsOurs,
    );
    // CreateDBInstanceReadReplica is authorized on the new replica and on its source: the source
    // must be ours (it has the tag; the replica being created has none yet, hence "if it exists").
    allow([READ_REPLICA_CREATE], [instances], {
      ...this.taggedAsOurs,
      StringEqualsIfExists: { [`rds:db-tag/${TAG_KEYS.deployment}`]: this.deploymentName },
    });
    allow(RDS_CREATES, [
      this.rdsArn('subgrp', this.subnetGroup.subnetGroupName),
      this.rdsArn('subgrp', this.publicSubnetGroup.subnetGroupName),
    ]);
    // A deleted addon's instance is restored from its retained automated backups (ids RDS
    // chooses, `ab-...`), and its window read from them. The restore is still conditioned on
    // what it creates: an instance tagged as this deployment's.
    allow(['rds:RestoreDBInstanceToPointInTime'], [this.automatedBackupArns()], this.taggedAsOurs);
    allow(['rds:DescribeDBInstanceAutomatedBackups'], [this.automatedBackupArns()]);
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
    // RebootDBInstance: a networking change that switches the parameter group (TLS on or off)
    // takes effect at a reboot (rds-networking.ts).
    allow(
      ['rds:ModifyDBInstance', 'rds:DeleteDBInstance', 'rds:RebootDBInstance'],
      [instances],
      instanceIsOurs,
    );
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
        // A public addon made private again: its allow rules (one per CIDR) are revoked.
        'ec2:RevokeSecurityGroupIngress',
        'ec2:AuthorizeSecurityGroupEgress',
        'ec2:RevokeSecurityGroupEgress',
        'ec2:DeleteSecurityGroup',
      ],
      [securityGroups],
      { StringEquals: { [`aws:ResourceTag/${TAG_KEYS.deployment}`]: this.deploymentName } },
    );
    // Describe* calls support no resource-level permissions; RDS events (read-only) tell why an
    // upgrade was refused (rds-upgrade.ts).
    allow(['ec2:DescribeSecurityGroups', 'rds:DescribeEvents'], ['*']);

    const ack = (resource: string, reason: string) =>
      acknowledgeNag(grantee, `IAM5[Resource::${resource}]`, reason);
    ack(
      nagArn('rds', `db:${ADDON_RESOURCE_PREFIX}*`),
      'Addon DB instances are created at run time, one per addon; all are named addon-<addon id>, and changes require the deployment tag',
    );
    ack(
      nagArn('ec2', 'security-group/*'),
      'Addon and project client security groups are created at run time; every statement on them requires the addons:deployment tag of this stack',
    );
    ack(
      nagArn('rds', `snapshot:${ADDON_RESOURCE_PREFIX}*`),
      'Snapshot backups are taken at run time, one per backup; all are named addon-<addon id>-<backup id>',
    );
    ack('*', 'ec2:DescribeSecurityGroups and rds:DescribeEvents are read-only and scoped by no resource');
    ack(nagArn('rds', 'auto-backup:*'), AUTOMATED_BACKUPS_REASON);
  }

  /** RDS automated backups (point-in-time recovery): RDS names them `ab-...`. */
  automatedBackupArns(): string {
    return this.rdsArn('auto-backup', '*');
  }

  /**
   * Read an addon's point-in-time window (the API functions: GET of an addon, the restore's check):
   * its instance and its automated backups, read-only.
   */
  grantRestorableWindowRead(grantee: iam.IGrantable): void {
    if (this.windowReaders.has(grantee)) return;
    this.windowReaders.add(grantee);
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:DescribeDBInstances'],
      resourceArns: [this.rdsArn('db', `${ADDON_RESOURCE_PREFIX}*`)],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:DescribeDBInstanceAutomatedBackups'],
      resourceArns: [this.automatedBackupArns()],
    });
    acknowledgeNag(
      grantee,
      `IAM5[Resource::${nagArn('rds', `db:${ADDON_RESOURCE_PREFIX}*`)}]`,
      'Addon DB instances are created at run time, one per addon, all named addon-<addon id>; only described here',
    );
    acknowledgeNag(grantee, `IAM5[Resource::${nagArn('rds', 'auto-backup:*')}]`, AUTOMATED_BACKUPS_REASON);
  }

  /** Delete snapshot backups (the backups API and the retention sweep), whatever their engine. */
  grantSnapshotDeletion(grantee: iam.IGrantable): void {
    if (this.snapshotDeleters.has(grantee)) return;
    this.snapshotDeleters.add(grantee);
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

/** How one RDS engine's parameter groups force TLS, or not. */
export interface RdsTlsParameter {
  /** The parameter, e.g. `rds.force_ssl`. */
  name: string;
  /** Its value in the groups forcing TLS (every addon's default). */
  on: string;
  /** Its value in the groups of addons created with `tls: false` (TLS still offered). */
  off: string;
}

export interface RdsEngineProps {
  /** The shared subnet group and RDS mechanics grants. */
  rds: RdsAddons;
}

/**
 * One RDS engine's share of the stack: per catalog version (a major), two parameter groups of
 * the engine's family, one forcing TLS and one not (an addon created with `tls: false`; the RDS
 * default groups of recent majors force TLS, so they cannot serve as "no TLS"); its grants on
 * the workflow role (the shared RDS mechanics, plus its parameter groups and its default option
 * groups, which creates and restores reference); the environment naming its groups. The
 * per-engine constructs (`<engine>.ts` beside this file) only say what differs.
 */
export class RdsEngine extends Construct implements AddonEngine {
  readonly engine: RdsEngineProfile['engine'];
  readonly port: number;
  /** Major -> parameter group name, TLS required. */
  readonly tlsParameterGroups: Record<string, string> = {};
  /** Major -> parameter group name, TLS optional. */
  readonly noTlsParameterGroups: Record<string, string> = {};
  readonly jobEnvironment: (caBundle: string) => Record<string, string>;
  private readonly rds: RdsAddons;
  private readonly profile: RdsEngineProfile;

  constructor(
    scope: Construct,
    id: string,
    props: RdsEngineProps & {
      /** The engine's RDS facts (shared with its provider). */
      profile: RdsEngineProfile;
      /** The parameter group family of a major: RDS's engine name and the major. */
      family: (major: string) => string;
      tls: RdsTlsParameter;
      /** The job container's TLS variables for the engine's dump tool (`AddonEngine.jobEnvironment`). */
      jobEnvironment: (caBundle: string) => Record<string, string>;
    },
  ) {
    super(scope, id);
    this.jobEnvironment = props.jobEnvironment;
    const { profile, family, tls } = props;
    this.port = profile.port;
    this.rds = props.rds;
    this.profile = profile;
    this.engine = profile.engine;
    for (const major of ENGINES[profile.engine].versions.aws) {
      const key = profile.parameterGroupKey(major);
      // Construct ids: letters and digits (`8.4` -> `84`).
      const idOf = key.replace(/[^A-Za-z0-9]/g, '');
      const required = new CfnDBParameterGroup(this, `TlsParameters${idOf}`, {
        family: family(major),
        description: `${profile.label} ${major} addons with TLS required`,
        parameters: { [tls.name]: tls.on },
      });
      this.tlsParameterGroups[key] = required.ref;
      const optional = new CfnDBParameterGroup(this, `NoTlsParameters${idOf}`, {
        family: family(major),
        description: `${profile.label} ${major} addons created without TLS (TLS still offered)`,
        parameters: { [tls.name]: tls.off },
      });
      this.noTlsParameterGroups[key] = optional.ref;
      acknowledgeGuard(
        optional,
        'rds_db_parameter_group_tls_check',
        'Used only by an addon its owner creates with an explicit tls: false (a client without TLS support); every addon requires TLS by default, and the server still offers TLS',
      );
    }
  }

  get environment(): EngineEnvironment {
    return { tlsParameterGroups: this.tlsParameterGroups, noTlsParameterGroups: this.noTlsParameterGroups };
  }

  /**
   * The shared RDS mechanics (`RdsAddons.grantInstances`), plus what this engine's creates and
   * restores reference: its parameter groups and RDS's default option group of its majors
   * (`default:<rds engine>-<major>`, which cannot carry our tag).
   */
  grantProvisioning(grantee: iam.IGrantable): void {
    this.rds.grantInstances(grantee);
    const optionGroups = `default:${this.profile.rdsEngine}-*`;
    iam.Grant.addToPrincipal({
      grantee,
      actions: RDS_CREATES,
      resourceArns: [
        ...[...Object.values(this.tlsParameterGroups), ...Object.values(this.noTlsParameterGroups)].map(
          (name) => this.rds.rdsArn('pg', name),
        ),
        this.rds.rdsArn('og', optionGroups),
      ],
    });
    // An upgrade (rds-upgrade.ts) names the parameter group of the new family in ModifyDBInstance,
    // which RDS authorizes on that group too, and moves the instance to the new major's default
    // option group.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['rds:ModifyDBInstance'],
      resourceArns: [
        ...[...Object.values(this.tlsParameterGroups), ...Object.values(this.noTlsParameterGroups)].map(
          (name) => this.rds.rdsArn('pg', name),
        ),
        this.rds.rdsArn('og', optionGroups),
      ],
    });
    acknowledgeNag(
      grantee,
      `IAM5[Resource::${nagArn('rds', `og:${optionGroups}`)}]`,
      `CreateDBInstance (and ModifyDBInstance for an upgrade) is authorized on the default ${this.profile.label} option group of the requested major`,
    );
  }

  grantSnapshotDeletion(grantee: iam.IGrantable): void {
    this.rds.grantSnapshotDeletion(grantee);
  }

  grantRestorableWindowRead(grantee: iam.IGrantable): void {
    this.rds.grantRestorableWindowRead(grantee);
  }
}
