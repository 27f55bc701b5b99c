import { DeleteSecurityGroupCommand, type EC2Client } from '@aws-sdk/client-ec2';
import {
  type DBInstance,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBInstanceCommand,
  type RDSClient,
  type Tag,
} from '@aws-sdk/client-rds';
import { DeleteScheduleCommand, ListSchedulesCommand, type SchedulerClient } from '@aws-sdk/client-scheduler';
import {
  DeleteSecretCommand,
  ListSecretsCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { Leftover, LeftoverSource } from '../../ports/reconciler.ts';
import { addonIdOf, renameSwapLeftovers, snapshotOwnerOf } from './addon-resource-names.ts';
import { listAddonGroups } from './addon-security-groups.ts';
import { isAwsError, toPlatformError } from './aws-errors.ts';
import { deleteDbSnapshot } from './rds/rds-snapshots.ts';
import { TAG_KEYS } from './tags.ts';

const tagOf = (tags: Tag[] | undefined, key: string) => tags?.find((tag) => tag.Key === key)?.Value;

const DELETING = new Set(['deleting', 'delete-precheck']);

/**
 * Addon DB instances of this deployment (tag `addons:deployment`): the addon's own instance,
 * and the staging and retired copies of a snapshot restore. Removal turns deletion protection
 * off and deletes without a final snapshot, like the delete workflow.
 */
export class RdsInstanceLeftovers implements LeftoverSource {
  readonly name = 'RDS instances';

  constructor(private readonly props: { rds: RDSClient; deployment: string }) {}

  private async instances(): Promise<DBInstance[]> {
    const found: DBInstance[] = [];
    let marker: string | undefined;
    do {
      const page = await this.props.rds.send(new DescribeDBInstancesCommand({ Marker: marker }));
      found.push(...(page.DBInstances ?? []));
      marker = page.Marker;
    } while (marker);
    return found.filter(
      (instance) =>
        instance.DBInstanceIdentifier?.startsWith('addon-') &&
        tagOf(instance.TagList, TAG_KEYS.deployment) === this.props.deployment &&
        !DELETING.has(instance.DBInstanceStatus ?? ''),
    );
  }

  async list(): Promise<Leftover[]> {
    const instances = await this.instances();
    return renameSwapLeftovers(
      'db-instance',
      instances.map((instance) => ({
        id: instance.DBInstanceIdentifier as string,
        createdAt: instance.InstanceCreateTime ?? new Date(),
      })),
    );
  }

  async remove(leftover: Leftover): Promise<void> {
    try {
      await this.props.rds.send(
        new ModifyDBInstanceCommand({
          DBInstanceIdentifier: leftover.id,
          DeletionProtection: false,
          ApplyImmediately: true,
        }),
      );
      await this.props.rds.send(
        new DeleteDBInstanceCommand({
          DBInstanceIdentifier: leftover.id,
          SkipFinalSnapshot: true,
          DeleteAutomatedBackups: false,
        }),
      );
    } catch (error) {
      if (isAwsError(error, 'DBInstanceNotFound')) return;
      throw toPlatformError(error, `deleting leftover database instance ${leftover.id}`);
    }
  }
}

/** Manual snapshots of this deployment named after a backup; one still `creating` is retried next run. */
export class RdsSnapshotLeftovers implements LeftoverSource {
  readonly name = 'RDS snapshots';

  constructor(private readonly props: { rds: RDSClient; deployment: string }) {}

  async list(): Promise<Leftover[]> {
    const found: Leftover[] = [];
    let marker: string | undefined;
    do {
      const page = await this.props.rds.send(
        new DescribeDBSnapshotsCommand({ SnapshotType: 'manual', Marker: marker }),
      );
      for (const snapshot of page.DBSnapshots ?? []) {
        const owner = snapshotOwnerOf(snapshot.DBSnapshotIdentifier ?? '');
        if (!owner) continue;
        if (tagOf(snapshot.TagList, TAG_KEYS.deployment) !== this.props.deployment) continue;
        if (snapshot.Status === 'deleting') continue;
        found.push({
          kind: 'db-snapshot',
          id: snapshot.DBSnapshotIdentifier as string,
          // A snapshot being created has no time yet: young, so only an ended backup removes it.
          createdAt: snapshot.SnapshotCreateTime ?? new Date(),
          owner: { kind: 'backup', ...owner },
        });
      }
      marker = page.Marker;
    } while (marker);
    return found;
  }

  remove(leftover: Leftover): Promise<void> {
    return deleteDbSnapshot(this.props.rds, leftover.id);
  }
}

/**
 * Per-addon security groups (named after the addon's resource id, tagged with the addon).
 * A group RDS still holds network interfaces in answers DependencyViolation: retried next run.
 * Groups without an addon tag (shared or per-project groups) are never listed.
 */
export class SecurityGroupLeftovers implements LeftoverSource {
  readonly name = 'security groups';

  constructor(private readonly props: { ec2: EC2Client; vpcId: string; deployment: string }) {}

  async list(): Promise<Leftover[]> {
    const found: Leftover[] = [];
    for (const group of await listAddonGroups(this.props.ec2, this.props)) {
      const addonId = group.Tags?.find((tag) => tag.Key === TAG_KEYS.addon)?.Value;
      if (!group.GroupId || !addonId || !addonIdOf(group.GroupName ?? '')) continue;
      // EC2 tells no creation time: the reconciler lists before it reads the addons.
      found.push({ kind: 'security-group', id: group.GroupId, owner: { kind: 'addon', addonId } });
    }
    return found;
  }

  async remove(leftover: Leftover): Promise<void> {
    try {
      await this.props.ec2.send(new DeleteSecurityGroupCommand({ GroupId: leftover.id }));
    } catch (error) {
      if (isAwsError(error, 'InvalidGroup.NotFound')) return;
      throw toPlatformError(error, `deleting leftover security group ${leftover.id}`);
    }
  }
}

/** Connection-detail secrets under this deployment's prefix: `<prefix><project>/<addon id>`. */
export class SecretLeftovers implements LeftoverSource {
  readonly name = 'secrets';

  constructor(private readonly props: { secrets: SecretsManagerClient; prefix: string }) {}

  async list(): Promise<Leftover[]> {
    const found: Leftover[] = [];
    let token: string | undefined;
    do {
      const page = await this.props.secrets.send(
        new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [this.props.prefix] }], NextToken: token }),
      );
      for (const secret of page.SecretList ?? []) {
        const name = secret.Name ?? '';
        if (!name.startsWith(this.props.prefix) || secret.DeletedDate) continue;
        const addonId = /^[^/]+\/(adn-[0-9a-z]+)$/.exec(name.slice(this.props.prefix.length))?.[1];
        if (!addonId) continue;
        found.push({
          kind: 'secret',
          id: name,
          createdAt: secret.CreatedDate ?? new Date(),
          owner: { kind: 'addon', addonId },
        });
      }
      token = page.NextToken;
    } while (token);
    return found;
  }

  async remove(leftover: Leftover): Promise<void> {
    try {
      await this.props.secrets.send(
        new DeleteSecretCommand({ SecretId: leftover.id, ForceDeleteWithoutRecovery: true }),
      );
    } catch (error) {
      if (isAwsError(error, 'ResourceNotFound')) return;
      throw toPlatformError(error, `deleting leftover secret ${leftover.id}`);
    }
  }
}

