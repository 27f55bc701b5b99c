import type { EC2Client } from '@aws-sdk/client-ec2';
import { CreateDBInstanceCommand, ModifyDBInstanceCommand, type RDSClient } from '@aws-sdk/client-rds';
import { ProviderError } from '../../../errors.ts';
import type {
  EngineProvider,
  InstanceSpec,
  InstanceState,
  LoginJobTarget,
  NetworkingApplied,
  NetworkingState,
  ResizeRequest,
  ResizeState,
  RestorableWindow,
  RestoreState,
  SnapshotProvider,
  SnapshotState,
  UpgradeSpec,
  UpgradeState,
} from '../../../ports/engine-provider.ts';
import type { Engine } from '../../../schemas/catalog.ts';
import type { NetworkingSettings } from '../../../schemas/networking.ts';
import { AddonSecurityGroups } from '../addon-security-groups.ts';
import { isAwsError, toPlatformError, transientErrors } from '../aws-errors.ts';
import { TAG_KEYS } from '../tags.ts';
import {
  addonTags,
  instanceStateOf,
  instanceTag,
  isValidDbInstanceIdentifier,
  RdsInstances,
} from './rds-instances.ts';
import { RdsNetworking } from './rds-networking.ts';
import { describeRdsRestorableWindow, pointInTimeSourceOf } from './rds-pitr.ts';
import { RdsReplicas } from './rds-replicas.ts';
import { describeRdsResize, resizeRdsInstance } from './rds-resize.ts';
import { RdsRestoreSwap } from './rds-restore.ts';
import { deleteDbSnapshot, RdsSnapshots } from './rds-snapshots.ts';
import { RdsUpgrades } from './rds-upgrade.ts';

/**
 * What sets one RDS engine apart from another; everything else (instances, security groups,
 * snapshots, restore-and-swap, tags, deletion protection) is the same RDS mechanics. Each
 * engine's profile lives in the folder named after the engine (`../<engine>/index.ts`).
 */
export interface RdsEngineProfile {
  /** The platform's engine name, as in the catalog. */
  engine: Engine;
  /** RDS's name for it: CreateDBInstance's `Engine`. */
  rdsEngine: string;
  /** For messages and security group descriptions: the engine's display name. */
  label: string;
  /** The port the instance listens on and the addon's security group admits. */
  port: number;
  /**
   * The key of the parameter group for a catalog version: parameter groups belong to a family,
   * one per major, and the deployment creates one forcing TLS and one not per key.
   */
  parameterGroupKey(version: string): string;
  /** Why RDS would refuse `username` as this engine's master user name; undefined when it is fine. */
  usernameProblem(username: string): string | undefined;
  /** Why RDS would refuse `database` as this engine's initial database name; undefined when fine. */
  databaseNameProblem(database: string): string | undefined;
  /**
   * Credential rotation by the login job (shared/jobs/login-job.ts): the engine's alternating-user
   * SQL, run in the addon's subnets as the platform's admin login. Unset: no rotation on AWS.
   */
  loginJob?: boolean;
}

/** Parameter groups the deployment created for one engine: key (`parameterGroupKey`) -> name. */
export interface RdsParameterGroups {
  /** Connections must use TLS (the default of every addon). */
  tls: Record<string, string>;
  /**
   * Plain connections accepted (an addon created with `tls: false`), TLS still offered. A group of
   * its own, because the RDS default groups of recent majors force TLS.
   */
  noTls: Record<string, string>;
}

export interface RdsEngineProviderProps {
  rds: RDSClient;
  ec2: EC2Client;
  /** The VPC of the deployment: each project's client group and each addon's group are created in it. */
  vpcId: string;
  /** The VPC's CIDR block: project client groups may reach the engine port inside it. */
  vpcCidr: string;
  /** DB subnet group new instances are created in (created by CDK), shared by every RDS engine. */
  subnetGroupName: string;
  /**
   * The DB subnet group over the public subnets: an instance in it can be made public in place
   * (`configureNetworking`). Unset: no addon can be made public.
   */
  publicSubnetGroupName?: string;
  /** Customer-managed key for storage encryption. */
  kmsKeyId: string;
  /** This engine's parameter groups (created by CDK). */
  parameterGroups: RdsParameterGroups;
  /** Value of the `addons:deployment` tag; the workflow role may only touch what carries it. */
  deployment: string;
  /** @default 7 */
  backupRetentionDays?: number;
  /** The deployment's bastion group, admitted by every addon group (`AddonSecurityGroupsProps`); unset: no bastion. */
  bastionGroupId?: string;
}

