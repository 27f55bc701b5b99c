import {
  CreateDBClusterCommand,
  type CreateDBClusterCommandInput,
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  DBClusterAlreadyExistsFault,
  DBClusterNotFoundFault,
  DBClusterSnapshotAlreadyExistsFault,
  DBClusterSnapshotNotFoundFault,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DeleteDBClusterCommand,
  DeleteDBClusterSnapshotCommand,
  DeleteDBInstanceCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DocDBClient,
  DocDBServiceException,
  InvalidDBClusterStateFault,
  ListTagsForResourceCommand,
  ModifyDBClusterCommand,
  RestoreDBClusterFromSnapshotCommand,
  type Tag,
} from '@aws-sdk/client-docdb';
import { mockClient } from 'aws-sdk-client-mock';
import type { AwsCall } from '../../infra/support/iam.ts';

const $metadata = { httpStatusCode: 400 };
const ARN_PREFIX = 'arn:aws:rds:eu-west-1:123456789012';
export const clusterArn = (id: string) => `${ARN_PREFIX}:cluster:${id}`;
export const clusterEndpoint = (id: string) => `${id}.cluster-abcdefghijkl.eu-west-1.docdb.amazonaws.com`;
export const readerEndpoint = (id: string) => `${id}.cluster-ro-abcdefghijkl.eu-west-1.docdb.amazonaws.com`;

const tagsOf = (tags: Tag[]): Record<string, string> =>
  Object.fromEntries(tags.map((tag) => [String(tag.Key), String(tag.Value)]));
/** The next status of a script: the first until the last, which repeats. */
const next = (statuses: string[]) => (statuses.length > 1 ? statuses.shift() : statuses[0]) ?? 'creating';

interface FakeCluster {
  id: string;
  /** What it was created or restored with. */
  settings: Partial<CreateDBClusterCommandInput> & { SnapshotIdentifier?: string };
  tags: Tag[];
  statuses: string[];
  /** The status the last describe showed: what a modify finds the cluster in. */
  shown: string;
  deletionProtection: boolean;
  /** Describes left that report `deleting` before it is gone. */
  deletingDescribes?: number;
}

interface FakeDocdbInstance {
  id: string;
  clusterId: string;
  instanceClass: string;
  tags: Tag[];
  statuses: string[];
  deletingDescribes?: number;
}

interface FakeClusterSnapshot {
  id: string;
  clusterId: string;
  tags: Tag[];
  statuses: string[];
}

type Script = { statuses: string[] };
const script = (): Script => ({ statuses: ['creating', 'available'] });

/**
 * Amazon DocumentDB as an aws-sdk-client-mock fake with just enough state (clusters, their
 * instances, cluster snapshots) to behave like the service across whole workflows. Calls are
 * recorded in the `calls` array given (FakeAws's), as `rds` calls: DocumentDB's IAM actions are
 * RDS's, so the role checks evaluate them as such. `failNext` (FakeAws's too) injects errors.
 */
export class FakeDocdb {
  readonly docdb = mockClient(DocDBClient);
  readonly clusters = new Map<string, FakeCluster>();
  readonly instances = new Map<string, FakeDocdbInstance>();
  readonly snapshots = new Map<string, FakeClusterSnapshot>();
  clusterScript = script();
  instanceScript = script();
  restoreScript = script();
  snapshotScript = script();
  /** Describes that still see a deleted cluster or instance as `deleting`. */
  deletingDescribes = 1;

  constructor(
    private readonly calls: AwsCall[],
    private readonly failNext: Map<string, Error[]>,
  ) {
    this.install();
  }

  reset(): void {
    this.docdb.reset();
    this.clusters.clear();
    this.instances.clear();
    this.snapshots.clear();
    this.clusterScript = script();
    this.instanceScript = script();
    this.restoreScript = script();
    this.snapshotScript = script();
    this.deletingDescribes = 1;
    this.install();
  }

