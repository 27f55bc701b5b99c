import { Readable } from 'node:stream';
import {
  AddTagsToResourceCommand,
  CacheClusterNotFoundFault,
  CopySnapshotCommand,
  CreateReplicationGroupCommand,
  type CreateReplicationGroupCommandInput,
  CreateSnapshotCommand,
  CreateUserCommand,
  CreateUserGroupCommand,
  DecreaseReplicaCountCommand,
  DefaultUserAssociatedToUserGroupFault,
  DeleteReplicationGroupCommand,
  DeleteSnapshotCommand,
  DeleteUserCommand,
  DeleteUserGroupCommand,
  DescribeCacheClustersCommand,
  DescribeEventsCommand,
  DescribeReplicationGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeUserGroupsCommand,
  DescribeUsersCommand,
  ElastiCacheClient,
  ElastiCacheServiceException,
  IncreaseReplicaCountCommand,
  InvalidParameterValueException,
  InvalidReplicationGroupStateFault,
  InvalidUserGroupStateFault,
  InvalidUserStateFault,
  ListTagsForResourceCommand,
  ModifyReplicationGroupCommand,
  ModifyUserCommand,
  ReplicationGroupAlreadyExistsFault,
  ReplicationGroupNotFoundFault,
  SnapshotAlreadyExistsFault,
  SnapshotNotFoundFault,
  type Tag,
  UserAlreadyExistsFault,
  UserGroupAlreadyExistsFault,
  UserGroupNotFoundFault,
  UserNotFoundFault,
} from '@aws-sdk/client-elasticache';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import type { FakeAws } from './fake-aws.ts';

const $metadata = { httpStatusCode: 400 };

/**
 * What the Redis engine adds to the workflow function's role (RedisAddons.grantProvisioning):
 * the other engines' lifecycle files send none of it, aws-redis-lifecycle.test.ts sends all of it
 * (snapshot backups of Redis are exported for download).
 */
export const REDIS_ENGINE_ACTIONS = [
  'elasticache:AddTagsToResource',
  'elasticache:CopySnapshot',
  'elasticache:CreateReplicationGroup',
  'elasticache:CreateSnapshot',
  'elasticache:CreateUser',
  'elasticache:CreateUserGroup',
  'elasticache:DeleteReplicationGroup',
  'elasticache:DeleteSnapshot',
  'elasticache:DeleteUser',
  'elasticache:DeleteUserGroup',
  'elasticache:DescribeCacheClusters',
  'elasticache:DescribeReplicationGroups',
  'elasticache:DescribeSnapshots',
  'elasticache:DescribeUserGroups',
  'elasticache:DescribeUsers',
  'elasticache:ListTagsForResource',
  's3:GetBucketLocation',
  's3:ListBucket',
  // An import's copy of the uploaded RDB file into the export bucket.
  's3:PutObject',
];

/**
 * What a credential rotation of a Redis addon adds (rotate-credentials): its user's passwords, and
 * the connection details' AWSPENDING version moved to AWSCURRENT. aws-redis-rotation.test.ts sends them.
 */
export const REDIS_ROTATION_ACTIONS = ['elasticache:ModifyUser', 'secretsmanager:UpdateSecretVersionStage'];

const ARN = 'arn:aws:elasticache:eu-west-1:123456789012';
const tagMap = (tags: Tag[]) => Object.fromEntries(tags.map((tag) => [String(tag.Key), String(tag.Value)]));
const next = (statuses: string[]) => (statuses.length > 1 ? statuses.shift() : statuses[0]) ?? 'creating';

interface FakeGroup {
  id: string;
  input: CreateReplicationGroupCommandInput;
  tags: Tag[];
  statuses: string[];
  /** Describes left that report `deleting` before the group is gone; undefined until deleted. */
  deletingDescribes?: number;
  createdAt: Date;
  /** The status the last describe showed: what a replicas change finds the group in. */
  shown?: string;
  /** Automatic failover being switched by a ModifyReplicationGroup, shown while `modifying`. */
  switching?: 'enabling' | 'disabling';
}

