import type { ReplicationGroup } from '@aws-sdk/client-elasticache';
import { ProviderError } from '../../../errors.ts';
import type { RestoreState } from '../../../ports/engine-provider.ts';
import { TAG_KEYS } from '../tags.ts';
import { groupStateOf, primaryEndpointOf, type ReplicationGroups } from './elasticache-groups.ts';
import { restoredGroupIdOf } from './names.ts';
import type { GroupSeed } from './redis-imports.ts';
import type { Pointer, RedisUsers } from './redis-users.ts';

export interface RedisRestoreProps {
  groups: ReplicationGroups;
  users: RedisUsers;
  /** The deployment's cache subnet group, when the addon's group does not name one. */
  subnetGroupName: string;
  kmsKeyId: string;
  /** The addon's own security group (`AddonSecurityGroups`), found by its resource id. */
  securityGroupOf(resourceId: string): Promise<string | undefined>;
  /**
   * What the new group is seeded with: the ElastiCache snapshot (on the version it was taken on,
   * not ElastiCache's default), or the RDB file an import copied to S3 (`RedisImports`).
   */
  seedOf(snapshotId: string, current: ReplicationGroup): Promise<GroupSeed>;
}

/*
 * Restoring a snapshot. ElastiCache neither restores into an existing replication group nor
 * renames one, so a restore creates a new group from the snapshot and moves the addon onto it:
 *
 *   1. start: CreateReplicationGroup with `SnapshotName` (or, for an imported RDB file,
 *      `SnapshotArns`: `RedisImports`), id `restoredGroupIdOf(resourceId,
 *      restoreId)` (deterministic: a retried call finds it), the settings of the addon's current
 *      group (node type, number of nodes, failover), its security group, the shared subnet
 *      group and user group (same users and passwords), tagged `addons:restore=<restore id>`.
 *   2. describe, new group available: switch the pointer on the user group (one tagging call:
 *      current = new, previous = old). From here the addon answers on the new group.
 *   3. describe, switched: delete the previous group and report `available` with the new
 *      endpoint; the workflow rewrites the connection details (the host changes).
 *
 * Before the switch a failure deletes the new group: the addon keeps its data. After it there is
 * no way back, and none is needed: the new group is healthy and the old one only goes.
 */
export class RedisRestore {
  constructor(private readonly props: RedisRestoreProps) {}

  async start(resourceId: string, snapshotId: string, restoreId: string): Promise<void> {
    const { groups, users } = this.props;
    const target = restoredGroupIdOf(resourceId, restoreId);
    const pointer = await users.pointer(resourceId);
    // A retried call: the restore already switched, or already started.
    if (pointer.current === target || (await groups.find(target))) return;
    const current = await groups.find(pointer.current);
    if (!current || !pointer.userGroup?.UserGroupId) {
      throw new ProviderError(`The addon's replication group ${pointer.current} does not exist`, 'NotFound');
    }
    const securityGroup = await this.props.securityGroupOf(resourceId);
    const seed = await this.props.seedOf(snapshotId, current);
    const nodes = Math.max(1, current.MemberClusters?.length ?? 1);
    const failover = current.AutomaticFailover === 'enabled' || current.AutomaticFailover === 'enabling';
    await groups.create(
      {
        ReplicationGroupId: target,
        ReplicationGroupDescription: `Restore ${restoreId} of ${resourceId}`.slice(0, 255),
        ...seed,
        Engine: 'redis',
        CacheNodeType: current.CacheNodeType,
        NumCacheClusters: nodes,
        AutomaticFailoverEnabled: failover,
        MultiAZEnabled: current.MultiAZ === 'enabled',
        CacheSubnetGroupName: this.props.subnetGroupName,
        ...(securityGroup ? { SecurityGroupIds: [securityGroup] } : {}),
        AtRestEncryptionEnabled: true,
        KmsKeyId: this.props.kmsKeyId,
        TransitEncryptionEnabled: true,
        UserGroupIds: [pointer.userGroup.UserGroupId],
        AutoMinorVersionUpgrade: true,
        Tags: [...pointer.addonTags, { Key: TAG_KEYS.restore, Value: restoreId }],
      },
      'restoring the snapshot into a new replication group',
    );
  }

  async describe(resourceId: string, restoreId: string): Promise<RestoreState> {
    const { groups, users } = this.props;
    const target = restoredGroupIdOf(resourceId, restoreId);
    const pointer = await users.pointer(resourceId);
    const restored = await groups.find(target);
    if (pointer.current === target) {
      // Step 3: switched; the previous group goes (ElastiCache may refuse while it is busy).
      const endpoint = restored ? primaryEndpointOf(restored) : undefined;
      if (!restored || !endpoint) return { status: 'restoring' };
      if (!(await this.deletePrevious(pointer))) return { status: 'restoring' };
      return { status: 'available', endpoint };
    }
    if (!restored) {
      return {
        status: 'failed',
        reason: `The replication group restored from the snapshot (${target}) is gone; the addon keeps its data as it was`,
      };
    }
    const state = groupStateOf(restored);
    if (state.status === 'failed' || state.status === 'deleting') {
      await groups.delete(restored);
      return {
        status: 'failed',
        reason: `${state.status === 'failed' ? state.reason : `ElastiCache is deleting ${target}`}; the addon keeps its data as it was`,
      };
    }
    if (state.status !== 'available' || restored.Status !== 'available') return { status: 'restoring' };
    // Step 2, then step 3 at once.
    await users.switchTo(pointer, target);
    const switched: Pointer = { ...pointer, current: target, previous: pointer.current };
    if (!(await this.deletePrevious(switched))) return { status: 'restoring' };
    return { status: 'available', endpoint: state.endpoint };
  }

  /**
   * The workflow gave up. Before the switch: delete the new group, the addon keeps its group and
   * data. After it: the addon already answers on the snapshot's data; finish and say so.
   */
  async discard(resourceId: string, restoreId: string): Promise<'discarded' | 'completed'> {
    const { groups, users } = this.props;
    const target = restoredGroupIdOf(resourceId, restoreId);
    const pointer = await users.pointer(resourceId);
    if (pointer.current === target) {
      await this.deletePrevious(pointer);
      return 'completed';
    }
    const restored = await groups.find(target);
    if (restored) await groups.delete(restored);
    return 'discarded';
  }

  /** True once the group the restore replaced is gone or going. */
  private async deletePrevious(pointer: Pointer): Promise<boolean> {
    if (!pointer.previous || pointer.previous === pointer.current) return true;
    const previous: ReplicationGroup | undefined = await this.props.groups.find(pointer.previous);
    return previous ? this.props.groups.delete(previous) : true;
  }
}
