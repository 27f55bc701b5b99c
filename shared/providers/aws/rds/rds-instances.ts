import {
  type DBInstance,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  ModifyDBInstanceCommand,
  type RDSClient,
} from '@aws-sdk/client-rds';
import type { InstanceState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError } from '../aws-errors.ts';
import { TAG_KEYS } from '../tags.ts';

/** `RDSClient.send` wrapped by `transientErrors`: what every helper of this folder calls. */
export type RdsSend = RDSClient['send'];

/**
 * RDS DB instance identifier rules: 1 to 63 letters, digits or hyphens, starting with a letter,
 * no two consecutive hyphens, not ending with a hyphen. `resourceIdFor` produces these; checked
 * again here because an identifier RDS rejects would only show up as a failed create.
 */
export const isValidDbInstanceIdentifier = (id: string): boolean =>
  /^[a-zA-Z][a-zA-Z0-9-]{0,62}$/.test(id) && !id.includes('--') && !id.endsWith('-');

/** RDS statuses in which the instance will not become available by waiting, with what they mean. */
const FAILED_STATUSES: Record<string, string> = {
  failed: 'RDS could not create or recover the instance',
  'incompatible-create': 'RDS cannot create an instance with this configuration',
  'incompatible-network': 'the subnet group has no free IP addresses, or one of its subnets is gone',
  'incompatible-parameters': "the parameter group's values do not fit this engine version or instance class",
  'incompatible-option-group': 'the option group does not fit this engine version',
  'incompatible-restore': 'the restore could not complete',
  'restore-error': 'the restore could not complete',
  'inaccessible-encryption-credentials': 'the KMS key is disabled or RDS may no longer use it',
  'inaccessible-encryption-credentials-recoverable':
    'the KMS key is disabled or RDS may no longer use it; re-enable it within 7 days to recover the instance',
  'insufficient-capacity': 'AWS has no capacity for this instance class right now',
  'storage-full': 'the instance ran out of storage',
  stopped: 'the instance is stopped',
  stopping: 'the instance is stopping',
};

/** Statuses in which the instance serves connections. */
const AVAILABLE_STATUSES = new Set(['available', 'storage-optimization', 'storage-initialization']);

export const DELETING_STATUSES = new Set(['deleting', 'delete-precheck']);

/** What a DB instance's status means for the workflow; anything unlisted is "not available yet". */
export const instanceStateOf = (instance: DBInstance): InstanceState => {
  const status = instance.DBInstanceStatus ?? 'unknown';
  const id = instance.DBInstanceIdentifier ?? 'unknown';
  if (DELETING_STATUSES.has(status)) return { status: 'deleting' };
  const failure = FAILED_STATUSES[status];
  if (failure) return { status: 'failed', reason: `RDS reports instance ${id} as ${status}: ${failure}` };
  const host = instance.Endpoint?.Address;
  const port = instance.Endpoint?.Port;
  // A master password change still pending (a fork getting its own password) is not done yet.
  if (AVAILABLE_STATUSES.has(status) && host && port && !instance.PendingModifiedValues?.MasterUserPassword)
    return { status: 'available', endpoint: { host, port } };
  return { status: 'creating' };
};

/** The value of one of the instance's tags. */
export const instanceTag = (instance: DBInstance, key: string): string | undefined =>
  instance.TagList?.find((tag) => tag.Key === key)?.Value;

/** The tags of one addon's resources: the deployment's (IAM conditions match it), its project and addon. */
export const addonTags = (deployment: string, spec: { projectId: string; addonId: string }) => [
  { Key: TAG_KEYS.deployment, Value: deployment },
  { Key: TAG_KEYS.project, Value: spec.projectId },
  { Key: TAG_KEYS.addon, Value: spec.addonId },
];

/**
 * The DB instance operations every RDS engine shares: look one up, rename one, delete one. Each
 * is idempotent (a retried task finds the work done), because Step Functions retries tasks.
 */
export class RdsInstances {
  constructor(private readonly rds: RdsSend) {}

  async find(resourceId: string): Promise<DBInstance | undefined> {
    try {
      const result = await this.rds(new DescribeDBInstancesCommand({ DBInstanceIdentifier: resourceId }));
      return result.DBInstances?.[0];
    } catch (error) {
      if (isAwsError(error, 'DBInstanceNotFound')) return undefined;
      throw toPlatformError(error, 'looking up the database instance');
    }
  }

  async rename(from: string, to: string): Promise<void> {
    try {
      await this.rds(
        new ModifyDBInstanceCommand({
          DBInstanceIdentifier: from,
          NewDBInstanceIdentifier: to,
          ApplyImmediately: true,
        }),
      );
    } catch (error) {
      // A retried call: the rename already happened.
      if (isAwsError(error, 'DBInstanceNotFound')) return;
      throw toPlatformError(error, `renaming database instance ${from} to ${to}`);
    }
  }

  /** Deletion protection off, then delete without a final snapshot (idempotent). */
  async delete(instance: DBInstance): Promise<void> {
    const id = instance.DBInstanceIdentifier;
    if (!id || DELETING_STATUSES.has(instance.DBInstanceStatus ?? '')) return;
    try {
      if (instance.DeletionProtection) {
        await this.rds(
          new ModifyDBInstanceCommand({
            DBInstanceIdentifier: id,
            DeletionProtection: false,
            ApplyImmediately: true,
          }),
        );
      }
      await this.rds(
        new DeleteDBInstanceCommand({
          DBInstanceIdentifier: id,
          // Backups are the backup workflow's job, not RDS's final snapshot.
          SkipFinalSnapshot: true,
          DeleteAutomatedBackups: false,
        }),
      );
    } catch (error) {
      if (isAwsError(error, 'DBInstanceNotFound')) return;
      throw toPlatformError(error, 'deleting the database instance');
    }
  }
}