interface FakeUser {
  userName: string;
  tags: Tag[];
  /** The passwords that let the user in now. */
  passwords?: string[];
  /** Set by ModifyUser: the passwords it asked for, in force once the user is active again. */
  modifying?: { passwords: string[]; describes: number };
}

interface FakeSnapshot {
  name: string;
  groupId: string;
  /** The full version the source group ran, as ElastiCache reports it. */
  engineVersion: string;
  tags: Tag[];
  statuses: string[];
  createdAt: Date;
}

/**
 * ElastiCache as an aws-sdk-client-mock fake beside `FakeAws` (whose EC2, S3 and Secrets Manager
 * fakes it shares, and whose `calls` it records into): replication groups with scripted statuses,
 * RBAC users and user groups with tags, snapshots and their exports to S3 (`-0001.rdb` objects).
 */
export class FakeElastiCache {
  readonly client = mockClient(ElastiCacheClient);
  readonly groups = new Map<string, FakeGroup>();
  readonly users = new Map<string, FakeUser>();
  /** Describes that show a user `modifying` after a ModifyUser, its old passwords still in force. */
  modifyingDescribes = 2;
  /** When a group or snapshot is created (tests move it back to make it old). */
  clock = () => new Date();
  readonly userGroups = new Map<string, { userIds: string[]; tags: Tag[]; deleting: boolean }>();
  readonly snapshots = new Map<string, FakeSnapshot>();
  /** What each new group (created or restored) reports. */
  script = { statuses: ['creating', 'available'] };
  /** What a group reports after IncreaseReplicaCount or DecreaseReplicaCount. */
  replicaScript = { statuses: ['modifying', 'modifying', 'available'] };
  snapshotScript = { statuses: ['creating', 'available'] };
  /** Describes of a deleted group that still show it `deleting`. */
  deletingDescribes = 1;
  /** The RDB an export writes. */
  rdb = Buffer.from('REDIS0011 fake rdb');
  /** What an EngineVersion change does: upgrade the nodes, or leave them on their version. */
  upgradeOutcome: 'upgraded' | 'refused' = 'upgraded';
  /** Events DescribeEvents answers (filtered by the request's source and start). */
  readonly events: Array<{ SourceIdentifier: string; SourceType: string; Message: string; Date: Date }> = [];

  constructor(private readonly aws: FakeAws) {
    this.install();
  }

  reset(): void {
    this.client.reset();
    this.groups.clear();
    this.users.clear();
    this.userGroups.clear();
    this.snapshots.clear();
    this.script = { statuses: ['creating', 'available'] };
    this.replicaScript = { statuses: ['modifying', 'modifying', 'available'] };
    this.snapshotScript = { statuses: ['creating', 'available'] };
    this.deletingDescribes = 1;
    this.modifyingDescribes = 2;
    this.clock = () => new Date();
    this.upgradeOutcome = 'upgraded';
    this.events.length = 0;
    this.install();
  }

  restore(): void {
    this.client.restore();
  }

  /** What nobody deletes: groups, users and user groups that exist and are not being deleted. */
  leftovers(): string[] {
    return [
      ...[...this.groups.values()]
        .filter((group) => group.deletingDescribes === undefined)
        .map((group) => group.id),
      ...this.users.keys(),
      ...[...this.userGroups.entries()].filter(([, group]) => !group.deleting).map(([id]) => id),
    ];
  }

  private record(command: string, input: object, tags?: Tag[]) {
    this.aws.calls.push({
      service: 'elasticache',
      command,
      input: structuredClone(input) as Record<string, unknown>,
      resourceTags: tags ? tagMap(tags) : undefined,
    });
    const error = this.aws.failNext.get(command)?.shift();
    if (error) throw error;
  }

