import { createHash } from 'node:crypto';
import type { EC2Client } from '@aws-sdk/client-ec2';
import {
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  type DBInstance,
  DeleteDBInstanceCommand,
  DeleteDBSnapshotCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBInstanceCommand,
  type RDSClient,
  RestoreDBInstanceFromDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import { ProviderError, TransientError } from '../../errors.ts';
import type {
  EngineProvider,
  InstanceSpec,
  InstanceState,
  RestoreState,
  SnapshotDeleter,
  SnapshotProvider,
  SnapshotState,
} from '../../ports/engine-provider.ts';
import { AddonSecurityGroups } from './addon-security-groups.ts';
import { isAwsError, toPlatformError, transientErrors } from './aws-errors.ts';
import { TAG_KEYS } from './tags.ts';

export { TAG_KEYS } from './tags.ts';

export interface RdsPostgresProviderProps {
  rds: RDSClient;
  ec2: EC2Client;
  /** The VPC of the deployment: each project's client group and each addon's group are created in it. */
  vpcId: string;
  /** The VPC's CIDR block: project client groups may reach the engine port inside it. */
  vpcCidr: string;
  /** DB subnet group over the VPC's isolated subnets (created by CDK). */
  subnetGroupName: string;
  /** Customer-managed key for storage encryption. */
  kmsKeyId: string;
  /** PostgreSQL major -> parameter group with `rds.force_ssl=1` (created by CDK). */
  tlsParameterGroups: Record<string, string>;
  /**
   * PostgreSQL major -> parameter group with `rds.force_ssl=0` (created by CDK): an addon created
   * with `tls: false` really accepts plain connections (the RDS default group forces TLS from 15 on).
   */
  noTlsParameterGroups: Record<string, string>;
  /** Value of the `addons:deployment` tag; the workflow role may only touch what carries it. */
  deployment: string;
  /** @default 7 */
  backupRetentionDays?: number;
}

export const POSTGRES_PORT = 5432;

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

/** Snapshot statuses that end in `available` by waiting. */
const SNAPSHOT_PENDING_STATUSES = new Set(['creating', 'pending', 'copying']);

/**
 * The staging and retired instance identifiers of one restore: the addon's identifier plus a
 * short hash of the restore id, so they are deterministic (a restarted call finds them), start
 * with `addon-` (the workflow role's IAM scope) and stay within RDS's 63 characters.
 */
export const restoreIdentifiers = (resourceId: string, restoreId: string) => {
  const hash = createHash('sha256').update(restoreId).digest('hex').slice(0, 8);
  const base = resourceId.slice(0, 63 - 10).replace(/-+$/, '');
  return { staging: `${base}-r${hash}`, retired: `${base}-o${hash}` };
};

const restoredBy = (instance: DBInstance): string | undefined =>
  instance.TagList?.find((tag) => tag.Key === TAG_KEYS.restore)?.Value;

/** Delete a DB snapshot; an absent one is already deleted. */
export const deleteDbSnapshot = async (rds: RDSClient, snapshotId: string): Promise<void> => {
  try {
    await transientErrors(rds, 'RDS')(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: snapshotId }));
  } catch (error) {
    if (isAwsError(error, 'DBSnapshotNotFound')) return;
    throw toPlatformError(error, 'deleting the snapshot');
  }
};

/**
 * The snapshot deleter of the functions that only delete snapshots (the backups API, the
 * retention sweep): they need an RDS client, not the provisioning settings of the workflow function.
 */
export class RdsSnapshotDeleter implements SnapshotDeleter {
  constructor(private readonly rds: RDSClient) {}

  deleteSnapshot(snapshotId: string): Promise<void> {
    return deleteDbSnapshot(this.rds, snapshotId);
  }
}

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
 * PostgreSQL addons as RDS DB instances in the deployment's isolated subnets, each in its own
 * security group that admits only its project's client group (`AddonSecurityGroups`). TLS is
 * forced by the addon's parameter group unless it was created with `tls: false`. The master password comes from the spec (the platform generates it)
 * because RDS-managed master passwords cannot be combined with read replicas.
 *
 * Teardown has two steps RDS imposes: the instance first, then its security group, which
 * cannot be deleted while RDS still holds network interfaces in it (that takes minutes after
 * the instance is gone). `deleteInstance` starts it; `describeInstance` reports `deleting`
 * until both are gone and removes the group as soon as RDS lets go of it, so the workflow's
 * bounded Wait/Describe loop finishes the job and `absent` means nothing is left.
 */
