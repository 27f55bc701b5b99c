import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElastiCacheClient, ReplicationGroup } from '@aws-sdk/client-elasticache';
import type { S3Client } from '@aws-sdk/client-s3';
import { ProviderError, TransientError } from '../../../errors.ts';
import type {
  EngineProvider,
  InstanceSpec,
  InstanceState,
  Login,
  LoginsState,
  ResizeRequest,
  ResizeState,
  RestoreState,
  SnapshotProvider,
  SnapshotState,
  UpgradeSpec,
  UpgradeState,
} from '../../../ports/engine-provider.ts';
import { AddonSecurityGroups } from '../addon-security-groups.ts';
import { transientErrors } from '../aws-errors.ts';
import { addonTags } from '../rds/rds-instances.ts';
import { TAG_KEYS } from '../tags.ts';
import { type ElastiCacheSend, groupStateOf, ReplicationGroups } from './elasticache-groups.ts';
import { baseIdOf, isValidGroupId, restoredGroupIdOf } from './names.ts';
import { type GroupSeed, RedisImports } from './redis-imports.ts';
import { RedisLogins } from './redis-logins.ts';
import { ElastiCacheReplicas } from './redis-replicas.ts';
import { describeReplicationGroupResize, resizeReplicationGroup } from './redis-resize.ts';
import { RedisRestore } from './redis-restore.ts';
import { deleteRedisSnapshot, RedisSnapshots } from './redis-snapshots.ts';
import { describeReplicationGroupUpgrade, upgradeReplicationGroup } from './redis-upgrade.ts';
import { RedisUsers } from './redis-users.ts';

/** Redis's port; the addon's security group admits it from the project's client group. */
export const REDIS_PORT = 6379;

export interface ElastiCacheRedisProviderProps {
  elasticache: ElastiCacheClient;
  ec2: EC2Client;
  /** Reads exported snapshots back to hash them. */
  s3: S3Client;
  vpcId: string;
  vpcCidr: string;
  /** Cache subnet group over the deployment's isolated subnets (created by CDK). */
  cacheSubnetGroupName: string;
  /** The deployment's `default` user, switched off, which every addon's user group contains (created by CDK). */
  defaultUserId: string;
  /** Customer-managed key for encryption at rest (the same as RDS's). */
  kmsKeyId: string;
  /** Value of the `addons:deployment` tag. */
  deployment: string;
  /**
   * Where snapshot copies must go (the workflow asks for them there): ElastiCache writes as its
   * own service principal, which only a bucket made for it admits (infra/aws/constructs/engines/redis.ts).
   */
  exportBucket?: string;
  /** Part size of the multipart copy of large imported files (tests make it small). @default 256 MiB */
  importCopyPartBytes?: number;
  /** @default 1 (ElastiCache's automatic daily backups, beside the platform's snapshot backups) */
  snapshotRetentionDays?: number;
  /** The deployment's bastion group, admitted by every addon group (`AddonSecurityGroupsProps`); unset: no bastion. */
  bastionGroupId?: string;
}

/**
 * Redis addons as Amazon ElastiCache (Redis OSS) replication groups without cluster mode: one
 * primary plus `replicas` read replicas (automatic failover and Multi-AZ only with replicas),
 * encrypted at rest with the deployment's key and in transit (TLS is always on: `rediss://`),
 * authenticated by RBAC (`RedisUsers` says why), in the deployment's isolated subnets with the
 * same per-addon security group as RDS addons (`AddonSecurityGroups`).
 *
 * The addon's current replication group is named by the pointer on its user group
 * (`RedisUsers.pointer`): the first is `baseIdOf(resourceId)`, a restore moves the addon to a
 * new one (`RedisRestore`). Teardown, like RDS's, is finished by `describeInstance`: once the
 * group is gone it deletes the user group, the users and the security group, reporting
 * `deleting` until ElastiCache lets go of each.
 */
export class ElastiCacheRedisProvider implements EngineProvider, SnapshotProvider {
  private readonly elasticache: ElastiCacheSend;
  private readonly securityGroups: AddonSecurityGroups;
  private readonly groups: ReplicationGroups;
  private readonly users: RedisUsers;
  private readonly snapshots: RedisSnapshots;
  private readonly restores: RedisRestore;
  private readonly imports: RedisImports;
  private readonly logins: RedisLogins;

  readonly exportBucket: string | undefined;
  /** The group's replica nodes (`PATCH replicas`): redis-replicas.ts. */
  readonly replicas: ElastiCacheReplicas;