  restore(): void {
    this.docdb.restore();
  }

  membersOf(clusterId: string): FakeDocdbInstance[] {
    return [...this.instances.values()].filter((instance) => instance.clusterId === clusterId);
  }

  private record(command: string, input: object, resourceTags?: Tag[]) {
    this.calls.push({
      service: 'rds',
      command,
      input: structuredClone(input) as Record<string, unknown>,
      resourceTags: resourceTags ? tagsOf(resourceTags) : undefined,
    });
    const error = this.failNext.get(command)?.shift();
    if (error) throw error;
  }

  private clusterNotFound(id: string) {
    return new DBClusterNotFoundFault({ $metadata, message: `DBCluster ${id} not found.` });
  }

  private install(): void {
    this.docdb.onAnyCommand().callsFake(() => {
      throw new Error('DocumentDB: unexpected command');
    });
    this.installClusters();
    this.installInstances();
    this.installSnapshots();
  }

  private installClusters(): void {
    this.docdb.on(CreateDBClusterCommand).callsFake((input) => {
      this.record('CreateDBCluster', input);
      const id = String(input.DBClusterIdentifier);
      if (this.clusters.has(id)) throw new DBClusterAlreadyExistsFault({ $metadata, message: 'exists' });
      this.clusters.set(id, {
        id,
        settings: input,
        tags: input.Tags ?? [],
        statuses: [...this.clusterScript.statuses],
        shown: 'creating',
        deletionProtection: Boolean(input.DeletionProtection),
      });
      return { DBCluster: { DBClusterIdentifier: id, Status: 'creating' } };
    });
    this.docdb.on(RestoreDBClusterFromSnapshotCommand).callsFake((input) => {
      const snapshot = this.snapshots.get(String(input.SnapshotIdentifier));
      this.record('RestoreDBClusterFromSnapshot', input, snapshot?.tags);
      if (!snapshot) throw new DBClusterSnapshotNotFoundFault({ $metadata, message: 'no snapshot' });
      const id = String(input.DBClusterIdentifier);
      if (this.clusters.has(id)) throw new DBClusterAlreadyExistsFault({ $metadata, message: 'exists' });
      const source = this.clusters.get(snapshot.clusterId);
      this.clusters.set(id, {
        id,
        settings: { ...source?.settings, ...input },
        tags: input.Tags ?? [],
        statuses: [...this.restoreScript.statuses],
        shown: 'creating',
        deletionProtection: Boolean(input.DeletionProtection),
      });
      return { DBCluster: { DBClusterIdentifier: id, Status: 'creating' } };
    });
    this.docdb.on(DescribeDBClustersCommand).callsFake((input) => {
      this.record('DescribeDBClusters', input);
      // Without an identifier: every cluster as last shown (the leftovers sweep's listing).
      if (input.DBClusterIdentifier === undefined) {
        return {
          DBClusters: [...this.clusters.values()].map((cluster) => ({
            DBClusterIdentifier: cluster.id,
            DBClusterArn: clusterArn(cluster.id),
            Status: cluster.deletingDescribes === undefined ? cluster.shown : 'deleting',
            DBClusterMembers: this.membersOf(cluster.id).map((member, index) => ({
              DBInstanceIdentifier: member.id,
              IsClusterWriter: index === 0,
            })),
          })),
        };
      }
      const id = String(input.DBClusterIdentifier);
      const cluster = this.clusters.get(id);
      if (!cluster) throw this.clusterNotFound(id);
      if (cluster.deletingDescribes === 0) {
        this.clusters.delete(id);
        for (const member of this.membersOf(id)) this.instances.delete(member.id);
        throw this.clusterNotFound(id);
      }
      let status: string;
      if (cluster.deletingDescribes !== undefined) {
        cluster.deletingDescribes -= 1;
        status = 'deleting';
      } else status = next(cluster.statuses);
      cluster.shown = status;
      const { settings } = cluster;
      return {
        DBClusters: [
          {
            DBClusterIdentifier: id,
            DBClusterArn: clusterArn(id),
            Status: status,
            Engine: 'docdb',
            EngineVersion: settings.EngineVersion,
            Port: settings.Port ?? 27017,
            DeletionProtection: cluster.deletionProtection,
            DBSubnetGroup: settings.DBSubnetGroupName,
            DBClusterParameterGroup: settings.DBClusterParameterGroupName ?? 'default.docdb5.0',
            VpcSecurityGroups: (settings.VpcSecurityGroupIds ?? []).map((groupId) => ({
              VpcSecurityGroupId: groupId,
              Status: 'active',
            })),
            DBClusterMembers: this.membersOf(id).map((member, index) => ({
              DBInstanceIdentifier: member.id,
              IsClusterWriter: index === 0,
            })),
            ...(status === 'available'
              ? { Endpoint: clusterEndpoint(id), ReaderEndpoint: readerEndpoint(id) }
              : {}),
          },
        ],
      };
    });
    this.docdb.on(ListTagsForResourceCommand).callsFake((input) => {
      const id = String(input.ResourceName).split(':cluster:')[1] ?? '';
      const cluster = this.clusters.get(id);
      this.record('ListTagsForResource', input);
      if (!cluster) throw this.clusterNotFound(id);
      return { TagList: structuredClone(cluster.tags) };
    });
    this.docdb.on(ModifyDBClusterCommand).callsFake((input) => {
      const id = String(input.DBClusterIdentifier);
      const cluster = this.clusters.get(id);
      this.record('ModifyDBCluster', input, cluster?.tags);
      if (!cluster) throw this.clusterNotFound(id);
      if (cluster.shown !== 'available' || cluster.deletingDescribes !== undefined) {
        throw new InvalidDBClusterStateFault({ $metadata, message: `DBCluster ${id} is not available` });
      }
      if (input.DeletionProtection !== undefined) cluster.deletionProtection = input.DeletionProtection;
      const newId = input.NewDBClusterIdentifier;
      if (newId) {
        if (this.clusters.has(newId)) throw new DBClusterAlreadyExistsFault({ $metadata, message: 'exists' });
        this.clusters.delete(id);
        cluster.id = newId;
        cluster.statuses = ['renaming', 'available'];
        cluster.shown = 'renaming';
        this.clusters.set(newId, cluster);
        for (const member of this.membersOf(id)) member.clusterId = newId;
      }
      return { DBCluster: { DBClusterIdentifier: cluster.id } };
    });
    this.docdb.on(DeleteDBClusterCommand).callsFake((input) => {
      const id = String(input.DBClusterIdentifier);
      const cluster = this.clusters.get(id);
      this.record('DeleteDBCluster', input, cluster?.tags);
      if (!cluster) throw this.clusterNotFound(id);
      if (cluster.deletionProtection) {
        throw new DocDBServiceException({
          name: 'InvalidParameterCombination',
          $fault: 'client',
          $metadata,
          message: 'Cannot delete protected Cluster, please disable deletion protection and try again.',
        });
      }
      if (this.membersOf(id).some((member) => member.deletingDescribes === undefined)) {
        throw new InvalidDBClusterStateFault({
          $metadata,
          message: 'Cluster cannot be deleted, it still contains DB instances in non-deleting state.',
        });
      }
      cluster.deletingDescribes ??= this.deletingDescribes;
      return { DBCluster: { DBClusterIdentifier: id, Status: 'deleting' } };
    });
  }

