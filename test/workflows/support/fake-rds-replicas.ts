import {
  CreateDBInstanceReadReplicaCommand,
  DBInstanceAlreadyExistsFault,
  type Tag,
} from '@aws-sdk/client-rds';
import type { FakeAws } from './fake-aws.ts';

const $metadata = { httpStatusCode: 400 };
const tagsOf = (tags: Tag[]): Record<string, string> =>
  Object.fromEntries(tags.map((tag) => [String(tag.Key), String(tag.Value)]));

/**
 * RDS read replicas added to `FakeAws`: CreateDBInstanceReadReplica makes an instance that
 * replicates its source (DescribeDBInstances reports `ReadReplicaSourceDBInstanceIdentifier`, and
 * the source lists it), inherits the source's engine, version, port and storage, and reports
 * `replicaScript`. Installed again after each `fake.reset()`.
 */
export class FakeRdsReplicas {
  /** What each new replica reports. */
  replicaScript: string[] = ['creating', 'creating', 'available'];

  constructor(private readonly fake: FakeAws) {}

  install(): void {
    this.replicaScript = ['creating', 'creating', 'available'];
    const { fake } = this;
    fake.rds.on(CreateDBInstanceReadReplicaCommand).callsFake((input) => {
      const source = fake.instances.get(String(input.SourceDBInstanceIdentifier));
      fake.calls.push({
        service: 'rds',
        command: 'CreateDBInstanceReadReplica',
        input: structuredClone(input) as Record<string, unknown>,
        resourceTags: source ? tagsOf(source.tags) : undefined,
      });
      const error = fake.failNext.get('CreateDBInstanceReadReplica')?.shift();
      if (error) throw error;
      if (!source) throw new Error('CreateDBInstanceReadReplica: no such source');
      const id = String(input.DBInstanceIdentifier);
      if (fake.instances.has(id)) {
        throw new DBInstanceAlreadyExistsFault({ $metadata, message: 'DB instance already exists' });
      }
      fake.instances.set(id, {
        id,
        settings: {
          ...source.settings,
          DBInstanceIdentifier: id,
          DBInstanceClass: input.DBInstanceClass ?? source.settings.DBInstanceClass,
          DBSubnetGroupName: input.DBSubnetGroupName,
          // Replicas keep no automated backups.
          BackupRetentionPeriod: 0,
        },
        tags: input.Tags ?? [],
        statuses: [...this.replicaScript],
        deletionProtection: Boolean(input.DeletionProtection),
        replicaOf: source.id,
        groupId: String(input.VpcSecurityGroupIds?.[0]),
        port: source.port,
      });
      return { DBInstance: { DBInstanceIdentifier: id, DBInstanceStatus: 'creating' } };
    });
  }
}
