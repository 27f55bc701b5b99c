import {
  DecreaseReplicaCountCommand,
  DescribeReplicationGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeUserGroupsCommand,
  DescribeUsersCommand,
  type ElastiCacheClient,
  ListTagsForResourceCommand,
  type ReplicationGroup,
  type Tag,
} from '@aws-sdk/client-elasticache';
import { ProviderError, TransientError } from '../../../errors.ts';
import { resourceIdFor } from '../../../ports/engine-provider.ts';
import type { Leftover, LeftoverSource } from '../../../ports/reconciler.ts';
import { isAwsError, toPlatformError, transientErrors } from '../aws-errors.ts';
import { TAG_KEYS } from '../tags.ts';
import { type ElastiCacheSend, ReplicationGroups } from './elasticache-groups.ts';
import { baseIdOf, customerUserIdOf, restoredGroupIdOf, userGroupIdOf } from './names.ts';
import { keepsOneReplica, replicaCountOf, replicaNodesOf } from './redis-replicas.ts';
import { deleteRedisSnapshot } from './redis-snapshots.ts';
import { type Pointer, RedisUsers } from './redis-users.ts';

/*
 * ElastiCache leftovers of Redis addons (the reconciler's hourly sweep). ElastiCache's Describe*
 * calls return no tags and filter by none, so every `addon-...` resource is listed and its tags
 * read (ListTagsForResource); only what carries this deployment's `addons:deployment` tag is a
 * leftover candidate. Every id is derived from the addon's resource id (`names.ts`), and the
 * addon's resource id from its id (`resourceIdFor`), so a resource is tied to its addon only when
 * its `addons:addon` tag and its id agree: anything else (the deployment's disabled `default`
 * user, made by CDK with no addon tag) is never listed.
 */

/** Snapshot backups: `<resource id>-<backup id>` (BackupService.create). */
const SNAPSHOT = /^(addon-[0-9a-z]+)-(bkp-[0-9a-z]+)$/;
/** A restore's replication group: the addon's base id, `-r` and 8 hex (`restoredGroupIdOf`). */
const RESTORED = /^(.+)-r[0-9a-f]{8}$/;

const tagOf = (tags: Tag[], key: string) => tags.find((tag) => tag.Key === key)?.Value;

/** Tags of one resource; none when it went meanwhile. */
const tagsOf = async (elasticache: ElastiCacheSend, arn: string | undefined): Promise<Tag[]> => {
  if (!arn) return [];
  try {
    return (await elasticache(new ListTagsForResourceCommand({ ResourceName: arn }))).TagList ?? [];
  } catch (error) {
    if (
      isAwsError(error, 'ReplicationGroupNotFound', 'UserGroupNotFound', 'UserNotFound', 'SnapshotNotFound')
    ) {
      return [];
    }
    throw toPlatformError(error, `reading the tags of ${arn}`);
  }
};

/** The addon a resource of this deployment belongs to, from its tags; undefined when not ours. */
const addonOf = (tags: Tag[], deployment: string): string | undefined =>
  tagOf(tags, TAG_KEYS.deployment) === deployment ? tagOf(tags, TAG_KEYS.addon) : undefined;

/** The resource id of the addon a listed leftover belongs to (every one listed here has one). */
const resourceIdOf = (leftover: Leftover): string => {
  if (leftover.owner.kind === 'schedule' || leftover.owner.kind === 'alert-rule')
    throw new Error(`${leftover.id} belongs to no addon`);
  return resourceIdFor(leftover.owner.addonId);
};

/** Every page of a Describe* call. */
const allPages = async <T>(
  page: (marker: string | undefined) => Promise<{ items: T[] | undefined; marker: string | undefined }>,
): Promise<T[]> => {
  const found: T[] = [];
  let marker: string | undefined;
  do {
    const result = await page(marker);
    found.push(...(result.items ?? []));
    marker = result.marker;
  } while (marker);
  return found;
};

/** Options shared by the ElastiCache sources. */
export interface ElastiCacheLeftoverProps {
  elasticache: ElastiCacheClient;
  /** Value of the `addons:deployment` tag. */
  deployment: string;
}

/**
 * Replication groups of this deployment's Redis addons. The one the addon's pointer names
 * (`RedisUsers.pointer`) is the addon's: a leftover once the addon is gone. Any other (a
 * restore's new group never switched to, or the group a restore replaced and did not delete)
 * is a restore copy: kept while the restore that made it (or that made the current group) is
 * the addon's current operation, and reported rather than removed when the addon's current
 * group is missing. Removal deletes without a final snapshot, like the delete workflow, and
 * first reads the pointer again: a restore that switched since the listing made the group the
 * addon's, and it stays.
 */
export class ElastiCacheGroupLeftovers implements LeftoverSource {
  readonly name = 'ElastiCache replication groups';
  private readonly elasticache: ElastiCacheSend;
  private readonly groups: ReplicationGroups;
  /** Only reads pointers and deletes: never needs the `default` user's id. */
  private readonly users: RedisUsers;

