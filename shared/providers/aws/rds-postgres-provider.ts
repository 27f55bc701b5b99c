import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  type EC2Client,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import {
  CreateDBInstanceCommand,
  type DBInstance,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  ModifyDBInstanceCommand,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { ProviderError } from '../../errors.ts';
import type { EngineProvider, InstanceSpec, InstanceState } from '../../ports/engine-provider.ts';
import { isAwsError, toPlatformError } from './aws-errors.ts';

export interface RdsPostgresProviderProps {
  rds: RDSClient;
  ec2: EC2Client;
  /** The VPC of the deployment: each addon's security group is created in it. */
  vpcId: string;
  /** DB subnet group over the VPC's isolated subnets (created by CDK). */
  subnetGroupName: string;
  /** The platform's client security group: the only source allowed in on the engine port. */
  clientSecurityGroupId: string;
  /** Customer-managed key for storage encryption. */
  kmsKeyId: string;
  /** PostgreSQL major -> parameter group with `rds.force_ssl=1` (created by CDK). */
  tlsParameterGroups: Record<string, string>;
  /** Value of the `addons:deployment` tag; the workflow role may only touch what carries it. */
  deployment: string;
  /** @default 7 */
  backupRetentionDays?: number;
}

export const POSTGRES_PORT = 5432;

/** Tags on everything the provider creates. IAM conditions match `addons:deployment`. */
export const TAG_KEYS = {
  deployment: 'addons:deployment',
  project: 'addons:project',
  addon: 'addons:addon',
} as const;

/**
 * RDS DB instance identifier rules: 1 to 63 letters, digits or hyphens, starting with a letter,
 * no two consecutive hyphens, not ending with a hyphen. `resourceIdFor` produces these; checked
 * again here because an identifier RDS rejects would only show up as a failed create.
 */
export const isValidDbInstanceIdentifier = (id: string): boolean =>
  /^[a-zA-Z][a-zA-Z0-9-]{0,62}$/.test(id) && !id.includes('--') && !id.endsWith('-');

/** RDS statuses in which the instance will not become available by waiting, with what they mean. */
const FAILED_STATUSES: Record<string, string> = {
  failed: 'RDS could not create or recover the instance',
  'incompatible-create': 'RDS cannot create an instance with this configuration',
  'incompatible-network': 'the subnet group has no free IP addresses, or one of its subnets is gone',
  'incompatible-parameters': "the parameter group's values do not fit this engine version or instance class",
  'incompatible-option-group': 'the option group does not fit this engine version',
  'incompatible-restore': 'the restore could not complete',
  'restore-error': 'the restore could not complete',
  'inaccessible-encryption-credentials': 'the KMS key is disabled or RDS may no longer use it',
  'inaccessible-encryption-credentials-recoverable':
    'the KMS key is disabled or RDS may no longer use it; re-enable it within 7 days to recover the instance',
  'insufficient-capacity': 'AWS has no capacity for this instance class right now',
  'storage-full': 'the instance ran out of storage',
  stopped: 'the instance is stopped',
  stopping: 'the instance is stopping',
};

/** Statuses in which the instance serves connections. */
const AVAILABLE_STATUSES = new Set(['available', 'storage-optimization', 'storage-initialization']);

const DELETING_STATUSES = new Set(['deleting', 'delete-precheck']);

/** What a DB instance's status means for the workflow; anything unlisted is "not available yet". */
export const instanceStateOf = (instance: DBInstance): InstanceState => {
  const status = instance.DBInstanceStatus ?? 'unknown';
  const id = instance.DBInstanceIdentifier ?? 'unknown';
  if (DELETING_STATUSES.has(status)) return { status: 'deleting' };
  const failure = FAILED_STATUSES[status];
  if (failure) return { status: 'failed', reason: `RDS reports instance ${id} as ${status}: ${failure}` };
  const host = instance.Endpoint?.Address;
  const port = instance.Endpoint?.Port;
  if (AVAILABLE_STATUSES.has(status) && host && port)
    return { status: 'available', endpoint: { host, port } };
  return { status: 'creating' };
};

/**
 * PostgreSQL addons as RDS DB instances, each in its own security group in the deployment's
 * isolated subnets. The master password comes from the spec (the platform generates it)
 * because RDS-managed master passwords cannot be combined with read replicas.
 *
 * Teardown has two steps RDS imposes: the instance first, then its security group, which
 * cannot be deleted while RDS still holds network interfaces in it (that takes minutes after
 * the instance is gone). `deleteInstance` starts it; `describeInstance` reports `deleting`
 * until both are gone and removes the group as soon as RDS lets go of it, so the workflow's
 * bounded Wait/Describe loop finishes the job and `absent` means nothing is left.
 */
export class RdsPostgresProvider implements EngineProvider {
  constructor(private readonly props: RdsPostgresProviderProps) {}

  async createInstance(spec: InstanceSpec): Promise<void> {
    this.checkSpec(spec);
    const parameterGroup = spec.tls ? this.tlsParameterGroup(spec.version) : undefined;
    const groupId = await this.ensureSecurityGroup(spec);
    try {
      await this.props.rds.send(
        new CreateDBInstanceCommand({
          DBInstanceIdentifier: spec.resourceId,
          Engine: 'postgres',
          // A major alone: RDS picks its default minor version and upgrades minors in maintenance windows.
          EngineVersion: spec.version,
          AutoMinorVersionUpgrade: true,
          DBInstanceClass: spec.plan.instanceClass,
          AllocatedStorage: spec.storageGiB,
          StorageType: 'gp3',
          StorageEncrypted: true,
          KmsKeyId: this.props.kmsKeyId,
          DBName: spec.database,
          MasterUsername: spec.username,
          MasterUserPassword: spec.password,
          Port: POSTGRES_PORT,
          DBSubnetGroupName: this.props.subnetGroupName,
          VpcSecurityGroupIds: [groupId],
          PubliclyAccessible: false,
          MultiAZ: false,
          ...(parameterGroup ? { DBParameterGroupName: parameterGroup } : {}),
          BackupRetentionPeriod: this.props.backupRetentionDays ?? 7,
          CopyTagsToSnapshot: true,
          // On for the instance's whole life; deleteInstance turns it off right before deleting.
          DeletionProtection: true,
          Tags: this.tags(spec),
        }),
      );
    } catch (error) {
      // A retried task: the first attempt got through.
      if (isAwsError(error, 'DBInstanceAlreadyExists')) return;
      throw toPlatformError(error, 'creating the database instance');
    }
  }

  async describeInstance(resourceId: string): Promise<InstanceState> {
    const instance = await this.findInstance(resourceId);
    if (instance) return instanceStateOf(instance);
    const group = await this.findSecurityGroup(resourceId);
    if (!group?.GroupId) return { status: 'absent' };
    return (await this.deleteSecurityGroup(group.GroupId)) ? { status: 'absent' } : { status: 'deleting' };
  }

  async deleteInstance(resourceId: string): Promise<void> {
    const instance = await this.findInstance(resourceId);
    if (!instance) {
      const group = await this.findSecurityGroup(resourceId);
      // Still in use just after the instance went: describeInstance retries it.
      if (group?.GroupId) await this.deleteSecurityGroup(group.GroupId);
      return;
    }
    if (DELETING_STATUSES.has(instance.DBInstanceStatus ?? '')) return;
    try {
      if (instance.DeletionProtection) {
        await this.props.rds.send(
          new ModifyDBInstanceCommand({
            DBInstanceIdentifier: resourceId,
            DeletionProtection: false,
            ApplyImmediately: true,
          }),
        );
      }
      await this.props.rds.send(
        new DeleteDBInstanceCommand({
          DBInstanceIdentifier: resourceId,
          // Final backups are the backup workflow's job (issue 4), not RDS's final snapshot.
          SkipFinalSnapshot: true,
          DeleteAutomatedBackups: false,
        }),
      );
    } catch (error) {
      if (isAwsError(error, 'DBInstanceNotFound')) return;
      throw toPlatformError(error, 'deleting the database instance');
    }
  }

  private checkSpec(spec: InstanceSpec): void {
    if (spec.engine !== 'postgresql') {
      throw new ProviderError(
        `The RDS PostgreSQL provider cannot create ${spec.engine} addons`,
        'UnsupportedEngine',
      );
    }
    if (!isValidDbInstanceIdentifier(spec.resourceId)) {
      throw new ProviderError(
        `'${spec.resourceId}' is not a valid RDS DB instance identifier`,
        'InvalidRequest',
      );
    }
    if (spec.replicas > 0) {
      throw new ProviderError('Read replicas are not available on this deployment yet', 'UnsupportedOption');
    }
    if (spec.publicAccess) {
      throw new ProviderError(
        'Public access is not available: addons live in isolated subnets',
        'UnsupportedOption',
      );
    }
  }

  private tlsParameterGroup(version: string): string {
    const group = this.props.tlsParameterGroups[version];
    if (!group) {
      throw new ProviderError(
        `This deployment has no TLS parameter group for PostgreSQL ${version}; redeploy the stack`,
        'Misconfigured',
      );
    }
    return group;
  }

  private tags(spec: Pick<InstanceSpec, 'projectId' | 'addonId'>) {
    return [
      { Key: TAG_KEYS.deployment, Value: this.props.deployment },
      { Key: TAG_KEYS.project, Value: spec.projectId },
      { Key: TAG_KEYS.addon, Value: spec.addonId },
    ];
  }

  private async findInstance(resourceId: string): Promise<DBInstance | undefined> {
    try {
      const result = await this.props.rds.send(
        new DescribeDBInstancesCommand({ DBInstanceIdentifier: resourceId }),
      );
      return result.DBInstances?.[0];
    } catch (error) {
      if (isAwsError(error, 'DBInstanceNotFound')) return undefined;
      throw toPlatformError(error, 'looking up the database instance');
    }
  }

  /** The addon's security group is named after its resource id, unique in the VPC. */
  private async findSecurityGroup(resourceId: string): Promise<SecurityGroup | undefined> {
    try {
      const result = await this.props.ec2.send(
        new DescribeSecurityGroupsCommand({
          Filters: [
            { Name: 'vpc-id', Values: [this.props.vpcId] },
            { Name: 'group-name', Values: [resourceId] },
          ],
        }),
      );
      return result.SecurityGroups?.[0];
    } catch (error) {
      throw toPlatformError(error, "looking up the addon's security group");
    }
  }

  /** Create the addon's security group (or find the one a previous attempt created) and open the engine port to the platform's clients. */
  private async ensureSecurityGroup(spec: InstanceSpec): Promise<string> {
    let group = await this.findSecurityGroup(spec.resourceId);
    if (!group) {
      try {
        const created = await this.props.ec2.send(
          new CreateSecurityGroupCommand({
            GroupName: spec.resourceId,
            Description: `PostgreSQL addon ${spec.addonId} of project ${spec.projectId}`,
            VpcId: this.props.vpcId,
            TagSpecifications: [{ ResourceType: 'security-group', Tags: this.tags(spec) }],
          }),
        );
        group = { GroupId: created.GroupId };
      } catch (error) {
        if (!isAwsError(error, 'InvalidGroup.Duplicate')) {
          throw toPlatformError(error, "creating the addon's security group");
        }
        group = await this.findSecurityGroup(spec.resourceId);
      }
    }
    const groupId = group?.GroupId;
    if (!groupId)
      throw new ProviderError(`The security group of ${spec.resourceId} vanished while it was being set up`);
    const opened = group?.IpPermissions?.some(
      (permission) =>
        permission.FromPort === POSTGRES_PORT &&
        permission.UserIdGroupPairs?.some((pair) => pair.GroupId === this.props.clientSecurityGroupId),
    );
    if (!opened) {
      try {
        await this.props.ec2.send(
          new AuthorizeSecurityGroupIngressCommand({
            GroupId: groupId,
            IpPermissions: [
              {
                IpProtocol: 'tcp',
                FromPort: POSTGRES_PORT,
                ToPort: POSTGRES_PORT,
                UserIdGroupPairs: [
                  {
                    GroupId: this.props.clientSecurityGroupId,
                    Description: 'Clients of the addons platform',
                  },
                ],
              },
            ],
          }),
        );
      } catch (error) {
        if (!isAwsError(error, 'InvalidPermission.Duplicate')) {
          throw toPlatformError(error, "opening the addon's security group to the platform's clients");
        }
      }
    }
    return groupId;
  }

  /** True once the group is gone; false while RDS still has network interfaces in it. */
  private async deleteSecurityGroup(groupId: string): Promise<boolean> {
    try {
      await this.props.ec2.send(new DeleteSecurityGroupCommand({ GroupId: groupId }));
      return true;
    } catch (error) {
      if (isAwsError(error, 'InvalidGroup.NotFound')) return true;
      if (isAwsError(error, 'DependencyViolation')) return false;
      throw toPlatformError(error, "deleting the addon's security group");
    }
  }
}