  constructor(private readonly props: ElastiCacheRedisProviderProps) {
    this.exportBucket = props.exportBucket;
    this.elasticache = transientErrors(props.elasticache, 'ElastiCache');
    this.securityGroups = new AddonSecurityGroups({
      ec2: props.ec2,
      vpcId: props.vpcId,
      vpcCidr: props.vpcCidr,
      deployment: props.deployment,
      port: REDIS_PORT,
      bastionGroupId: props.bastionGroupId,
    });
    this.groups = new ReplicationGroups(this.elasticache);
    this.users = new RedisUsers(this.elasticache, props.defaultUserId);
    this.logins = new RedisLogins(this.elasticache);
    this.replicas = new ElastiCacheReplicas(this.elasticache, this.groups, this.users);
    this.snapshots = new RedisSnapshots(this.elasticache, props.s3, props.deployment);
    this.restores = new RedisRestore({
      groups: this.groups,
      users: this.users,
      subnetGroupName: props.cacheSubnetGroupName,
      kmsKeyId: props.kmsKeyId,
      securityGroupOf: (resourceId) => this.securityGroups.findAddonGroupId(resourceId),
      seedOf: (snapshotId, current) => this.seedOf(snapshotId, current),
    });
    this.imports = new RedisImports(
      this.elasticache,
      props.s3,
      props.exportBucket,
      props.importCopyPartBytes,
    );
  }

  async createInstance(spec: InstanceSpec): Promise<void> {
    this.checkSpec(spec);
    const clientGroupId = await this.securityGroups.ensureProjectClientGroup(spec.projectId);
    const securityGroupId = await this.securityGroups.ensureAddonGroup(
      { resourceId: spec.resourceId, projectId: spec.projectId, addonId: spec.addonId, label: 'Redis addon' },
      clientGroupId,
    );
    const tags = addonTags(this.props.deployment, spec);
    const userGroupId = await this.users.ensure(spec, tags);
    const withReplicas = spec.replicas > 0;
    await this.groups.create(
      {
        ReplicationGroupId: baseIdOf(spec.resourceId),
        ReplicationGroupDescription: `Redis addon ${spec.addonId} of project ${spec.projectId}`,
        Engine: 'redis',
        EngineVersion: spec.version,
        CacheNodeType: spec.plan.instanceClass,
        NumCacheClusters: 1 + spec.replicas,
        AutomaticFailoverEnabled: withReplicas,
        MultiAZEnabled: withReplicas,
        Port: REDIS_PORT,
        CacheSubnetGroupName: this.props.cacheSubnetGroupName,
        SecurityGroupIds: [securityGroupId],
        AtRestEncryptionEnabled: true,
        KmsKeyId: this.props.kmsKeyId,
        TransitEncryptionEnabled: true,
        UserGroupIds: [userGroupId],
        AutoMinorVersionUpgrade: true,
        SnapshotRetentionLimit: this.props.snapshotRetentionDays ?? 1,
        Tags: tags,
      },
      'creating the Redis replication group',
    );
  }

  async describeInstance(resourceId: string): Promise<InstanceState> {
    const pointer = await this.users.pointer(resourceId);
    const group = await this.groups.find(pointer.current);
    if (group) {
      const state = groupStateOf(group);
      if (state.status !== 'available') return state;
      const projectId = pointer.addonTags.find((tag) => tag.Key === TAG_KEYS.project)?.Value;
      const clientGroupId = projectId
        ? await this.securityGroups.findProjectClientGroupId(projectId)
        : undefined;
      return clientGroupId ? { ...state, network: { clientSecurityGroupId: clientGroupId } } : state;
    }
    return (await this.teardown(resourceId)) ? { status: 'absent' } : { status: 'deleting' };
  }

  async deleteInstance(resourceId: string): Promise<void> {
    const pointer = await this.users.pointer(resourceId);
    const group = await this.groups.find(pointer.current);
    // Refused while ElastiCache is busy with it: TransientError, the workflow's Retry calls again.
    if (group && !(await this.groups.delete(group))) {
      throw toBusy(`replication group ${pointer.current} is busy (${group.Status}); deleting it later`);
    }
    // A group a restore replaced and did not delete yet goes too.
    if (pointer.previous && pointer.previous !== pointer.current) {
      const previous = await this.groups.find(pointer.previous);
      if (previous) await this.groups.delete(previous);
    }
    if (!group) await this.teardown(resourceId);
  }

  /** What is left once the group is gone: user group, users, security group. True when nothing is. */
  private async teardown(resourceId: string): Promise<boolean> {
    // Both at once: neither waits for the other, only for the replication group (already gone).
    const usersGone = await this.users.delete(resourceId);
    const securityGroupId = await this.securityGroups.findAddonGroupId(resourceId);
    const securityGroupGone = securityGroupId ? await this.securityGroups.delete(securityGroupId) : true;
    return usersGone && securityGroupGone;
  }

  /** A plan change: the node type of the addon's current replication group (redis-resize.ts). */
  async resize(resourceId: string, change: ResizeRequest): Promise<void> {
    const { current } = await this.users.pointer(resourceId);
    await resizeReplicationGroup(this.elasticache, this.groups, current, change);
  }