  private groupNotFound(id: string) {
    return new ReplicationGroupNotFoundFault({ $metadata, message: `Replication group ${id} not found.` });
  }

  private install(): void {
    this.client.onAnyCommand().callsFake(() => {
      throw new Error('ElastiCache: unexpected command');
    });
    this.installGroups();
    this.installUsers();
    this.installSnapshots();
    this.installExports();
  }

  private installGroups(): void {
    const { client } = this;
    client.on(CreateReplicationGroupCommand).callsFake((input) => {
      const source = input.SnapshotName ? this.snapshots.get(input.SnapshotName) : undefined;
      this.record('CreateReplicationGroup', input, source?.tags);
      const id = String(input.ReplicationGroupId);
      if (this.groups.has(id)) throw new ReplicationGroupAlreadyExistsFault({ $metadata, message: 'exists' });
      if (input.SnapshotName && !source) {
        throw new SnapshotNotFoundFault({ $metadata, message: `Snapshot ${input.SnapshotName} not found` });
      }
      // Seeding from RDB files: ElastiCache reads each object (arn:aws:s3:::bucket/key) at once.
      for (const arn of input.SnapshotArns ?? []) {
        if (!this.aws.objects.has(arn.replace(/^arn:[^:]+:s3:::/, ''))) {
          throw new InvalidParameterValueException({ $metadata, message: `No S3 object at ${arn}` });
        }
      }
      this.groups.set(id, {
        id,
        input,
        tags: input.Tags ?? [],
        statuses: [...this.script.statuses],
        createdAt: this.clock(),
      });
      return { ReplicationGroup: { ReplicationGroupId: id, Status: 'creating' } };
    });
    client.on(DescribeReplicationGroupsCommand).callsFake((input) => {
      this.record('DescribeReplicationGroups', input);
      // Without an id: every group, as it is now (the reconciler's listing).
      if (input.ReplicationGroupId === undefined) {
        return {
          ReplicationGroups: [...this.groups.values()].map((group) => ({
            ReplicationGroupId: group.id,
            Status: group.deletingDescribes === undefined ? group.statuses[0] : 'deleting',
            ARN: `${ARN}:replicationgroup:${group.id}`,
            UserGroupIds: group.input.UserGroupIds,
            ReplicationGroupCreateTime: group.createdAt,
            MemberClusters: Array.from(
              { length: group.input.NumCacheClusters ?? 1 },
              (_, i) => `${group.id}-00${i + 1}`,
            ),
            MultiAZ: group.input.MultiAZEnabled ? 'enabled' : 'disabled',
          })),
        };
      }
      // Time passes for the groups nobody looks at too: a deleted one goes after a few calls.
      for (const other of this.groups.values()) {
        if (other.id === input.ReplicationGroupId || other.deletingDescribes === undefined) continue;
        if (other.deletingDescribes === 0) this.groups.delete(other.id);
        else other.deletingDescribes -= 1;
      }
      const id = String(input.ReplicationGroupId);
      const group = this.groups.get(id);
      if (!group) throw this.groupNotFound(id);
      let status: string;
      if (group.deletingDescribes !== undefined) {
        if (group.deletingDescribes === 0) {
          this.groups.delete(id);
          throw this.groupNotFound(id);
        }
        group.deletingDescribes -= 1;
        status = 'deleting';
      } else {
        status = next(group.statuses);
      }
      group.shown = status;
      if (status !== 'modifying') group.switching = undefined;
      const nodes = group.input.NumCacheClusters ?? 1;
      const members = Array.from({ length: nodes }, (_, i) => `${id}-00${i + 1}`);
      return {
        ReplicationGroups: [
          {
            ReplicationGroupId: id,
            Status: status,
            ARN: `${ARN}:replicationgroup:${id}`,
            CacheNodeType: group.input.CacheNodeType,
            MemberClusters: members,
            AutomaticFailover:
              group.switching ?? (group.input.AutomaticFailoverEnabled ? 'enabled' : 'disabled'),
            MultiAZ: group.input.MultiAZEnabled ? 'enabled' : 'disabled',
            UserGroupIds: group.input.UserGroupIds,
            NodeGroups:
              status === 'available' || status === 'modifying'
                ? [
                    {
                      NodeGroupId: '0001',
                      PrimaryEndpoint: {
                        Address: `master.${id}.abc123.euw1.cache.amazonaws.com`,
                        Port: 6379,
                      },
                      ReaderEndpoint: {
                        Address: `replica.${id}.abc123.euw1.cache.amazonaws.com`,
                        Port: 6379,
                      },
                      NodeGroupMembers: members.map((member, index) => ({
                        CacheClusterId: member,
                        CurrentRole: index === 0 ? 'primary' : 'replica',
                      })),
                    },
                  ]
                : [],
          },
        ],
      };
    });
    // The nodes of a group (`<group>-001`...) run the version it was created with, in full.
    client.on(DescribeCacheClustersCommand).callsFake((input) => {
      this.record('DescribeCacheClusters', input);
      const id = String(input.CacheClusterId);
      const group = this.groups.get(id.replace(/-\d{3}$/, ''));
      if (!group) throw new CacheClusterNotFoundFault({ $metadata, message: `${id} not found` });
      const version = group.input.EngineVersion ?? '7.1';
      const full = version.split('.').length > 2 ? version : `${version}.0`;
      return {
        CacheClusters: [{ CacheClusterId: id, EngineVersion: full, CacheClusterStatus: 'available' }],
      };
    });
    client.on(DescribeEventsCommand).callsFake((input) => {
      this.record('DescribeEvents', input);
      const since = input.StartTime?.getTime() ?? 0;
      return {
        Events: this.events.filter(
          (event) =>
            event.SourceIdentifier === input.SourceIdentifier &&
            event.SourceType === input.SourceType &&
            event.Date.getTime() >= since,
        ),
      };
    });
    // Cluster mode disabled: NewReplicaCount, or (a decrease) the nodes to remove.
    const changeReplicas = (
      command: string,
      input: { ReplicationGroupId?: string; NewReplicaCount?: number; ReplicasToRemove?: string[] },
    ) => {
      const group = this.groups.get(String(input.ReplicationGroupId));
      this.record(command, input, group?.tags);
      if (!group || group.deletingDescribes !== undefined) {
        throw this.groupNotFound(String(input.ReplicationGroupId));
      }
      if (group.shown !== 'available') {
        throw new InvalidReplicationGroupStateFault({
          $metadata,
          message: `Replication group ${group.id} is not in available state`,
        });
      }
      const nodes = group.input.NumCacheClusters ?? 1;
      const wanted = input.NewReplicaCount ?? nodes - 1 - (input.ReplicasToRemove?.length ?? 0);
      if (wanted === 0 && (group.input.MultiAZEnabled || group.input.AutomaticFailoverEnabled)) {
        throw new ElastiCacheServiceException({
          name: 'InvalidParameterCombination',
          $fault: 'client',
          $metadata,
          message: 'Multi-AZ enabled replication group requires at least one replica',
        });
      }
      group.input = { ...group.input, NumCacheClusters: wanted + 1 };
      group.statuses = [...this.replicaScript.statuses];
      return { ReplicationGroup: { ReplicationGroupId: group.id, Status: 'modifying' } };
    };
    client
      .on(IncreaseReplicaCountCommand)
      .callsFake((input) => changeReplicas('IncreaseReplicaCount', input));
    client
      .on(DecreaseReplicaCountCommand)
      .callsFake((input) => changeReplicas('DecreaseReplicaCount', input));
    // Node type, version, Multi-AZ and automatic failover, applied at once (`modifying`, then `available`).
    client.on(ModifyReplicationGroupCommand).callsFake((input) => {
      const group = this.groups.get(String(input.ReplicationGroupId));
      this.record('ModifyReplicationGroup', input, group?.tags);
      if (!group || group.deletingDescribes !== undefined) {
        throw this.groupNotFound(String(input.ReplicationGroupId));
      }
      if (group.shown !== 'available') {
        throw new InvalidReplicationGroupStateFault({
          $metadata,
          message: `Replication group ${group.id} is not in available state`,
        });
      }
      const failover = input.AutomaticFailoverEnabled ?? Boolean(group.input.AutomaticFailoverEnabled);
      const multiAz = input.MultiAZEnabled ?? Boolean(group.input.MultiAZEnabled);
      const refuse = (message: string) =>
        new ElastiCacheServiceException({
          name: 'InvalidParameterCombination',
          $fault: 'client',
          $metadata,
          message,
        });
      if (multiAz && !failover) throw refuse('Multi-AZ requires automatic failover to be enabled');
      if (failover && (group.input.NumCacheClusters ?? 1) < 2) {
        throw refuse('Automatic failover requires at least one read replica');
      }
      if (failover !== Boolean(group.input.AutomaticFailoverEnabled)) {
        group.switching = failover ? 'enabling' : 'disabling';
      }
      group.input = {
        ...group.input,
        ...(input.CacheNodeType ? { CacheNodeType: input.CacheNodeType } : {}),
        ...(input.EngineVersion && this.upgradeOutcome === 'upgraded'
          ? { EngineVersion: input.EngineVersion }
          : {}),
        AutomaticFailoverEnabled: failover,
        MultiAZEnabled: multiAz,
      };
      group.statuses = [...this.replicaScript.statuses];
      return { ReplicationGroup: { ReplicationGroupId: group.id, Status: 'modifying' } };
    });
    client.on(DeleteReplicationGroupCommand).callsFake((input) => {
      const group = this.groups.get(String(input.ReplicationGroupId));
      this.record('DeleteReplicationGroup', input, group?.tags);
      if (!group) throw this.groupNotFound(String(input.ReplicationGroupId));
      group.deletingDescribes ??= this.deletingDescribes;
      return {};
    });
  }

