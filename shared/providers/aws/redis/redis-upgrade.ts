import {
  DescribeEventsCommand,
  ModifyReplicationGroupCommand,
  type SourceType,
} from '@aws-sdk/client-elasticache';
import { ProviderError, TransientError } from '../../../errors.ts';
import type { UpgradeSpec, UpgradeState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import { eventsSaying } from '../upgrade-events.ts';
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

/** The events of the group and of its first node since the upgrade began, oldest first. */
const eventsOf = async (
  elasticache: ElastiCacheSend,
  sources: Array<[SourceType, string]>,
  since: string | undefined,
): Promise<(string | undefined)[]> => {
  const window = since ? { StartTime: new Date(since) } : { Duration: 24 * 60 };
  const pages = await Promise.all(
    sources.map(([SourceType, SourceIdentifier]) =>
      elasticache(new DescribeEventsCommand({ SourceType, SourceIdentifier, ...window })),
    ),
  );
  return pages
    .flatMap((page) => page.Events ?? [])
    .sort((a, b) => (a.Date?.getTime() ?? 0) - (b.Date?.getTime() ?? 0))
    .map((event) => event.Message);
};

/**
 * Done once the group is `available` and its nodes run the new version. A group `available` with
 * its node still on the old version and nothing pending after the upgrade was asked: failed with
 * the words of an event of the group or node that says the upgrade failed, else `unchanged` (the
 * workflow fails it after a few checks in a row: ElastiCache may not show the change at once). A
 * change the node keeps pending is waited on within the workflow's bound, then named.
 */
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
  const pending = node?.PendingModifiedValues?.EngineVersion;
  // Just asked: the group can still read `available` while its node holds the change as pending.
  if (pending || node?.CacheClusterStatus !== 'available') {
    return {
      status: 'upgrading',
      detail: pending
        ? `ElastiCache holds the upgrade of node ${node?.CacheClusterId} to ${pending} as pending; the group is available on ${node?.EngineVersion}`
        : `ElastiCache reports node ${node?.CacheClusterId ?? `of ${id}`} ${node?.CacheClusterStatus ?? 'missing'}`,
    };
  }
  const left = `ElastiCache left replication group ${id} on ${node.EngineVersion}: the upgrade to ${upgrade.version} did not happen`;
  const sources: Array<[SourceType, string]> = [['replication-group', id]];
  if (node.CacheClusterId) sources.push(['cache-cluster', node.CacheClusterId]);
  const event = await eventsSaying(() => eventsOf(elasticache, sources, upgrade.since));
  return event
    ? { status: 'failed', reason: `${left}: ${event}` }
    : { status: 'unchanged', reason: `${left} (no ElastiCache event of the group says why)` };
};