/**
 * Addons of one RDS engine as RDS DB instances in the deployment's DB subnet group (the public
 * subnets' where the stack has them, private until made public: `configureNetworking`,
 * rds-networking.ts), each in its own security group that admits only its project's client group
 * (`AddonSecurityGroups`), plus each allowed CIDR while public. TLS is forced by the addon's
 * parameter group unless it was created with `tls: false` or turned off later. The master user
 * name and password come from the spec (the platform generates them) because RDS-managed master
 * passwords cannot be combined with read replicas.
 *
 * Teardown has two steps RDS imposes: the instance first, then its security group, which
 * cannot be deleted while RDS still holds network interfaces in it (that takes minutes after
 * the instance is gone). `deleteInstance` starts it; `describeInstance` reports `deleting`
 * until both are gone and removes the group as soon as RDS lets go of it, so the workflow's
 * bounded Wait/Describe loop finishes the job and `absent` means nothing is left.
 */
export class RdsEngineProvider implements EngineProvider, SnapshotProvider {
  private readonly rds: RDSClient['send'];
  private readonly groups: AddonSecurityGroups;
  private readonly instances: RdsInstances;
  private readonly snapshots: RdsSnapshots;
  private readonly restores: RdsRestoreSwap;
  private readonly upgrades: RdsUpgrades;
  /** The instance's read replicas (`PATCH replicas`): rds-replicas.ts. */
  readonly replicas: RdsReplicas;
  private readonly networking: RdsNetworking;
  /** Set where the profile rotates credentials by the login job (EngineProvider.loginJob). */
  readonly loginJob?: (resourceId: string) => Promise<LoginJobTarget>;

  constructor(
    readonly profile: RdsEngineProfile,
    private readonly props: RdsEngineProviderProps,
  ) {
    this.rds = transientErrors(props.rds, 'RDS');
    this.groups = new AddonSecurityGroups({
      ec2: props.ec2,
      vpcId: props.vpcId,
      vpcCidr: props.vpcCidr,
      deployment: props.deployment,
      port: profile.port,
      bastionGroupId: props.bastionGroupId,
    });
    this.instances = new RdsInstances(this.rds);
    if (profile.loginJob) this.loginJob = (resourceId) => this.masterUserOf(resourceId);
    this.snapshots = new RdsSnapshots(this.rds, props.deployment);
    this.replicas = new RdsReplicas(this.rds, this.instances, {
      subnetGroupName: props.subnetGroupName,
      deployment: props.deployment,
    });
    this.upgrades = new RdsUpgrades(this.rds, this.instances, (version, tls) =>
      this.parameterGroup(version, tls),
    );
    this.networking = new RdsNetworking({
      rds: this.rds,
      instances: this.instances,
      groups: this.groups,
      parameterGroups: props.parameterGroups,
      ...(props.publicSubnetGroupName ? { publicSubnetGroupName: props.publicSubnetGroupName } : {}),
    });
    this.restores = new RdsRestoreSwap({
      rds: this.rds,
      instances: this.instances,
      subnetGroupName: props.subnetGroupName,
      defaultPort: profile.port,
      backupRetentionDays: props.backupRetentionDays,
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
        label: `${this.profile.label} addon`,
      },
      clientGroupId,
    );
    try {
      await this.rds(
        new CreateDBInstanceCommand({
          DBInstanceIdentifier: spec.resourceId,
          Engine: this.profile.rdsEngine,
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
          Port: this.profile.port,
          DBSubnetGroupName: this.props.subnetGroupName,
          VpcSecurityGroupIds: [groupId],
          PubliclyAccessible: false,
          MultiAZ: false,
          DBParameterGroupName: parameterGroup,
          // Automated backups: the plan's point-in-time window (rds-pitr.ts), else the deployment's.
          BackupRetentionPeriod: spec.plan.pitrRetentionDays ?? this.props.backupRetentionDays ?? 7,
          CopyTagsToSnapshot: true,
          // On for the instance's whole life; deleteInstance turns it off right before deleting.
          DeletionProtection: true,
          Tags: addonTags(this.props.deployment, spec),
        }),
      );
    } catch (error) {
      // A retried task: the first attempt got through.
      if (isAwsError(error, 'DBInstanceAlreadyExists')) return;
      throw toPlatformError(error, 'creating the database instance');
    }
  }