  private userGroupInUse(id: string): boolean {
    return [...this.groups.values()].some((group) => group.input.UserGroupIds?.includes(id));
  }

  private installUsers(): void {
    const { client } = this;
    client.on(CreateUserCommand).callsFake((input) => {
      this.record('CreateUser', input);
      const id = String(input.UserId);
      if (this.users.has(id)) throw new UserAlreadyExistsFault({ $metadata, message: 'exists' });
      this.users.set(id, {
        userName: String(input.UserName),
        tags: input.Tags ?? [],
        passwords: input.AuthenticationMode?.Passwords ?? [],
      });
      return { UserId: id };
    });
    client.on(ModifyUserCommand).callsFake((input) => {
      const id = String(input.UserId);
      const user = this.users.get(id);
      this.record('ModifyUser', input, user?.tags);
      if (!user) throw new UserNotFoundFault({ $metadata, message: 'not found' });
      if (user.modifying) throw new InvalidUserStateFault({ $metadata, message: `User ${id} is modifying` });
      if (!input.Passwords?.length || input.Passwords.length > 2)
        throw new InvalidParameterValueException({ $metadata, message: 'One or two passwords' });
      user.modifying = { passwords: [...input.Passwords], describes: this.modifyingDescribes };
      return { UserId: id, Status: 'modifying' };
    });
    client.on(DescribeUsersCommand).callsFake((input) => {
      this.record('DescribeUsers', input);
      if (input.UserId === undefined) {
        return {
          Users: [...this.users.entries()].map(([id, user]) => ({
            UserId: id,
            UserName: user.userName,
            Status: 'active',
            ARN: `${ARN}:user:${id}`,
          })),
        };
      }
      const user = this.users.get(String(input.UserId));
      if (!user) throw new UserNotFoundFault({ $metadata, message: 'not found' });
      if (user.modifying && user.modifying.describes-- <= 0) {
        user.passwords = user.modifying.passwords;
        user.modifying = undefined;
      }
      return {
        Users: [
          {
            UserId: input.UserId,
            UserName: user.userName,
            Status: user.modifying ? 'modifying' : 'active',
            Authentication: { Type: 'password', PasswordCount: user.passwords?.length ?? 0 },
          },
        ],
      };
    });
    client.on(CreateUserGroupCommand).callsFake((input) => {
      this.record('CreateUserGroup', input);
      const id = String(input.UserGroupId);
      if (this.userGroups.has(id)) throw new UserGroupAlreadyExistsFault({ $metadata, message: 'exists' });
      this.userGroups.set(id, { userIds: input.UserIds ?? [], tags: input.Tags ?? [], deleting: false });
      return { UserGroupId: id };
    });
    client.on(DescribeUserGroupsCommand).callsFake((input) => {
      this.record('DescribeUserGroups', input);
      if (input.UserGroupId === undefined) {
        return {
          UserGroups: [...this.userGroups.entries()].map(([id, group]) => ({
            UserGroupId: id,
            Status: group.deleting ? 'deleting' : 'active',
            UserIds: group.userIds,
            ARN: `${ARN}:usergroup:${id}`,
            ReplicationGroups: [...this.groups.values()]
              .filter((other) => other.input.UserGroupIds?.includes(id))
              .map((other) => other.id),
          })),
        };
      }
      const id = String(input.UserGroupId);
      const group = this.userGroups.get(id);
      if (!group) throw new UserGroupNotFoundFault({ $metadata, message: `User group ${id} not found` });
      if (group.deleting) {
        // Gone at the next look.
        this.userGroups.delete(id);
        return { UserGroups: [{ UserGroupId: id, Status: 'deleting', ARN: `${ARN}:usergroup:${id}` }] };
      }
      return {
        UserGroups: [
          { UserGroupId: id, Status: 'active', UserIds: group.userIds, ARN: `${ARN}:usergroup:${id}` },
        ],
      };
    });
    client.on(DeleteUserGroupCommand).callsFake((input) => {
      const id = String(input.UserGroupId);
      const group = this.userGroups.get(id);
      this.record('DeleteUserGroup', input, group?.tags);
      if (!group) throw new UserGroupNotFoundFault({ $metadata, message: 'not found' });
      if (this.userGroupInUse(id)) throw new InvalidUserGroupStateFault({ $metadata, message: 'in use' });
      group.deleting = true;
      return {};
    });
    client.on(DeleteUserCommand).callsFake((input) => {
      const id = String(input.UserId);
      const user = this.users.get(id);
      this.record('DeleteUser', input, user?.tags);
      if (!user) throw new UserNotFoundFault({ $metadata, message: 'not found' });
      if (
        user.userName === 'default' &&
        [...this.userGroups.values()].some((group) => group.userIds.includes(id))
      ) {
        throw new DefaultUserAssociatedToUserGroupFault({ $metadata, message: 'default user in a group' });
      }
      // ElastiCache removes a deleted user from its user groups.
      for (const group of this.userGroups.values())
        group.userIds = group.userIds.filter((other) => other !== id);
      this.users.delete(id);
      return {};
    });
    client.on(ListTagsForResourceCommand).callsFake((input) => {
      this.record('ListTagsForResource', input);
      return { TagList: structuredClone(this.tagsOf(String(input.ResourceName)) ?? []) };
    });
    client.on(AddTagsToResourceCommand).callsFake((input) => {
      const tags = this.tagsOf(String(input.ResourceName));
      this.record('AddTagsToResource', input, tags);
      if (!tags) throw new UserGroupNotFoundFault({ $metadata, message: 'not found' });
      for (const tag of input.Tags ?? []) {
        const existing = tags.find((t) => t.Key === tag.Key);
        if (existing) existing.Value = tag.Value;
        else tags.push({ ...tag });
      }
      return { TagList: tags };
    });
  }