export class RdsPostgresProvider implements EngineProvider, SnapshotProvider {
  private readonly rds: RDSClient['send'];
  private readonly groups: AddonSecurityGroups;

  constructor(private readonly props: RdsPostgresProviderProps) {
    this.rds = transientErrors(props.rds, 'RDS');
    this.groups = new AddonSecurityGroups({
      ec2: props.ec2,
      vpcId: props.vpcId,
      vpcCidr: props.vpcCidr,
      deployment: props.deployment,
      port: POSTGRES_PORT,
    });
  }

  async createInstance(spec: InstanceSpec): Promise<void> {
    this.checkSpec(spec);
    const parameterGroup = this.parameterGroup(spec.version, spec.tls);
    const clientGroupId = await this.groups.ensureProjectClientGroup(spec.projectId);
    const groupId = await this.groups.ensureAddonGroup(
      {
        resourceId: spec.resourceId,
        projectId: spec.projectId,
        addonId: spec.addonId,
        label: 'PostgreSQL addon',
      },
      clientGroupId,
    );
    try {
      await this.rds(
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
          DBParameterGroupName: parameterGroup,
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
    if (instance) {
      const state = instanceStateOf(instance);
      if (state.status !== 'available') return state;
      // What the addon's users attach to reach it: their project's client group.
      const projectId = instance.TagList?.find((tag) => tag.Key === TAG_KEYS.project)?.Value;
      const clientGroupId = projectId ? await this.groups.findProjectClientGroupId(projectId) : undefined;
      return clientGroupId ? { ...state, network: { clientSecurityGroupId: clientGroupId } } : state;
    }
    const groupId = await this.groups.findAddonGroupId(resourceId);
    if (!groupId) return { status: 'absent' };
    return (await this.groups.delete(groupId)) ? { status: 'absent' } : { status: 'deleting' };
  }

  async deleteInstance(resourceId: string): Promise<void> {
    const instance = await this.findInstance(resourceId);
    if (!instance) {
      const groupId = await this.groups.findAddonGroupId(resourceId);
      // Still in use just after the instance went: describeInstance retries it.
      if (groupId) await this.groups.delete(groupId);
      return;
    }
    await this.deleteDbInstance(instance);
  }

  // Snapshots -------------------------------------------------------------------------------

  async createSnapshot(resourceId: string, snapshotId: string): Promise<void> {
    try {
      await this.rds(
        new CreateDBSnapshotCommand({
          DBSnapshotIdentifier: snapshotId,
          DBInstanceIdentifier: resourceId,
          // Explicit tags replace the ones CopyTagsToSnapshot would copy: keep the deployment's.
          Tags: [
            { Key: TAG_KEYS.deployment, Value: this.props.deployment },
            { Key: TAG_KEYS.source, Value: resourceId },
          ],
        }),
      );
    } catch (error) {
      // A retried task: the first attempt got through.
      if (isAwsError(error, 'DBSnapshotAlreadyExists')) return;
      if (isAwsError(error, 'SnapshotQuotaExceeded')) {
        throw new ProviderError(
          'RDS keeps at most 100 manual snapshots per Region and account, and this one would exceed it. Delete snapshot backups you no longer need, take a dump backup instead, or ask for a higher quota in Service Quotas.',
          'QuotaExceeded',
          { cause: error },
        );
      }
      throw toPlatformError(error, 'taking the snapshot');
    }
  }

  async describeSnapshot(snapshotId: string): Promise<SnapshotState> {
    let snapshot: { Status?: string; AllocatedStorage?: number } | undefined;
    try {
      const result = await this.rds(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: snapshotId }));
      snapshot = result.DBSnapshots?.[0];
    } catch (error) {
      if (isAwsError(error, 'DBSnapshotNotFound')) return { status: 'absent' };
      throw toPlatformError(error, 'looking up the snapshot');
    }
    const status = snapshot?.Status;
    if (!snapshot || status === 'deleting') return { status: 'absent' };
    if (status === 'available') {
      // RDS does not report a snapshot's own (incremental) size; the allocated storage of the
      // instance it was taken from is what a restore needs, so that is what we show.
      const size = snapshot.AllocatedStorage;
      return { status: 'available', sizeBytes: size ? size * 1024 ** 3 : null };
    }
    if (status === undefined || SNAPSHOT_PENDING_STATUSES.has(status)) return { status: 'creating' };
    return { status: 'failed', reason: `RDS reports snapshot ${snapshotId} as ${status}` };
  }

  deleteSnapshot(snapshotId: string): Promise<void> {
    return deleteDbSnapshot(this.props.rds, snapshotId);
  }

