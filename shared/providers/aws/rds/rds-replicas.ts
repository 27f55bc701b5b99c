import { CreateDBInstanceReadReplicaCommand, type DBInstance } from '@aws-sdk/client-rds';
import { ProviderError, TransientError } from '../../../errors.ts';
import type { ReplicaAddress, ReplicaProvider, ReplicaSetState } from '../../../ports/replica-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import { TAG_KEYS } from '../tags.ts';
import {
  addonTags,
  DELETING_STATUSES,
  instanceStateOf,
  instanceTag,
  isValidDbInstanceIdentifier,
  type RdsInstances,
  type RdsSend,
} from './rds-instances.ts';

/** Replica `n` (from 1) of an addon's instance: `<instance>-replica-<n>`. */
export const replicaIdentifier = (resourceId: string, n: number): string => `${resourceId}-replica-${n}`;

const REPLICA_NUMBER = /-replica-(\d+)$/;

export interface RdsReplicasProps {
  /** The deployment's DB subnet group, when the primary does not name its own. */
  subnetGroupName: string;
  /** Value of the `addons:deployment` tag. */
  deployment: string;
}

/**
 * RDS read replicas of an addon's DB instance (`CreateDBInstanceReadReplica`), named
 * `<instance>-replica-<n>`, in the primary's subnet group and security group (the addon's, so
 * the same project clients reach them), of its instance class, tagged like it. RDS gives a
 * same-Region replica the source's parameter group (which forces TLS as the primary's does; RDS
 * refuses an explicit one for MySQL) and encrypts it with the source's KMS key (an explicit key
 * is refused in the same Region), so neither is named. Replicas have no backups and no deletion
 * protection; the primary must keep automated backups (RDS requires it of a source).
 *
 * `setReplicaCount` only sends requests (RDS takes minutes per replica); `describeReplicas` says
 * when exactly that many are available. A replica being created can be deleted (scale-down or
 * compensation); a busy one answers InvalidDBInstanceState, a TransientError the workflow retries.
 */
export class RdsReplicas implements ReplicaProvider {
  constructor(
    private readonly rds: RdsSend,
    private readonly instances: RdsInstances,
    private readonly props: RdsReplicasProps,
  ) {}

  async setReplicaCount(resourceId: string, count: number): Promise<undefined> {
    const primary = await this.instances.find(resourceId);
    if (!primary) {
      if (count === 0) return;
      throw new ProviderError(`The database instance ${resourceId} does not exist`, 'NotFound');
    }
    const replicas = await this.list(primary, count);
    for (const [n, replica] of replicas) {
      // Above the count, or one that no longer follows this primary (promoted).
      if (n > count || !this.follows(replica, resourceId)) await this.instances.delete(replica);
    }
    for (let n = 1; n <= count; n++) {
      const replica = replicas.get(n);
      if (!replica) await this.create(primary, n);
      else if (DELETING_STATUSES.has(replica.DBInstanceStatus ?? '') || !this.follows(replica, resourceId)) {
        // A removal (a scale-down, a compensation, a promoted one's) not finished yet: made anew
        // once it is gone, by a retry of this step.
        throw new TransientError(`Read replica ${replicaIdentifier(resourceId, n)} is still being deleted`);
      }
    }
  }

  async describeReplicas(resourceId: string, count: number): Promise<ReplicaSetState> {
    const primary = await this.instances.find(resourceId);
    if (!primary) return { status: 'failed', reason: `The database instance ${resourceId} does not exist` };
    const replicas = await this.list(primary, count);
    const endpoints: ReplicaAddress[] = [];
    for (let n = 1; n <= count; n++) {
      const id = replicaIdentifier(resourceId, n);
      const replica = replicas.get(n);
      if (!replica) return { status: 'failed', reason: `Read replica ${id} does not exist` };
      if (!this.follows(replica, resourceId)) {
        return {
          status: 'failed',
          reason: `${id} no longer replicates ${resourceId} (it was promoted); set the replicas again`,
        };
      }
      const state = instanceStateOf(replica);
      if (state.status === 'failed') return state;
      if (state.status === 'available') endpoints.push(state.endpoint);
    }
    const extra = [...replicas.keys()].some((n) => n > count);
    if (endpoints.length === count && !extra) return { status: 'available', endpoints };
    return { status: 'applying', ready: endpoints.length, wanted: count };
  }

