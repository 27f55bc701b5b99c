import { ModifyReplicationGroupCommand } from '@aws-sdk/client-elasticache';
import { ProviderError, TransientError } from '../../../errors.ts';
import type { UpgradeSpec, UpgradeState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import {
  type ElastiCacheSend,
  groupStateOf,
  nodeOf,
  nodeVersionOf,
  type ReplicationGroups,
} from './elasticache-groups.ts';

/** Whether ElastiCache's full version ("7.1.0") is of the catalog version ("7.1"). */
const runs = (actual: string | undefined, version: string): boolean =>
  actual === version || Boolean(actual?.startsWith(`${version}.`));

/**
 * Engine upgrades of the addon's current replication group in place: ModifyReplicationGroup with
 * the new EngineVersion, applied at once. ElastiCache upgrades every node (replicas first) and
 * keeps the endpoints. Redis 7.0 and 7.1 share the parameter group family (redis7) whose default
 * group the deployment's groups use, so no parameter group changes. Idempotent: a group on the new
 * version, or being modified (the request went through), is not asked again.
 */
export const upgradeReplicationGroup = async (
  elasticache: ElastiCacheSend,
  groups: ReplicationGroups,
  id: string,
  upgrade: UpgradeSpec,
): Promise<void> => {
  const group = await groups.find(id);
  if (!group) throw new ProviderError(`The replication group ${id} does not exist`, 'NotFound');
  if (group.Status === 'modifying' || runs(await nodeVersionOf(elasticache, group), upgrade.version)) return;
  try {
    await elasticache(
      new ModifyReplicationGroupCommand({
        ReplicationGroupId: id,
        EngineVersion: upgrade.version,
        ApplyImmediately: true,
      }),
    );
  } catch (error) {
    if (isAwsError(error, 'InvalidReplicationGroupState')) {
      throw new TransientError(`Replication group ${id} is busy; upgrading it later`, { cause: error });
    }
    throw toPlatformError(error, `upgrading replication group ${id} to ${upgrade.version}`);
  }
};

/** Done once the group is `available` and its nodes run the new version. */
export const describeReplicationGroupUpgrade = async (
  elasticache: ElastiCacheSend,
  groups: ReplicationGroups,
  id: string,
  upgrade: UpgradeSpec,
): Promise<UpgradeState> => {
  const group = await groups.find(id);
  if (!group) return { status: 'failed', reason: `The replication group ${id} does not exist` };
  const state = groupStateOf(group);
  if (state.status === 'failed') return state;
  if (group.Status !== 'available' || state.status !== 'available') return { status: 'upgrading' };
  const node = await nodeOf(elasticache, group);
  if (runs(node?.EngineVersion, upgrade.version)) return { status: 'available', endpoint: state.endpoint };
  // Just asked: the group can still read `available` while its node holds the change as pending.
  if (node?.PendingModifiedValues?.EngineVersion || node?.CacheClusterStatus !== 'available') {
    return { status: 'upgrading' };
  }
  return { status: 'failed', reason: `ElastiCache left replication group ${id} on ${node?.EngineVersion}` };
};