  /*
   * Restoring a snapshot. RDS cannot restore in place: a snapshot always becomes a new DB
   * instance. So a restore is "restore to new, then swap" (stack-facts.md), in four steps,
   * each inferable from what DescribeDBInstances shows, so that any retried or restarted call
   * carries on from where the last one stopped:
   *
   *   1. restoreSnapshot: RestoreDBInstanceFromDBSnapshot into a staging instance named after the
   *      addon and the restore (`restoreIdentifiers`), with the addon's subnet group, security
   *      group, parameter group, class and storage, tagged `addons:restore=<restore id>`.
   *   2. describeRestore, staging available: rename the addon's instance to the retired name.
   *   3. describeRestore, retired renamed: rename the staging instance to the addon's identifier.
   *      The endpoint hostname is derived from the identifier, so the connection details in
   *      Secrets Manager stay right; clients reconnect as after a failover.
   *   4. describeRestore, the instance answering to the addon's identifier carries our restore
   *      tag and is available: delete the retired instance (protection off, no final snapshot;
   *      its automated backups are kept for their retention, a last way back) and report
   *      `available`.
   *
   * Until step 2 starts, a failure deletes the staging instance and reports `failed`: the addon
   * keeps its old instance and data untouched. From step 2 on there is no automatic way back
   * (a rename cannot be undone atomically); the steps left are renames of healthy instances,
   * and if they do not finish within the workflow's bounded wait, the operation fails with
   * both instances still there under predictable names for an operator.
   */

  async restoreSnapshot(resourceId: string, snapshotId: string, restoreId: string): Promise<void> {
    const { staging } = restoreIdentifiers(resourceId, restoreId);
    const current = await this.findInstance(resourceId);
    if (!current) {
      throw new ProviderError(`The addon's database instance ${resourceId} does not exist`, 'NotFound');
    }
    // A retried call: the restore already started, or even finished the swap.
    if (restoredBy(current) === restoreId || (await this.findInstance(staging))) return;
    const tags = (current.TagList ?? []).filter(
      (tag) => tag.Key !== TAG_KEYS.restore && tag.Key?.startsWith('addons:'),
    );
    const groupIds = (current.VpcSecurityGroups ?? [])
      .map((group) => group.VpcSecurityGroupId)
      .filter((id): id is string => Boolean(id));
    const parameterGroup = current.DBParameterGroups?.[0]?.DBParameterGroupName;
    try {
      await this.rds(
        new RestoreDBInstanceFromDBSnapshotCommand({
          DBInstanceIdentifier: staging,
          DBSnapshotIdentifier: snapshotId,
          DBInstanceClass: current.DBInstanceClass,
          // At least the snapshot's size; the addon's storage may have grown since.
          AllocatedStorage: current.AllocatedStorage,
          StorageType: current.StorageType,
          DBSubnetGroupName: current.DBSubnetGroup?.DBSubnetGroupName ?? this.props.subnetGroupName,
          VpcSecurityGroupIds: groupIds,
          ...(parameterGroup ? { DBParameterGroupName: parameterGroup } : {}),
          Port: current.Endpoint?.Port ?? POSTGRES_PORT,
          MultiAZ: current.MultiAZ ?? false,
          PubliclyAccessible: false,
          AutoMinorVersionUpgrade: true,
          BackupRetentionPeriod: current.BackupRetentionPeriod ?? this.props.backupRetentionDays ?? 7,
          CopyTagsToSnapshot: true,
          // It becomes the addon's instance. There is no KmsKeyId here: a restored instance is
          // encrypted with the snapshot's key, which is the addon's own key.
          DeletionProtection: true,
          Tags: [...tags, { Key: TAG_KEYS.restore, Value: restoreId }],
        }),
      );
    } catch (error) {
      if (isAwsError(error, 'DBInstanceAlreadyExists')) return;
      throw toPlatformError(error, 'restoring the snapshot into a new database instance');
    }
  }