  constructor(private readonly props: ElastiCacheLeftoverProps) {
    this.elasticache = transientErrors(props.elasticache, 'ElastiCache');
    this.groups = new ReplicationGroups(this.elasticache);
    this.users = new RedisUsers(this.elasticache, '');
  }

  private async ours(): Promise<Array<{ group: ReplicationGroup; addonId: string }>> {
    const groups = await allPages(async (marker) => {
      const page = await this.elasticache(new DescribeReplicationGroupsCommand({ Marker: marker }));
      return { items: page.ReplicationGroups, marker: page.Marker };
    });
    const found: Array<{ group: ReplicationGroup; addonId: string }> = [];
    for (const group of groups) {
      const id = group.ReplicationGroupId ?? '';
      if (!id.startsWith('addon-') || group.Status === 'deleting') continue;
      const addonId = addonOf(await tagsOf(this.elasticache, group.ARN), this.props.deployment);
      if (!addonId) continue;
      const base = baseIdOf(resourceIdFor(addonId));
      if (id !== base && RESTORED.exec(id)?.[1] !== base) continue;
      found.push({ group, addonId });
    }
    return found;
  }

  async list(): Promise<Leftover[]> {
    const groups = await this.ours();
    const ids = new Set(groups.map(({ group }) => group.ReplicationGroupId));
    const pointers = new Map<string, Pointer>();
    const found: Leftover[] = [];
    for (const { group, addonId } of groups) {
      const id = group.ReplicationGroupId as string;
      const resourceId = resourceIdFor(addonId);
      let pointer = pointers.get(addonId);
      if (!pointer) {
        pointer = await this.users.pointer(resourceId);
        pointers.set(addonId, pointer);
      }
      // Being created: no time yet, so young.
      const createdAt = group.ReplicationGroupCreateTime ?? new Date();
      if (id === pointer.current) {
        found.push({ kind: 'cache-group', id, createdAt, owner: { kind: 'addon', addonId } });
        // Its replica nodes, numbered 1..n: those above the addon's count when no operation runs
        // (a removal whose compensation kept failing) go (`remove`).
        for (const [index, node] of replicaNodesOf(group).entries()) {
          found.push({
            kind: 'cache-node',
            id: node,
            createdAt,
            owner: { kind: 'replica', addonId, number: index + 1 },
          });
        }
        continue;
      }
      const current = pointer.current;
      const retired = id === pointer.previous;
      found.push({
        kind: 'cache-group',
        id,
        createdAt,
        owner: {
          kind: 'restore-copy',
          addonId,
          isCopyFor: (operationId) => {
            const made = restoredGroupIdOf(resourceId, operationId);
            return made === id || (retired && made === current);
          },
          primaryPresent: ids.has(current),
        },
      });
    }
    return found;
  }

  async remove(leftover: Leftover): Promise<void> {
    if (leftover.kind === 'cache-node') return this.removeNode(leftover.id);
    const resourceId = resourceIdOf(leftover);
    if (leftover.owner.kind === 'restore-copy') {
      const pointer = await this.users.pointer(resourceId);
      if (pointer.current === leftover.id) {
        throw new ProviderError(
          `Replication group ${leftover.id} is now the addon's current group (a restore switched to it): kept`,
          'Conflict',
        );
      }
    }
    const group = await this.groups.find(leftover.id);
    if (group && !(await this.groups.delete(group))) {
      throw new TransientError(
        `ElastiCache does not let leftover replication group ${leftover.id} be deleted yet (${group.Status})`,
      );
    }
  }

  /**
   * One replica node out of its group (DecreaseReplicaCount naming it). Nothing to do once the
   * group is gone or being deleted (its addon's removal); refused while ElastiCache is busy with it.
   */
  private async removeNode(nodeId: string): Promise<void> {
    const groupId = nodeId.replace(/-\d{3}$/, '');
    const group = await this.groups.find(groupId);
    if (!group || group.Status === 'deleting' || !group.MemberClusters?.includes(nodeId)) return;
    if (keepsOneReplica(group) && replicaCountOf(group) <= 1) {
      throw new ProviderError(
        `Replica node ${nodeId} is kept: ElastiCache keeps at least 1 replica in a Multi-AZ group`,
        'Conflict',
      );
    }
    try {
      await this.elasticache(
        new DecreaseReplicaCountCommand({
          ReplicationGroupId: groupId,
          ReplicasToRemove: [nodeId],
          ApplyImmediately: true,
        }),
      );
    } catch (error) {
      throw toPlatformError(error, `removing leftover replica node ${nodeId}`);
    }
  }
}

/**
 * The RBAC user group and user of this deployment's Redis addons (one each per addon). Removal
 * is the provider's teardown (`RedisUsers.delete`): the user group, then the user. ElastiCache
 * refuses a user group while a replication group still uses it, so an addon whose user group is
 * in use is not listed at all: its groups go first (`ElastiCacheGroupLeftovers`, judged by age
 * and owner), its users in a later run. Neither tells its creation time; both are created after
 * the addon's record, and before its first replication group, which then protects them.
 */