  private installInstances(): void {
    this.docdb.on(CreateDBInstanceCommand).callsFake((input) => {
      const clusterId = String(input.DBClusterIdentifier);
      const cluster = this.clusters.get(clusterId);
      this.record('CreateDBInstance', input, cluster?.tags);
      const id = String(input.DBInstanceIdentifier);
      if (this.instances.has(id)) throw new DBInstanceAlreadyExistsFault({ $metadata, message: 'exists' });
      if (!cluster) throw this.clusterNotFound(clusterId);
      this.instances.set(id, {
        id,
        clusterId,
        instanceClass: String(input.DBInstanceClass),
        tags: input.Tags ?? [],
        statuses: [...this.instanceScript.statuses],
      });
      return { DBInstance: { DBInstanceIdentifier: id, DBInstanceStatus: 'creating' } };
    });
    this.docdb.on(DescribeDBInstancesCommand).callsFake((input) => {
      this.record('DescribeDBInstances', input);
      const id = String(input.DBInstanceIdentifier);
      const instance = this.instances.get(id);
      const notFound = new DBInstanceNotFoundFault({ $metadata, message: `DBInstance ${id} not found.` });
      if (!instance) throw notFound;
      if (instance.deletingDescribes === 0) {
        this.instances.delete(id);
        throw notFound;
      }
      let status: string;
      if (instance.deletingDescribes !== undefined) {
        instance.deletingDescribes -= 1;
        status = 'deleting';
      } else status = next(instance.statuses);
      return {
        DBInstances: [
          {
            DBInstanceIdentifier: id,
            DBInstanceStatus: status,
            DBInstanceClass: instance.instanceClass,
            DBClusterIdentifier: instance.clusterId,
            Engine: 'docdb',
          },
        ],
      };
    });
    this.docdb.on(DeleteDBInstanceCommand).callsFake((input) => {
      const id = String(input.DBInstanceIdentifier);
      const instance = this.instances.get(id);
      this.record('DeleteDBInstance', input, instance?.tags);
      if (!instance) throw new DBInstanceNotFoundFault({ $metadata, message: `DBInstance ${id} not found.` });
      instance.deletingDescribes ??= this.deletingDescribes;
      return { DBInstance: { DBInstanceIdentifier: id, DBInstanceStatus: 'deleting' } };
    });
  }