  async describeInstance(resourceId: string): Promise<InstanceState> {
    const instance = await this.instances.find(resourceId);
    if (instance) {
      const state = instanceStateOf(instance);
      if (state.status !== 'available') return state;
      return this.groups.withClientGroup(state, instanceTag(instance, TAG_KEYS.project));
    }
    return { status: await this.groups.retireAddonGroup(resourceId) };
  }

  /**
   * The read replicas first: RDS would promote a replica whose source is deleted to a standalone
   * instance. The instance itself once none is left; until then `continueDeletion` (the delete
   * workflow's wait, while the instance still serves) deletes it as soon as the replicas are gone.
   */
  async deleteInstance(resourceId: string): Promise<void> {
    const instance = await this.instances.find(resourceId);
    if (!instance) {
      // Still in use just after the instance went: describeInstance retries it.
      await this.groups.retireAddonGroup(resourceId);
      return;
    }
    if ((await this.replicas.deleteAll(instance)) > 0) return;
    await this.instances.delete(instance);
  }

  continueDeletion(resourceId: string): Promise<void> {
    return this.deleteInstance(resourceId);
  }

  /** The customer's own user of an instance: its master user, the first of the alternating pair. */
  private async masterUserOf(resourceId: string): Promise<LoginJobTarget> {
    const instance = await this.instances.find(resourceId);
    if (!instance?.MasterUsername) {
      throw new ProviderError(`The database instance ${resourceId} does not exist`, 'NotFound');
    }
    return { owner: instance.MasterUsername };
  }

  /**
   * A fork restored from another addon's snapshot has that addon's master password: set the
   * fork's own. RDS applies it asynchronously (`resetting-master-credentials`, then the pending
   * value clears); `describeInstance` says `creating` until then. Setting it again is harmless.
   */
  async setAdminPassword(resourceId: string, username: string, password: string): Promise<void> {
    const instance = await this.instances.find(resourceId);
    if (!instance) throw new ProviderError(`The database instance ${resourceId} does not exist`, 'NotFound');
    if (instance.MasterUsername && instance.MasterUsername !== username) {
      throw new ProviderError(
        `The master user of ${resourceId} is '${instance.MasterUsername}', not '${username}'`,
        'InvalidRequest',
      );
    }
    try {
      await this.rds(
        new ModifyDBInstanceCommand({
          DBInstanceIdentifier: resourceId,
          MasterUserPassword: password,
          ApplyImmediately: true,
        }),
      );
    } catch (error) {
      throw toPlatformError(error, 'setting the master password');
    }
  }

  /** Public with an allow list or private, TLS on or off: begun here (rds-networking.ts). */
  configureNetworking(resourceId: string, networking: NetworkingSettings): Promise<NetworkingApplied> {
    return this.networking.apply(resourceId, networking);
  }

  describeNetworking(resourceId: string, networking: NetworkingSettings): Promise<NetworkingState> {
    return this.networking.describe(resourceId, networking);
  }

  /** Plan, storage or Multi-AZ: ModifyDBInstance, applied at once (rds-resize.ts). */
  resize(resourceId: string, change: ResizeRequest): Promise<void> {
    return resizeRdsInstance(this.rds, this.instances, resourceId, change);
  }

  describeResize(resourceId: string, change: ResizeRequest): Promise<ResizeState> {
    return describeRdsResize(this.instances, resourceId, change);
  }

  /** ModifyDBInstance to the new version with a parameter group of its family: rds-upgrade.ts. */
  async upgradeInstance(resourceId: string, upgrade: UpgradeSpec): Promise<void> {
    await this.refuseWithReplicas(resourceId, 'upgraded');
    return this.upgrades.start(resourceId, upgrade);
  }

  describeUpgrade(resourceId: string, upgrade: UpgradeSpec): Promise<UpgradeState> {
    return this.upgrades.describe(resourceId, upgrade);
  }

  discardUpgrade(resourceId: string, upgrade: UpgradeSpec): Promise<'discarded' | 'completed'> {
    return this.upgrades.discard(resourceId, upgrade);
  }

  createSnapshot(resourceId: string, snapshotId: string): Promise<void> {
    return this.snapshots.create(resourceId, snapshotId);
  }

  describeSnapshot(snapshotId: string): Promise<SnapshotState> {
    return this.snapshots.describe(snapshotId);
  }