  /** The live tag list of the resource an ARN names. */
  private tagsOf(arn: string): Tag[] | undefined {
    const [, , , , , type, name] = arn.split(':');
    if (type === 'usergroup') return this.userGroups.get(String(name))?.tags;
    if (type === 'snapshot') return this.snapshots.get(String(name))?.tags;
    if (type === 'replicationgroup') return this.groups.get(String(name))?.tags;
    if (type === 'user') return this.users.get(String(name))?.tags;
    return undefined;
  }

  private installSnapshots(): void {
    const { client } = this;
    client.on(CreateSnapshotCommand).callsFake((input) => {
      const group = this.groups.get(String(input.ReplicationGroupId));
      this.record('CreateSnapshot', input, group?.tags);
      if (!group) throw this.groupNotFound(String(input.ReplicationGroupId));
      const name = String(input.SnapshotName);
      if (this.snapshots.has(name)) throw new SnapshotAlreadyExistsFault({ $metadata, message: 'exists' });
      this.snapshots.set(name, {
        name,
        groupId: group.id,
        engineVersion: `${group.input.EngineVersion ?? '7.1'}.0`,
        tags: input.Tags ?? [],
        statuses: [...this.snapshotScript.statuses],
        createdAt: this.clock(),
      });
      return { Snapshot: { SnapshotName: name, SnapshotStatus: 'creating' } };
    });
    client.on(DescribeSnapshotsCommand).callsFake((input) => {
      this.record('DescribeSnapshots', input);
      if (input.SnapshotName === undefined) {
        return {
          Snapshots: [...this.snapshots.values()].map((snapshot) => ({
            SnapshotName: snapshot.name,
            ReplicationGroupId: snapshot.groupId,
            SnapshotSource: 'manual',
            SnapshotStatus: snapshot.statuses[0],
            ARN: `${ARN}:snapshot:${snapshot.name}`,
            NodeSnapshots: [
              { CacheClusterId: `${snapshot.groupId}-001`, SnapshotCreateTime: snapshot.createdAt },
            ],
          })),
        };
      }
      const snapshot = this.snapshots.get(String(input.SnapshotName));
      if (!snapshot) throw new SnapshotNotFoundFault({ $metadata, message: 'not found' });
      return {
        Snapshots: [
          {
            SnapshotName: snapshot.name,
            ReplicationGroupId: snapshot.groupId,
            SnapshotStatus: next(snapshot.statuses),
            EngineVersion: snapshot.engineVersion,
            ARN: `${ARN}:snapshot:${snapshot.name}`,
          },
        ],
      };
    });
    client.on(DeleteSnapshotCommand).callsFake((input) => {
      const snapshot = this.snapshots.get(String(input.SnapshotName));
      this.record('DeleteSnapshot', input, snapshot?.tags);
      if (!this.snapshots.delete(String(input.SnapshotName))) {
        throw new SnapshotNotFoundFault({ $metadata, message: 'not found' });
      }
      return {};
    });
  }