  async describeResize(resourceId: string, change: ResizeRequest): Promise<ResizeState> {
    const { current } = await this.users.pointer(resourceId);
    return describeReplicationGroupResize(this.groups, current, change);
  }

  /** Credential rotation: the RBAC user's two passwords, applied asynchronously (redis-logins.ts). */
  addLogin(resourceId: string, current: Login, password: string): Promise<string> {
    return this.logins.add(resourceId, current, password);
  }

  retainOnlyLogin(resourceId: string, login: Login): Promise<void> {
    return this.logins.retainOnly(resourceId, login);
  }

  describeLogins(resourceId: string, logins: 1 | 2): Promise<LoginsState> {
    return this.logins.describe(resourceId, logins);
  }

  /** An engine upgrade of the addon's current replication group (redis-upgrade.ts). */
  async upgradeInstance(resourceId: string, upgrade: UpgradeSpec): Promise<void> {
    const { current } = await this.users.pointer(resourceId);
    await upgradeReplicationGroup(this.elasticache, this.groups, current, upgrade);
  }

  async describeUpgrade(resourceId: string, upgrade: UpgradeSpec): Promise<UpgradeState> {
    const { current } = await this.users.pointer(resourceId);
    return describeReplicationGroupUpgrade(this.elasticache, this.groups, current, upgrade);
  }

  /** ElastiCache cannot downgrade: `completed` once the group runs the new version, else nothing to undo. */
  async discardUpgrade(resourceId: string, upgrade: UpgradeSpec): Promise<'discarded' | 'completed'> {
    const state = await this.describeUpgrade(resourceId, upgrade);
    return state.status === 'available' ? 'completed' : 'discarded';
  }

  async createSnapshot(
    resourceId: string,
    snapshotId: string,
    exportTo?: { bucket: string; key: string },
  ): Promise<void> {
    const { current } = await this.users.pointer(resourceId);
    await this.snapshots.create(current, resourceId, snapshotId, exportTo);
  }

  describeSnapshot(snapshotId: string): Promise<SnapshotState> {
    return this.snapshots.describe(snapshotId);
  }

  /**
   * Deletes the ElastiCache snapshot, or the copy an import made: an import's snapshot id never
   * names an ElastiCache snapshot, and DeleteSnapshot of an absent one is refused by the
   * tag-conditioned grant, hence the look first.
   */
  async deleteSnapshot(snapshotId: string): Promise<void> {
    if (await this.snapshots.find(snapshotId)) await deleteRedisSnapshot(this.elasticache, snapshotId);
    await this.imports.delete(snapshotId);
  }

  /**
   * An uploaded RDB file becomes restorable as `snapshotId`: copied to the export bucket, from
   * which the restore seeds the new replication group (`RedisImports`). ElastiCache checks the
   * file only then: one it cannot load fails the restore, and the addon keeps its data.
   */
  importSnapshot(_resourceId: string, snapshotId: string, source: { bucket: string; key: string }) {
    return this.imports.copy(snapshotId, source);
  }

  private async seedOf(snapshotId: string, current: ReplicationGroup): Promise<GroupSeed> {
    const snapshot = await this.snapshots.find(snapshotId);
    if (!snapshot) {
      const imported = await this.imports.seedOf(snapshotId, current);
      if (imported) return imported;
    }
    // Absent altogether: ElastiCache says so (SnapshotNotFound).
    return {
      SnapshotName: snapshotId,
      ...(snapshot?.EngineVersion ? { EngineVersion: snapshot.EngineVersion } : {}),
    };
  }

  restoreSnapshot(resourceId: string, snapshotId: string, restoreId: string): Promise<void> {
    return this.restores.start(resourceId, snapshotId, restoreId);
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

  private checkSpec(spec: InstanceSpec): void {
    if (spec.engine !== 'redis') {
      throw new ProviderError(
        `The ElastiCache Redis provider cannot create ${spec.engine} addons`,
        'UnsupportedEngine',
      );
    }
    if (!isValidGroupId(restoredGroupIdOf(spec.resourceId, 'check'))) {
      throw new ProviderError(
        `'${spec.resourceId}' cannot name an ElastiCache replication group`,
        'InvalidRequest',
      );
    }
    if (!spec.tls) {
      throw new ProviderError(
        'Redis addons on AWS always use TLS: ElastiCache RBAC authentication requires encryption in transit',
        'UnsupportedOption',
      );
    }
    if (spec.publicAccess) {
      throw new ProviderError(
        'Public access is not available: addons live in isolated subnets',
        'UnsupportedOption',
      );
    }
    // ElastiCache passwords: 16 to 128 printable characters.
    if (spec.password.length < 16 || spec.password.length > 128) {
      throw new ProviderError('ElastiCache needs a password of 16 to 128 characters', 'InvalidRequest');
    }
  }
}

const toBusy = (message: string) => new TransientError(`ElastiCache could not complete this yet: ${message}`);
