import {
  CreateDBInstanceCommand,
  type DBCluster,
  type DBInstance,
  DeleteDBInstanceCommand,
} from '@aws-sdk/client-docdb';
import { ProviderError } from '../../../errors.ts';
import type { ReplicaProvider, ReplicaSetState } from '../../../ports/replica-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import { TAG_KEYS } from '../tags.ts';
import {
  clusterStateOf,
  DELETING_STATUSES,
  DOCDB_PORT,
  type DocdbClusters,
  type DocdbSend,
  nodeIdentifiers,
} from './docdb-clusters.ts';

/** Nodes a cluster may have: the writer and DocumentDB's 15 readers. */
const MAX_NODES = 16;

/** The number a node identifier ends with (`<cluster>-<n>`), or Infinity for another name. */
const nodeNumberOf = (id: string): number => Number(/-(\d+)$/.exec(id)?.[1] ?? Number.POSITIVE_INFINITY);

/** The cluster's writer: the member DocumentDB flags, else (not flagged yet) the first node. */
const writerOf = (cluster: DBCluster): string | undefined =>
  (cluster.DBClusterMembers ?? []).find((member) => member.IsClusterWriter)?.DBInstanceIdentifier;

/**
 * The cluster's readers (every instance but the writer), lowest node number first: what a change
 * counts, the leftovers sweep numbers 1..n, and a scale-down removes from the end. After a
 * failover the writer may be any node; it is never one of them.
 */
export const readersOf = (cluster: DBCluster, instances: DBInstance[]): DBInstance[] => {
  const writer =
    writerOf(cluster) ??
    [...instances].sort(
      (a, b) => nodeNumberOf(a.DBInstanceIdentifier ?? '') - nodeNumberOf(b.DBInstanceIdentifier ?? ''),
    )[0]?.DBInstanceIdentifier;
  return instances
    .filter((instance) => instance.DBInstanceIdentifier !== writer)
    .sort((a, b) => nodeNumberOf(a.DBInstanceIdentifier ?? '') - nodeNumberOf(b.DBInstanceIdentifier ?? ''));
};

const deleting = (instance: DBInstance) => DELETING_STATUSES.has(instance.DBInstanceStatus ?? '');

/**
 * Read replicas of a MongoDB addon: reader instances of its DocumentDB cluster, made the way the
 * create makes them (CreateDBInstance into the cluster, named `<cluster>-<n>` by `nodeIdentifiers`,
 * the lowest free numbers), of the writer's instance class (a plan change resizes every instance),
 * tagged like the cluster; a scale-down deletes the highest-numbered readers (DeleteDBInstance),
 * never the writer. DocumentDB replicates at the storage layer: a reader serves in minutes and
 * the primary keeps serving.
 *
 * What is published is the cluster's reader endpoint, once: DocumentDB spreads its connections
 * over the readers and keeps it pointing at readers after a failover, where an instance's own
 * endpoint may become the writer's. Its URI names `readPreference=secondaryPreferred` (mongodbUri).
 */
export class DocdbReplicas implements ReplicaProvider {
  constructor(
    private readonly docdb: DocdbSend,
    private readonly clusters: DocdbClusters,
  ) {}

  async setReplicaCount(resourceId: string, count: number): Promise<undefined> {
    const cluster = await this.clusters.find(resourceId);
    if (!cluster) {
      if (count === 0) return;
      throw new ProviderError(`The DocumentDB cluster ${resourceId} does not exist`, 'NotFound');
    }
    const instances = await this.clusters.instancesOf(cluster);
    const live = readersOf(cluster, instances).filter((reader) => !deleting(reader));
    for (const reader of live.slice(count)) await this.delete(reader.DBInstanceIdentifier as string);
    const missing = count - live.length;
    if (missing <= 0) return;
    const writer = instances.find((instance) => instance.DBInstanceIdentifier === writerOf(cluster));
    const instanceClass = (writer ?? instances[0])?.DBInstanceClass;
    if (!instanceClass) {
      throw new ProviderError(`The DocumentDB cluster ${resourceId} has no instance to copy`, 'NotFound');
    }
    // The lowest free names: a retried call picks the same ones (and finds them made).
    const taken = new Set(instances.map((instance) => instance.DBInstanceIdentifier));
    const names = nodeIdentifiers(resourceId, MAX_NODES + 8).filter((id) => !taken.has(id));
    const tags = (await this.clusters.tagsOf(cluster)).filter(
      (tag) => tag.Key !== TAG_KEYS.restore && tag.Key?.startsWith('addons:'),
    );
    for (const id of names.slice(0, missing)) {
      try {
        await this.docdb(
          new CreateDBInstanceCommand({
            DBInstanceIdentifier: id,
            DBClusterIdentifier: resourceId,
            DBInstanceClass: instanceClass,
            Engine: 'docdb',
            AutoMinorVersionUpgrade: true,
            Tags: tags,
          }),
        );
      } catch (error) {
        // A retried task: the first attempt got through.
        if (isAwsError(error, 'DBInstanceAlreadyExists')) continue;
        throw toPlatformError(error, `creating reader instance ${id} of DocumentDB cluster ${resourceId}`);
      }
    }
  }

  async describeReplicas(resourceId: string, count: number): Promise<ReplicaSetState> {
    const cluster = await this.clusters.find(resourceId);
    if (!cluster) return { status: 'failed', reason: `The DocumentDB cluster ${resourceId} does not exist` };
    const instances = await this.clusters.instancesOf(cluster);
    const state = clusterStateOf(cluster, instances);
    if (state.status === 'failed') return state;
    if (state.status === 'deleting') {
      return { status: 'failed', reason: `DocumentDB cluster ${resourceId} is being deleted` };
    }
    const readers = readersOf(cluster, instances);
    const ready = readers.filter((reader) => reader.DBInstanceStatus === 'available').length;
    const host = cluster.ReaderEndpoint;
    if (
      state.status === 'available' &&
      readers.length === count &&
      ready === count &&
      (count === 0 || host)
    ) {
      return {
        status: 'available',
        endpoints: count > 0 && host ? [{ host, port: cluster.Port ?? DOCDB_PORT }] : [],
      };
    }
    return { status: 'applying', ready: Math.min(ready, count), wanted: count };
  }

  /** Delete one reader (a scale-down, a compensation, a leftover); gone or going is done. */
  async delete(id: string): Promise<void> {
    try {
      await this.docdb(new DeleteDBInstanceCommand({ DBInstanceIdentifier: id }));
    } catch (error) {
      if (isAwsError(error, 'DBInstanceNotFound')) return;
      throw toPlatformError(error, `deleting reader instance ${id}`);
    }
  }
}