  deleteSnapshot(snapshotId: string): Promise<void> {
    return deleteDbSnapshot(this.props.rds, snapshotId);
  }

  /** RDS restores to a new instance, then swaps it in: `RdsRestoreSwap`. */
  async restoreSnapshot(resourceId: string, snapshotId: string, restoreId: string): Promise<void> {
    await this.refuseWithReplicas(resourceId, 'restored');
    return this.restores.start(resourceId, snapshotId, restoreId);
  }

  /** RDS automated backups: rds-pitr.ts. */
  describeRestorableWindow(resourceId: string): Promise<RestorableWindow | null> {
    return describeRdsRestorableWindow(this.rds, this.instances, resourceId);
  }

  /**
   * RestoreDBInstanceToPointInTime into a staging instance, then the snapshot restore's swap
   * (`describeRestore` advances it; `discardRestore` undoes it). The source is `resourceId` itself
   * for a restore in place, or another addon's instance (or its retained automated backups).
   */
  async restoreToPointInTime(
    resourceId: string,
    sourceResourceId: string,
    time: string,
    restoreId: string,
  ): Promise<void> {
    await this.refuseWithReplicas(resourceId, 'restored');
    await this.restores.startPointInTime(
      resourceId,
      restoreId,
      () => pointInTimeSourceOf(this.rds, this.instances, sourceResourceId),
      new Date(time),
    );
  }

  describeRestore(resourceId: string, _snapshotId: string, restoreId: string): Promise<RestoreState> {
    return this.restores.describe(resourceId, restoreId);
  }

  discardRestore(
    resourceId: string,
    _snapshotId: string,
    restoreId: string,
  ): Promise<'discarded' | 'completed'> {
    return this.restores.discard(resourceId, restoreId);
  }

  /**
   * A restore swaps in a new instance and deletes the old one, whose replicas RDS would then
   * promote (stale standalone copies at the replicas' addresses); an upgrade has its own order
   * for replicas (MySQL's first). Neither is built with replicas: the operation fails at once.
   */
  private async refuseWithReplicas(resourceId: string, what: string): Promise<void> {
    const instance = await this.instances.find(resourceId);
    if (instance?.ReadReplicaDBInstanceIdentifiers?.length) {
      throw new ProviderError(
        `An addon with read replicas cannot be ${what} on this deployment: set replicas to 0 first, and back afterwards`,
        'UnsupportedOption',
      );
    }
  }

  private checkSpec(spec: InstanceSpec): void {
    const { profile } = this;
    if (spec.engine !== profile.engine) {
      throw new ProviderError(
        `The RDS ${profile.label} provider cannot create ${spec.engine} addons`,
        'UnsupportedEngine',
      );
    }
    if (!isValidDbInstanceIdentifier(spec.resourceId)) {
      throw new ProviderError(
        `'${spec.resourceId}' is not a valid RDS DB instance identifier`,
        'InvalidRequest',
      );
    }
    const usernameProblem = profile.usernameProblem(spec.username);
    if (usernameProblem) {
      throw new ProviderError(
        `'${spec.username}' cannot be the ${profile.label} master user: ${usernameProblem}`,
        'InvalidRequest',
      );
    }
    const databaseProblem = profile.databaseNameProblem(spec.database);
    if (databaseProblem) {
      throw new ProviderError(
        `'${spec.database}' cannot be the ${profile.label} database name: ${databaseProblem}`,
        'InvalidRequest',
      );
    }
    if (spec.replicas > 0) {
      // The catalog's replicasAfterCreate: the API refuses it before a workflow starts.
      throw new ProviderError(
        'RDS read replicas are added once the addon runs: create it, then PATCH replicas',
        'UnsupportedOption',
      );
    }
    if (spec.publicAccess) {
      throw new ProviderError(
        'Public access is not given at create: create the addon private, then PATCH its networking with an allow list',
        'UnsupportedOption',
      );
    }
  }

  private parameterGroup(version: string, tls: boolean): string {
    const groups = tls ? this.props.parameterGroups.tls : this.props.parameterGroups.noTls;
    const group = groups[this.profile.parameterGroupKey(version)];
    if (!group) {
      throw new ProviderError(
        `This deployment has no parameter group for ${this.profile.label} ${version} ${tls ? 'with' : 'without'} TLS; redeploy the stack`,
        'Misconfigured',
      );
    }
    return group;
  }
}