  /** CopySnapshot to a bucket: `exporting` once, then the object `<name>-0001.rdb` is there. */
  private installExports(): void {
    this.client.on(CopySnapshotCommand).callsFake((input) => {
      const snapshot = this.snapshots.get(String(input.SourceSnapshotName));
      this.record('CopySnapshot', input, snapshot?.tags);
      if (!snapshot) throw new SnapshotNotFoundFault({ $metadata, message: 'not found' });
      snapshot.statuses = ['exporting', 'available'];
      this.aws.objects.set(
        `${input.TargetBucket}/${input.TargetSnapshotName}-0001.rdb`,
        this.rdb.toString('latin1'),
      );
      return {};
    });
    this.aws.s3.on(ListObjectsV2Command).callsFake((input) => {
      this.aws.calls.push({ service: 's3', command: 'ListObjectsV2', input: structuredClone(input) });
      const prefix = `${input.Bucket}/${input.Prefix ?? ''}`;
      // The object appears once the snapshot has left `exporting` (ElastiCache finishes first).
      const exporting = [...this.snapshots.values()].some((snapshot) => snapshot.statuses[0] === 'exporting');
      const contents = exporting
        ? []
        : [...this.aws.objects.entries()]
            .filter(([key]) => key.startsWith(prefix))
            .map(([key, body]) => ({
              Key: key.slice(String(input.Bucket).length + 1),
              Size: Buffer.byteLength(body, 'latin1'),
            }));
      return { Contents: contents, KeyCount: contents.length };
    });
    // A server-side copy (an import's RDB into the export bucket).
    this.aws.s3.on(CopyObjectCommand).callsFake((input) => {
      this.aws.calls.push({ service: 's3', command: 'CopyObject', input: structuredClone(input) });
      const error = this.aws.failNext.get('CopyObject')?.shift();
      if (error) throw error;
      const source = decodeURIComponent(String(input.CopySource));
      const body = this.aws.objects.get(source);
      if (body === undefined)
        throw new NoSuchKey({ $metadata, message: 'The specified key does not exist.' });
      this.aws.objects.set(`${input.Bucket}/${input.Key}`, body);
      return { CopyObjectResult: {} };
    });
    // Multipart copies: parts are byte ranges of the source, joined in part order at completion.
    const uploads = new Map<string, Map<number, string>>();
    this.aws.s3.on(CreateMultipartUploadCommand).callsFake((input) => {
      this.aws.calls.push({ service: 's3', command: 'CreateMultipartUpload', input: structuredClone(input) });
      const id = `upload-${uploads.size + 1}`;
      uploads.set(id, new Map());
      return { UploadId: id, Bucket: input.Bucket, Key: input.Key };
    });
    this.aws.s3.on(UploadPartCopyCommand).callsFake((input) => {
      this.aws.calls.push({ service: 's3', command: 'UploadPartCopy', input: structuredClone(input) });
      const body = this.aws.objects.get(decodeURIComponent(String(input.CopySource)));
      if (body === undefined)
        throw new NoSuchKey({ $metadata, message: 'The specified key does not exist.' });
      const [start, end] = String(input.CopySourceRange).replace('bytes=', '').split('-').map(Number);
      uploads.get(String(input.UploadId))?.set(Number(input.PartNumber), body.slice(start, Number(end) + 1));
      return { CopyPartResult: { ETag: `"etag-${input.PartNumber}"` } };
    });
    this.aws.s3.on(CompleteMultipartUploadCommand).callsFake((input) => {
      this.aws.calls.push({
        service: 's3',
        command: 'CompleteMultipartUpload',
        input: structuredClone(input),
      });
      const parts = uploads.get(String(input.UploadId));
      const body = (input.MultipartUpload?.Parts ?? []).map(
        (part: { PartNumber?: number }) => parts?.get(Number(part.PartNumber)) ?? '',
      );
      this.aws.objects.set(`${input.Bucket}/${input.Key}`, body.join(''));
      uploads.delete(String(input.UploadId));
      return {};
    });
    this.aws.s3.on(GetObjectCommand).callsFake((input) => {
      this.aws.calls.push({ service: 's3', command: 'GetObject', input: structuredClone(input) });
      const body = this.aws.objects.get(`${input.Bucket}/${input.Key}`);
      if (body === undefined)
        throw new NoSuchKey({ $metadata, message: 'The specified key does not exist.' });
      const stream = Readable.from([Buffer.from(body, 'latin1')]);
      return { Body: Object.assign(stream, { transformToString: async () => body }) as never };
    });
  }
}