  async describeRestore(resourceId: string, _snapshotId: string, restoreId: string): Promise<RestoreState> {
    const { staging, retired } = restoreIdentifiers(resourceId, restoreId);
    const current = await this.findInstance(resourceId);

    if (current && restoredBy(current) === restoreId) {
      // Step 4: the restored instance answers to the addon's identifier.
      if (instanceStateOf(current).status !== 'available') return { status: 'restoring' };
      const old = await this.findInstance(retired);
      if (old) await this.deleteDbInstance(old);
      return { status: 'available' };
    }

    if (current) {
      // Before the swap: `current` is still the addon's original instance.
      const restored = await this.findInstance(staging);
      if (!restored) {
        return {
          status: 'failed',
          reason: `The instance restored from the snapshot (${staging}) is gone; the addon keeps its data as it was`,
        };
      }
      const state = instanceStateOf(restored);
      if (state.status === 'failed' || state.status === 'deleting') {
        await this.deleteDbInstance(restored);
        return {
          status: 'failed',
          reason: `${state.status === 'failed' ? state.reason : `RDS is deleting ${staging}`}; the addon keeps its data as it was`,
        };
      }
      // Wait for the restored instance, and for the current one to be idle (a rename is
      // refused while RDS is, say, taking its automated backup).
      if (state.status !== 'available' || current.DBInstanceStatus !== 'available') {
        return { status: 'restoring' };
      }
      // Step 2.
      await this.rename(resourceId, retired);
      return { status: 'restoring' };
    }

    // Between the renames: nothing answers to the addon's identifier.
    const old = await this.findInstance(retired);
    const restored = await this.findInstance(staging);
    if (old && old.DBInstanceStatus === 'available' && restored?.DBInstanceStatus === 'available') {
      // Step 3.
      await this.rename(staging, resourceId);
    }
    // Otherwise a rename is in flight (RDS shows `renaming`); the next call sees its result.
    return { status: 'restoring' };
  }

  /**
   * The workflow gave up on the restore. Before the swap: delete the staging instance, and the
   * addon keeps its instance and data. Between the renames: rename the original back first
   * (TransientError until RDS has done it, so the compensation retries). After the swap: the
   * addon already runs on the snapshot's data; finish step 4 and report `completed`.
   */
  async discardRestore(
    resourceId: string,
    _snapshotId: string,
    restoreId: string,
  ): Promise<'discarded' | 'completed'> {
    const { staging, retired } = restoreIdentifiers(resourceId, restoreId);
    const current = await this.findInstance(resourceId);
    if (current && restoredBy(current) === restoreId) {
      const old = await this.findInstance(retired);
      if (old) await this.deleteDbInstance(old);
      return 'completed';
    }
    if (!current) {
      const old = await this.findInstance(retired);
      if (!old)
        throw new ProviderError(`The addon's database instance ${resourceId} does not exist`, 'NotFound');
      if (old.DBInstanceStatus === 'available') await this.rename(retired, resourceId);
      throw new TransientError(`Renaming ${retired} back to ${resourceId} before discarding the restore`);
    }
    const restored = await this.findInstance(staging);
    if (restored) await this.deleteDbInstance(restored);
    return 'discarded';
  }

  private async rename(from: string, to: string): Promise<void> {
    try {
      await this.rds(
        new ModifyDBInstanceCommand({
          DBInstanceIdentifier: from,
          NewDBInstanceIdentifier: to,
          ApplyImmediately: true,
        }),
      );
    } catch (error) {
      // A retried call: the rename already happened.
      if (isAwsError(error, 'DBInstanceNotFound')) return;
      throw toPlatformError(error, `renaming database instance ${from} to ${to}`);
    }
  }

  /** Deletion protection off, then delete without a final snapshot (idempotent). */
  private async deleteDbInstance(instance: DBInstance): Promise<void> {
    const id = instance.DBInstanceIdentifier;
    if (!id || DELETING_STATUSES.has(instance.DBInstanceStatus ?? '')) return;
    try {
      if (instance.DeletionProtection) {
        await this.rds(
          new ModifyDBInstanceCommand({
            DBInstanceIdentifier: id,
            DeletionProtection: false,
            ApplyImmediately: true,
          }),
        );
      }
      await this.rds(
        new DeleteDBInstanceCommand({
          DBInstanceIdentifier: id,
          // Backups are the backup workflow's job, not RDS's final snapshot.
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

  private parameterGroup(version: string, tls: boolean): string {
    const group = (tls ? this.props.tlsParameterGroups : this.props.noTlsParameterGroups)[version];
    if (!group) {
      throw new ProviderError(
        `This deployment has no parameter group for PostgreSQL ${version} ${tls ? 'with' : 'without'} TLS; redeploy the stack`,
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
      const result = await this.rds(new DescribeDBInstancesCommand({ DBInstanceIdentifier: resourceId }));
      return result.DBInstances?.[0];
    } catch (error) {
      if (isAwsError(error, 'DBInstanceNotFound')) return undefined;
      throw toPlatformError(error, 'looking up the database instance');
    }
  }
}
