import {
  CreateDBClusterCommand,
  CreateDBInstanceCommand,
  type DocDBClient,
  type Tag,
} from '@aws-sdk/client-docdb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { ProviderError, TransientError } from '../../../errors.ts';
import type {
  EngineProvider,
  InstanceSpec,
  InstanceState,
  ResizeRequest,
  ResizeState,
  RestoreState,
  SnapshotProvider,
  SnapshotState,
} from '../../../ports/engine-provider.ts';
import { AddonSecurityGroups } from '../addon-security-groups.ts';
import { isAwsError, toPlatformError, transientErrors } from '../aws-errors.ts';
import { addonTags, isValidDbInstanceIdentifier } from '../rds/rds-instances.ts';
import { TAG_KEYS } from '../tags.ts';
import { clusterStateOf, DOCDB_PORT, DocdbClusters, nodeIdentifiers, tagValue } from './docdb-clusters.ts';
import { DocdbReplicas } from './docdb-replicas.ts';
import { describeDocdbResize, resizeDocdbCluster } from './docdb-resize.ts';
import { DocdbRestoreSwap } from './docdb-restore.ts';
import { DocdbSnapshots, deleteClusterSnapshot } from './docdb-snapshots.ts';

/** DocumentDB's engine name, and the engine version of the catalog's `5.0`. */
const DOCDB_ENGINE = 'docdb';
const ENGINE_VERSIONS: Record<string, string> = { '5.0': '5.0.0' };

/** Names DocumentDB keeps for itself (its MasterUsername rules). */
const RESERVED_USERS = new Set(['admin', 'root', 'serviceadmin', 'rdsadmin']);

export interface DocdbEngineProviderProps {
  docdb: DocDBClient;
  ec2: EC2Client;
  /** The VPC of the deployment: each project's client group and each addon's group are created in it. */
  vpcId: string;
  /** The VPC's CIDR block: project client groups may reach the engine port inside it. */
  vpcCidr: string;
  /**
   * The deployment's DB subnet group over the isolated subnets (created by CDK for RDS):
   * DocumentDB clusters take RDS DB subnet groups, it is the same resource in the same API family.
   */
  subnetGroupName: string;
  /** Customer-managed key for storage encryption. */
  kmsKeyId: string;
  /** Catalog version -> cluster parameter group with `tls` enabled (created by CDK). */
  tlsParameterGroups: Record<string, string>;
  /** Value of the `addons:deployment` tag; the workflow role may only touch what carries it. */
  deployment: string;
  /** @default 7 */
  backupRetentionDays?: number;
  /** The deployment's bastion group, admitted by every addon group (`AddonSecurityGroupsProps`); unset: no bastion. */
  bastionGroupId?: string;
}

/**
 * MongoDB addons as Amazon DocumentDB 5.0 clusters in the deployment's isolated subnets: one
 * cluster per addon with one instance per node (1 + replicas, the plan's instance class), storage
 * encrypted with the deployment's key, TLS always enforced by the cluster parameter group (the
 * API refuses `tls: false` for MongoDB on AWS: `tlsRequired`), and the same per-project security groups, tags and
 * deletion protection as the RDS engines (`RdsEngineProvider`). DocumentDB storage grows by itself
 * (there is nothing to allocate), so the addon's `storageGiB` is not sent.
 *
 * Teardown: the instances, then the cluster (DocumentDB refuses to delete a cluster whose
 * instances are not deleting yet), then the addon's security group once DocumentDB let go of its
 * network interfaces. `deleteInstance` starts it; `describeInstance` carries it on (a cluster
 * whose deletion protection is off is being deleted: the platform only turns it off to delete)
 * and reports `absent` when nothing is left.
 */
export class DocdbEngineProvider implements EngineProvider, SnapshotProvider {
  private readonly docdb: DocDBClient['send'];
  private readonly groups: AddonSecurityGroups;
  private readonly clusters: DocdbClusters;
  private readonly snapshots: DocdbSnapshots;
  private readonly restores: DocdbRestoreSwap;
  /** The cluster's reader instances (`PATCH replicas`): docdb-replicas.ts. */
  readonly replicas: DocdbReplicas;

  constructor(private readonly props: DocdbEngineProviderProps) {
    this.docdb = transientErrors(props.docdb, 'DocumentDB');
    this.groups = new AddonSecurityGroups({
      ec2: props.ec2,
      vpcId: props.vpcId,
      vpcCidr: props.vpcCidr,
      deployment: props.deployment,
      port: DOCDB_PORT,
      bastionGroupId: props.bastionGroupId,
    });
    this.clusters = new DocdbClusters(this.docdb);
    this.replicas = new DocdbReplicas(this.docdb, this.clusters);
    this.snapshots = new DocdbSnapshots(this.docdb, props.deployment);
    this.restores = new DocdbRestoreSwap({
      docdb: this.docdb,
      clusters: this.clusters,
      subnetGroupName: props.subnetGroupName,
    });
  }