export class ElastiCacheUserLeftovers implements LeftoverSource {
  readonly name = 'ElastiCache users and user groups';
  private readonly elasticache: ElastiCacheSend;
  private readonly users: RedisUsers;

  constructor(private readonly props: ElastiCacheLeftoverProps) {
    this.elasticache = transientErrors(props.elasticache, 'ElastiCache');
    this.users = new RedisUsers(this.elasticache, '');
  }

  async list(): Promise<Leftover[]> {
    const found: Leftover[] = [];
    const userGroups = await allPages(async (marker) => {
      const page = await this.elasticache(new DescribeUserGroupsCommand({ Marker: marker }));
      return { items: page.UserGroups, marker: page.Marker };
    });
    /** Addons whose user group a replication group still uses: theirs to go first. */
    const inUse = new Set<string>();
    for (const userGroup of userGroups) {
      const id = userGroup.UserGroupId ?? '';
      if (!id.startsWith('addon-') || userGroup.Status === 'deleting') continue;
      const addonId = addonOf(await tagsOf(this.elasticache, userGroup.ARN), this.props.deployment);
      if (!addonId || userGroupIdOf(resourceIdFor(addonId)) !== id) continue;
      if ((userGroup.ReplicationGroups?.length ?? 0) > 0) {
        inUse.add(addonId);
        continue;
      }
      found.push({ kind: 'cache-user-group', id, owner: { kind: 'addon', addonId } });
    }
    const users = await allPages(async (marker) => {
      const page = await this.elasticache(new DescribeUsersCommand({ Engine: 'redis', Marker: marker }));
      return { items: page.Users, marker: page.Marker };
    });
    for (const user of users) {
      const id = user.UserId ?? '';
      // The deployment's `default` user is every addon's and no addon's.
      if (!id.startsWith('addon-') || user.UserName === 'default' || user.Status === 'deleting') continue;
      const addonId = addonOf(await tagsOf(this.elasticache, user.ARN), this.props.deployment);
      if (!addonId || inUse.has(addonId) || customerUserIdOf(resourceIdFor(addonId)) !== id) continue;
      found.push({ kind: 'cache-user', id, owner: { kind: 'addon', addonId } });
    }
    return found;
  }

  async remove(leftover: Leftover): Promise<void> {
    const resourceId = resourceIdOf(leftover);
    if (await this.users.delete(resourceId)) return;
    // False also when this call started the user group's deletion (or one did before): done
    // once what this leftover names is gone or going.
    const userGroup = await this.users.findUserGroup(resourceId);
    const gone =
      leftover.kind === 'cache-user'
        ? await this.userGone(leftover.id)
        : !userGroup || userGroup.Status === 'deleting';
    if (!gone) {
      throw new TransientError(
        `ElastiCache does not let leftover ${leftover.kind} ${leftover.id} be deleted yet (a replication group still uses the user group, or it is busy)`,
      );
    }
  }

  /** ElastiCache deletes a user asynchronously: `deleting` is as good as gone. */
  private async userGone(userId: string): Promise<boolean> {
    try {
      const result = await this.elasticache(new DescribeUsersCommand({ UserId: userId }));
      const user = result.Users?.[0];
      return !user || user.Status === 'deleting';
    } catch (error) {
      if (isAwsError(error, 'UserNotFound')) return true;
      throw toPlatformError(error, `looking up Redis user ${userId}`);
    }
  }
}

/** Manual snapshots of this deployment named after a backup (`SnapshotSource: user`). */
export class ElastiCacheSnapshotLeftovers implements LeftoverSource {
  readonly name = 'ElastiCache snapshots';
  private readonly elasticache: ElastiCacheSend;

  constructor(private readonly props: ElastiCacheLeftoverProps) {
    this.elasticache = transientErrors(props.elasticache, 'ElastiCache');
  }

  async list(): Promise<Leftover[]> {
    const snapshots = await allPages(async (marker) => {
      const page = await this.elasticache(
        new DescribeSnapshotsCommand({ SnapshotSource: 'user', Marker: marker }),
      );
      return { items: page.Snapshots, marker: page.Marker };
    });
    const found: Leftover[] = [];
    for (const snapshot of snapshots) {
      const match = SNAPSHOT.exec(snapshot.SnapshotName ?? '');
      if (!match?.[1] || !match[2] || snapshot.SnapshotStatus === 'deleting') continue;
      const tags = await tagsOf(this.elasticache, snapshot.ARN);
      if (tagOf(tags, TAG_KEYS.deployment) !== this.props.deployment) continue;
      found.push({
        kind: 'db-snapshot',
        id: snapshot.SnapshotName as string,
        // A snapshot being created has no time yet: young, so only an ended backup removes it.
        createdAt: snapshot.NodeSnapshots?.[0]?.SnapshotCreateTime ?? new Date(),
        owner: { kind: 'backup', addonId: `adn-${match[1].slice('addon-'.length)}`, backupId: match[2] },
      });
    }
    return found;
  }

  remove(leftover: Leftover): Promise<void> {
    return deleteRedisSnapshot(this.elasticache, leftover.id);
  }
}