  /**
   * Delete every replica of the instance (before the instance itself: RDS would promote a
   * replica left behind to a standalone instance). Returns how many still exist, deleting.
   */
  async deleteAll(primary: DBInstance): Promise<number> {
    const replicas = await this.list(primary, 0);
    for (const replica of replicas.values()) await this.instances.delete(replica);
    return replicas.size;
  }

  /**
   * The instance's replicas by number, whatever their state: those the primary lists (RDS keeps
   * them there until they are gone) and, up to `count`, any other of our names (a promoted one).
   * Each is described by its identifier, which the workflow role may read (`addon-*`).
   */
  private async list(primary: DBInstance, count: number): Promise<Map<number, DBInstance>> {
    const resourceId = primary.DBInstanceIdentifier as string;
    const listed = (primary.ReadReplicaDBInstanceIdentifiers ?? []).flatMap((id) => {
      const n = Number(REPLICA_NUMBER.exec(id)?.[1]);
      return id === replicaIdentifier(resourceId, n) ? [n] : [];
    });
    const numbers = new Set(listed);
    for (let n = 1; n <= count; n++) numbers.add(n);
    const found = new Map<number, DBInstance>();
    for (const n of [...numbers].sort((a, b) => a - b)) {
      const replica = await this.instances.find(replicaIdentifier(resourceId, n));
      if (replica) found.set(n, replica);
    }
    return found;
  }

  /** Whether `replica` still replicates `resourceId` (a deleting one counts until it is gone). */
  private follows(replica: DBInstance, resourceId: string): boolean {
    if (DELETING_STATUSES.has(replica.DBInstanceStatus ?? '')) return true;
    return replica.ReadReplicaSourceDBInstanceIdentifier === resourceId;
  }

  private async create(primary: DBInstance, n: number): Promise<void> {
    const resourceId = primary.DBInstanceIdentifier as string;
    const id = replicaIdentifier(resourceId, n);
    if (!isValidDbInstanceIdentifier(id)) {
      throw new ProviderError(`'${id}' is not a valid RDS DB instance identifier`, 'InvalidRequest');
    }
    if (!primary.BackupRetentionPeriod) {
      throw new ProviderError(
        `${resourceId} keeps no automated backups, which RDS requires of a read replica's source`,
        'UnsupportedOption',
      );
    }
    const securityGroups = (primary.VpcSecurityGroups ?? []).flatMap((group) =>
      group.VpcSecurityGroupId ? [group.VpcSecurityGroupId] : [],
    );
    const projectId = instanceTag(primary, TAG_KEYS.project);
    const addonId = instanceTag(primary, TAG_KEYS.addon);
    if (securityGroups.length === 0 || !projectId || !addonId) {
      throw new ProviderError(
        `${resourceId} has no security group or no addon tags to give its read replicas`,
        'Misconfigured',
      );
    }
    try {
      await this.rds(
        new CreateDBInstanceReadReplicaCommand({
          DBInstanceIdentifier: id,
          SourceDBInstanceIdentifier: resourceId,
          DBInstanceClass: primary.DBInstanceClass,
          DBSubnetGroupName: primary.DBSubnetGroup?.DBSubnetGroupName ?? this.props.subnetGroupName,
          VpcSecurityGroupIds: securityGroups,
          PubliclyAccessible: false,
          MultiAZ: false,
          DeletionProtection: false,
          Tags: addonTags(this.props.deployment, { projectId, addonId }),
        }),
      );
    } catch (error) {
      // A retried task: the first attempt got through.
      if (isAwsError(error, 'DBInstanceAlreadyExists')) return;
      throw toPlatformError(error, `creating read replica ${id}`);
    }
  }
}