  async createInstance(spec: InstanceSpec): Promise<void> {
    this.checkSpec(spec);
    const engineVersion = ENGINE_VERSIONS[spec.version] as string;
    const parameterGroup = this.parameterGroup(spec.version);
    const clientGroupId = await this.groups.ensureProjectClientGroup(spec.projectId);
    const groupId = await this.groups.ensureAddonGroup(
      {
        resourceId: spec.resourceId,
        projectId: spec.projectId,
        addonId: spec.addonId,
        label: 'MongoDB (DocumentDB) addon',
      },
      clientGroupId,
    );
    const tags: Tag[] = addonTags(this.props.deployment, spec);
    try {
      await this.docdb(
        new CreateDBClusterCommand({
          DBClusterIdentifier: spec.resourceId,
          Engine: DOCDB_ENGINE,
          EngineVersion: engineVersion,
          MasterUsername: spec.username,
          MasterUserPassword: spec.password,
          Port: DOCDB_PORT,
          DBSubnetGroupName: this.props.subnetGroupName,
          VpcSecurityGroupIds: [groupId],
          DBClusterParameterGroupName: parameterGroup,
          StorageEncrypted: true,
          KmsKeyId: this.props.kmsKeyId,
          BackupRetentionPeriod: this.props.backupRetentionDays ?? 7,
          // On for the cluster's whole life; deleteInstance turns it off right before deleting.
          DeletionProtection: true,
          Tags: tags,
        }),
      );
    } catch (error) {
      // A retried task: the first attempt got through.
      if (!isAwsError(error, 'DBClusterAlreadyExists')) {
        throw toPlatformError(error, 'creating the DocumentDB cluster');
      }
    }
    // DocumentDB takes instances into a cluster that is still being created.
    for (const id of nodeIdentifiers(spec.resourceId, 1 + spec.replicas)) {
      try {
        await this.docdb(
          new CreateDBInstanceCommand({
            DBInstanceIdentifier: id,
            DBClusterIdentifier: spec.resourceId,
            DBInstanceClass: spec.plan.instanceClass,
            Engine: DOCDB_ENGINE,
            AutoMinorVersionUpgrade: true,
            Tags: tags,
          }),
        );
      } catch (error) {
        if (isAwsError(error, 'DBInstanceAlreadyExists')) continue;
        throw toPlatformError(error, 'creating an instance of the DocumentDB cluster');
      }
    }
  }

  async describeInstance(resourceId: string): Promise<InstanceState> {
    const cluster = await this.clusters.find(resourceId);
    if (cluster) {
      // Deletion protection off: deleteInstance began, and this carries it on.
      if (cluster.DeletionProtection === false) {
        await this.clusters.delete(cluster);
        return { status: 'deleting' };
      }
      const state = clusterStateOf(cluster, await this.clusters.instancesOf(cluster));
      if (state.status !== 'available') return state;
      return this.groups.withClientGroup(
        state,
        tagValue(await this.clusters.tagsOf(cluster), TAG_KEYS.project),
      );
    }
    return { status: await this.groups.retireAddonGroup(resourceId) };
  }

  /**
   * Starts the teardown. TransientError while DocumentDB refuses the cluster's deletion (its
   * instances not deleting yet, or the cluster still being created): the task's Retry, or the
   * compensation's, calls again, so a failed create leaves nothing behind.
   */
  async deleteInstance(resourceId: string): Promise<void> {
    const cluster = await this.clusters.find(resourceId);
    if (!cluster) {
      // Still in use just after the cluster went: describeInstance retries it.
      await this.groups.retireAddonGroup(resourceId);
      return;
    }
    if (!(await this.clusters.delete(cluster))) {
      throw new TransientError(`DocumentDB does not let cluster ${resourceId} be deleted yet; retrying`);
    }
  }

  /** A plan change: ModifyDBInstance of every instance of the cluster (docdb-resize.ts). */
  resize(resourceId: string, change: ResizeRequest): Promise<void> {
    return resizeDocdbCluster(this.docdb, this.clusters, resourceId, change);
  }

  describeResize(resourceId: string, change: ResizeRequest): Promise<ResizeState> {
    return describeDocdbResize(this.clusters, resourceId, change);
  }

  createSnapshot(resourceId: string, snapshotId: string): Promise<void> {
    return this.snapshots.create(resourceId, snapshotId);
  }

  describeSnapshot(snapshotId: string): Promise<SnapshotState> {
    return this.snapshots.describe(snapshotId);
  }

  deleteSnapshot(snapshotId: string): Promise<void> {
    return deleteClusterSnapshot(this.docdb, snapshotId);
  }

  /** Restore to a new cluster, then swap it in by renames: `DocdbRestoreSwap`. */
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
    if (spec.engine !== 'mongodb') {
      throw new ProviderError(
        `The DocumentDB provider cannot create ${spec.engine} addons`,
        'UnsupportedEngine',
      );
    }
    if (!isValidDbInstanceIdentifier(spec.resourceId)) {
      throw new ProviderError(
        `'${spec.resourceId}' is not a valid DocumentDB cluster identifier`,
        'InvalidRequest',
      );
    }
    if (!ENGINE_VERSIONS[spec.version]) {
      throw new ProviderError(`DocumentDB ${spec.version} is not offered here`, 'InvalidRequest');
    }
    // CreateDBCluster's MasterUsername rules.
    if (
      !/^[a-zA-Z][a-zA-Z0-9]{0,62}$/.test(spec.username) ||
      RESERVED_USERS.has(spec.username.toLowerCase())
    ) {
      throw new ProviderError(
        `'${spec.username}' cannot be the DocumentDB master user: 1 to 63 letters or digits, starting with a letter, not a reserved name`,
        'InvalidRequest',
      );
    }
    if (!spec.tls) {
      throw new ProviderError('DocumentDB addons always use TLS', 'UnsupportedOption');
    }
    if (spec.publicAccess) {
      throw new ProviderError(
        'Public access is not available: addons live in isolated subnets',
        'UnsupportedOption',
      );
    }
  }

  private parameterGroup(version: string): string {
    const group = this.props.tlsParameterGroups[version];
    if (!group) {
      throw new ProviderError(
        `This deployment has no cluster parameter group for DocumentDB ${version}; redeploy the stack`,
        'Misconfigured',
      );
    }
    return group;
  }
}