  private installSnapshots(): void {
    this.docdb.on(CreateDBClusterSnapshotCommand).callsFake((input) => {
      const clusterId = String(input.DBClusterIdentifier);
      const cluster = this.clusters.get(clusterId);
      this.record('CreateDBClusterSnapshot', input, cluster?.tags);
      const id = String(input.DBClusterSnapshotIdentifier);
      if (this.snapshots.has(id))
        throw new DBClusterSnapshotAlreadyExistsFault({ $metadata, message: 'exists' });
      if (!cluster) throw this.clusterNotFound(clusterId);
      this.snapshots.set(id, {
        id,
        clusterId,
        tags: input.Tags ?? [],
        statuses: [...this.snapshotScript.statuses],
      });
      return { DBClusterSnapshot: { DBClusterSnapshotIdentifier: id, Status: 'creating' } };
    });
    this.docdb.on(DescribeDBClusterSnapshotsCommand).callsFake((input) => {
      this.record('DescribeDBClusterSnapshots', input);
      const id = String(input.DBClusterSnapshotIdentifier);
      const snapshot = this.snapshots.get(id);
      if (!snapshot) throw new DBClusterSnapshotNotFoundFault({ $metadata, message: `${id} not found` });
      return {
        DBClusterSnapshots: [
          {
            DBClusterSnapshotIdentifier: id,
            DBClusterIdentifier: snapshot.clusterId,
            Status: next(snapshot.statuses),
          },
        ],
      };
    });
    this.docdb.on(DeleteDBClusterSnapshotCommand).callsFake((input) => {
      const id = String(input.DBClusterSnapshotIdentifier);
      const snapshot = this.snapshots.get(id);
      this.record('DeleteDBClusterSnapshot', input, snapshot?.tags);
      if (!snapshot) throw new DBClusterSnapshotNotFoundFault({ $metadata, message: `${id} not found` });
      this.snapshots.delete(id);
      return {};
    });
  }
}
