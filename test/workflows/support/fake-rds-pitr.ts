import {
  DBInstanceAlreadyExistsFault,
  type DBInstanceAutomatedBackup,
  DescribeDBInstanceAutomatedBackupsCommand,
  RestoreDBInstanceToPointInTimeCommand,
  type Tag,
} from '@aws-sdk/client-rds';
import type { FakeAws } from './fake-aws.ts';

const $metadata = { httpStatusCode: 400 };
const tagsOf = (tags: Tag[]): Record<string, string> =>
  Object.fromEntries(tags.map((tag) => [String(tag.Key), String(tag.Value)]));

/** A deleted instance's automated backups, as RDS keeps them (`retained`) after the delete. */
export interface RetainedBackups {
  dbiResourceId: string;
  earliest: Date;
  latest: Date;
  engine: string;
  engineVersion: string;
  masterUsername?: string;
  tags?: Tag[];
}

/**
 * RDS point-in-time recovery added to `FakeAws` (whose file is full): RestoreDBInstanceToPointInTime
 * creates the target instance like a snapshot restore (it reports `fake.restoreScript`), from a live
 * source instance or a deleted one's retained automated backups; DescribeDBInstanceAutomatedBackups
 * lists the retained ones. Installed again after each `fake.reset()`.
 */
export class FakeRdsPitr {
  /** Retained automated backups, by the deleted instance's identifier. */
  readonly retained = new Map<string, RetainedBackups>();

  constructor(private readonly fake: FakeAws) {}

  private record(command: string, input: object, resourceTags?: Record<string, string>) {
    const call = {
      service: 'rds' as const,
      command,
      input: structuredClone(input) as Record<string, unknown>,
      resourceTags,
    };
    this.fake.calls.push(call);
    const error = this.fake.failNext.get(command)?.shift();
    if (error) throw error;
    return call;
  }

  install(): void {
    this.retained.clear();
    const { fake } = this;
    fake.rds.on(DescribeDBInstanceAutomatedBackupsCommand).callsFake((input) => {
      this.record('DescribeDBInstanceAutomatedBackups', input);
      const backups: DBInstanceAutomatedBackup[] = [...this.retained.entries()].map(([id, backup]) => ({
        DBInstanceIdentifier: id,
        DbiResourceId: backup.dbiResourceId,
        Status: 'retained',
        Engine: backup.engine,
        EngineVersion: backup.engineVersion,
        RestoreWindow: { EarliestTime: backup.earliest, LatestTime: backup.latest },
      }));
      const statuses = input.Filters?.find((filter: { Name?: string }) => filter.Name === 'status')?.Values;
      return {
        DBInstanceAutomatedBackups: backups.filter(
          (backup) =>
            (!input.DbiResourceId || backup.DbiResourceId === input.DbiResourceId) &&
            (!statuses || statuses.includes(String(backup.Status))),
        ),
      };
    });
    fake.rds.on(RestoreDBInstanceToPointInTimeCommand).callsFake((input) => {
      const live = input.SourceDBInstanceIdentifier
        ? fake.instances.get(input.SourceDBInstanceIdentifier)
        : undefined;
      const retained = [...this.retained.values()].find(
        (backup) => backup.dbiResourceId === input.SourceDbiResourceId,
      );
      const source = live
        ? {
            engine: live.settings.Engine,
            version: live.settings.EngineVersion,
            masterUsername: live.settings.MasterUsername,
            tags: live.tags,
          }
        : {
            engine: retained?.engine,
            version: retained?.engineVersion,
            masterUsername: retained?.masterUsername,
            tags: retained?.tags ?? [],
          };
      const call = this.record('RestoreDBInstanceToPointInTime', input, tagsOf(source.tags));
      if (source.engine && source.version) {
        Object.assign(call, { snapshotEngine: { engine: source.engine, version: source.version } });
      }
      if (!live && !retained) throw new Error('RestoreDBInstanceToPointInTime: no such source');
      const id = String(input.TargetDBInstanceIdentifier);
      if (fake.instances.has(id)) {
        throw new DBInstanceAlreadyExistsFault({ $metadata, message: 'DB instance already exists' });
      }
      fake.instances.set(id, {
        id,
        settings: {
          ...input,
          DBInstanceIdentifier: id,
          Engine: source.engine ?? 'postgres',
          EngineVersion: source.version ?? '17',
          MasterUsername: source.masterUsername,
        },
        tags: input.Tags ?? [],
        statuses: [...fake.restoreScript.statuses],
        deletionProtection: Boolean(input.DeletionProtection),
        groupId: String(input.VpcSecurityGroupIds?.[0]),
        port: input.Port ?? 5432,
      });
      return { DBInstance: { DBInstanceIdentifier: id, DBInstanceStatus: 'creating' } };
    });
  }
}