/** EventBridge Scheduler schedules of this deployment's group, named after the backup schedule id. */
export class ScheduleLeftovers implements LeftoverSource {
  readonly name = 'EventBridge schedules';

  constructor(private readonly props: { scheduler: SchedulerClient; groupName: string }) {}

  async list(): Promise<Leftover[]> {
    const found: Leftover[] = [];
    let token: string | undefined;
    do {
      const page = await this.props.scheduler.send(
        new ListSchedulesCommand({ GroupName: this.props.groupName, NextToken: token }),
      );
      for (const schedule of page.Schedules ?? []) {
        if (!schedule.Name) continue;
        found.push({
          kind: 'schedule',
          id: schedule.Name,
          createdAt: schedule.CreationDate ?? new Date(),
          owner: { kind: 'schedule', scheduleId: schedule.Name },
        });
      }
      token = page.NextToken;
    } while (token);
    return found;
  }

  async remove(leftover: Leftover): Promise<void> {
    try {
      await this.props.scheduler.send(
        new DeleteScheduleCommand({ Name: leftover.id, GroupName: this.props.groupName }),
      );
    } catch (error) {
      if (isAwsError(error, 'ResourceNotFound')) return;
      throw toPlatformError(error, `deleting leftover schedule ${leftover.id}`);
    }
  }
}
