import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  EC2ServiceException,
  type Filter,
  type IpPermission,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import {
  CreateDBInstanceCommand,
  type CreateDBInstanceCommandInput,
  CreateDBSnapshotCommand,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DBSnapshotAlreadyExistsFault,
  DBSnapshotNotFoundFault,
  DeleteDBInstanceCommand,
  DeleteDBSnapshotCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  DescribeEventsCommand,
  InstanceQuotaExceededFault,
  InvalidDBInstanceStateFault,
  ModifyDBInstanceCommand,
  RDSClient,
  RDSServiceException,
  type Tag as RdsTag,
  RebootDBInstanceCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  DeleteScheduleCommand,
  SchedulerClient,
  ResourceNotFoundException as SchedulerResourceNotFound,
} from '@aws-sdk/client-scheduler';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { AwsCall } from '../../infra/support/iam.ts';

const $metadata = { httpStatusCode: 400 };

const tagsOf = (tags: RdsTag[]): Record<string, string> =>
  Object.fromEntries(tags.map((tag) => [String(tag.Key), String(tag.Value)]));

/** AWS errors as the SDK raises them: modeled RDS faults, unmodeled EC2 codes. */
export const awsErrors = {
  rdsThrottling: () =>
    new RDSServiceException({ name: 'Throttling', $fault: 'client', $metadata, message: 'Rate exceeded' }),
  rdsQuota: () => new InstanceQuotaExceededFault({ $metadata, message: 'DB Instance quota exceeded' }),
  rdsInvalidState: (id: string, status: string) =>
    new InvalidDBInstanceStateFault({ $metadata, message: `Database instance ${id} is in ${status} state` }),
  ec2: (code: string, message: string) =>
    new EC2ServiceException({ name: code, $fault: 'client', $metadata, message }),
};

interface FakeInstance {
  id: string;
  /** What the instance was created or restored with (class, subnet group, parameter group...). */
  settings: Partial<CreateDBInstanceCommandInput>;
  tags: RdsTag[];
  /** Statuses the next describes report, in order; the last one repeats. */
  statuses: string[];
  deletionProtection: boolean;
  /** A read replica's source instance (CreateDBInstanceReadReplica: fake-rds-replicas.ts). */
  replicaOf?: string;
  /** Describes left that report `deleting` before the instance is gone. */
  deletingDescribes?: number;
  groupId: string;
  port: number;
  /** The parameter group's ParameterApplyStatus: `pending-reboot` after a switch, until a reboot. */
  parameterApplyStatus?: string;
}

interface FakeGroup {
  id: string;
  name: string;
  vpcId: string;
  tags: Record<string, string>;
  permissions: IpPermission[];
  egress: IpPermission[];
  /** DependencyViolation answers left after its instance is gone (RDS releasing its ENIs). */
  enisLeft: number;
}

type Script = { statuses: string[] };

interface FakeSnapshot {
  id: string;
  instanceId: string;
  tags: RdsTag[];
  statuses: string[];
  allocatedStorage: number;
  /** The source instance's engine, version and master user: a restored instance has them. */
  engine?: string;
  engineVersion?: string;
  masterUsername?: string;
}

/**
 * RDS, EC2 and Secrets Manager as aws-sdk-client-mock fakes with just enough state to behave
 * like the services across a whole workflow. Every command is recorded in `calls`, with the
 * tags of the resource it acted on (IAM conditions need them).
 */
export class FakeAws {
  readonly rds = mockClient(RDSClient);
  readonly ec2 = mockClient(EC2Client);
  readonly secretsManager = mockClient(SecretsManagerClient);
  readonly s3 = mockClient(S3Client);
  readonly scheduler = mockClient(SchedulerClient);
  /** EventBridge Scheduler schedules that exist: `group/name`. */
  readonly schedules = new Set<string>();
  readonly calls: AwsCall[] = [];
  readonly snapshots = new Map<string, FakeSnapshot>();
  /** Bucket/key -> body. */
  readonly objects = new Map<string, string>();
  /** What each new snapshot reports; set per scenario. */
  snapshotScript: Script = { statuses: ['creating', 'available'] };
  /** What an instance restored from a snapshot reports. */
  restoreScript: Script = { statuses: ['creating', 'available'] };
  /** What an EngineVersion change does: upgrade the instance, or leave it on its version (a failed pre-check). */
  upgradeOutcome: 'upgraded' | 'refused' = 'upgraded';
  /** RDS events DescribeEvents answers (of any source; filtered by the request). */
  readonly rdsEvents: Array<{ SourceIdentifier: string; Message: string; Date: Date }> = [];
  readonly instances = new Map<string, FakeInstance>();
  readonly groups = new Map<string, FakeGroup>();
  readonly secrets = new Map<string, string>();
  /** The version id of each secret's AWSCURRENT value (absent: the one it was created with). */
  readonly secretVersions = new Map<string, string>();
  /** Each secret's AWSPENDING version, where one is staged. */
  readonly pendingSecrets = new Map<string, { versionId: string; value: string }>();
  /** What each new instance reports; set per scenario. */
  script: Script = { statuses: ['creating', 'available'] };
  /** Describes that still see the instance `deleting` after DeleteDBInstance. */
  deletingDescribes = 2;
  /** DependencyViolation answers for a group after its instance is gone. */
  eniReleaseAttempts = 1;
  /** Errors the next calls of a command throw, before it behaves. */
  readonly failNext = new Map<string, Error[]>();
  private groupCounter = 0;

  constructor() {
    this.install();
  }

  reset(): void {
    this.rds.reset();
    this.ec2.reset();
    this.secretsManager.reset();
    this.s3.reset();
    this.scheduler.reset();
    this.schedules.clear();
    this.calls.length = 0;
    this.snapshots.clear();
    this.objects.clear();
    this.snapshotScript = { statuses: ['creating', 'available'] };
    this.restoreScript = { statuses: ['creating', 'available'] };
    this.upgradeOutcome = 'upgraded';
    this.rdsEvents.length = 0;
    this.instances.clear();
    this.groups.clear();
    this.secrets.clear();
    this.secretVersions.clear();
    this.pendingSecrets.clear();
    this.failNext.clear();
    this.groupCounter = 0;
    this.script = { statuses: ['creating', 'available'] };
    this.deletingDescribes = 2;
    this.eniReleaseAttempts = 1;
    this.install();
  }

  restore(): void {
    this.rds.restore();
    this.ec2.restore();
    this.secretsManager.restore();
    this.s3.restore();
    this.scheduler.restore();
  }

  /** The commands sent to one service, in order, e.g. `['DescribeDBInstances', ...]`. */
  commands(service: AwsCall['service']): string[] {
    return this.calls.filter((call) => call.service === service).map((call) => call.command);
  }

  inputsOf(service: AwsCall['service'], command: string): Record<string, unknown>[] {
    return this.calls
      .filter((call) => call.service === service && call.command === command)
      .map((call) => call.input);
  }

  private record(
    service: AwsCall['service'],
    command: string,
    input: object,
    resourceTags?: Record<string, string>,
  ) {
    this.calls.push({
      service,
      command,
      input: structuredClone(input) as Record<string, unknown>,
      resourceTags,
    });
    const error = this.failNext.get(command)?.shift();
    if (error) throw error;
  }

  private install(): void {
    const unexpected = (service: string) => () => {
      throw new Error(`${service}: unexpected command`);
    };
    this.rds.onAnyCommand().callsFake(unexpected('RDS'));
    this.ec2.onAnyCommand().callsFake(unexpected('EC2'));
    this.secretsManager.onAnyCommand().callsFake(unexpected('Secrets Manager'));
    this.s3.onAnyCommand().callsFake(unexpected('S3'));
    this.scheduler.onAnyCommand().callsFake(unexpected('EventBridge Scheduler'));
    this.installRds();
    this.installSnapshots();
    this.installEc2();
    this.installSecretsManager();
    this.installS3();
    this.installScheduler();
  }

  private installScheduler(): void {
    this.scheduler.on(DeleteScheduleCommand).callsFake((input) => {
      this.record('scheduler', 'DeleteSchedule', input);
      if (!this.schedules.delete(`${input.GroupName}/${input.Name}`)) {
        const message = `Schedule ${input.Name} does not exist.`;
        throw new SchedulerResourceNotFound({ $metadata, message, Message: message });
      }
      return {};
    });
  }

  private notFound(id: string) {
    return new DBInstanceNotFoundFault({ $metadata, message: `DBInstance ${id} not found.` });
  }

  private installRds(): void {
    this.rds.on(CreateDBInstanceCommand).callsFake((input) => {
      this.record('rds', 'CreateDBInstance', input);
      const id = String(input.DBInstanceIdentifier);
      if (this.instances.has(id)) {
        throw new DBInstanceAlreadyExistsFault({ $metadata, message: 'DB instance already exists' });
      }
      this.instances.set(id, {
        id,
        settings: input,
        tags: input.Tags ?? [],
        statuses: [...this.script.statuses],
        deletionProtection: Boolean(input.DeletionProtection),
        groupId: String(input.VpcSecurityGroupIds?.[0]),
        port: input.Port ?? 5432,
      });
      return { DBInstance: { DBInstanceIdentifier: id, DBInstanceStatus: 'creating' } };
    });
    this.rds.on(DescribeDBInstancesCommand).callsFake((input) => {
      this.record('rds', 'DescribeDBInstances', input);
      // `db-instance-id` filters (the read replicas' lookup): the named instances that exist.
      const ids = input.Filters?.find(
        (filter: { Name?: string }) => filter.Name === 'db-instance-id',
      )?.Values;
      if (ids) {
        return {
          DBInstances: ids.flatMap((id: string) => {
            const described = this.instances.has(id) ? this.describeOne(id) : undefined;
            return described ? [described] : [];
          }),
        };
      }
      const id = String(input.DBInstanceIdentifier);
      const described = this.describeOne(id);
      if (!described) throw this.notFound(id);
      return { DBInstances: [described] };
    });
    this.installRdsChanges();
  }

  /**
   * One instance as DescribeDBInstances reports it, its scripted status advanced; undefined once
   * it is gone (a deletion's last describe removes it).
   */
  private describeOne(id: string) {
    const instance = this.instances.get(id);
    if (!instance) return undefined;
    let status: string;
    if (instance.deletingDescribes !== undefined) {
      if (instance.deletingDescribes === 0) {
        this.removeInstance(instance);
        return undefined;
      }
      instance.deletingDescribes -= 1;
      status = 'deleting';
    } else {
      status =
        (instance.statuses.length > 1 ? instance.statuses.shift() : instance.statuses[0]) ?? 'creating';
    }
    const { settings } = instance;
    const replicas = [...this.instances.values()].filter((each) => each.replicaOf === id);
    return {
      DBInstanceIdentifier: id,
      ...(instance.replicaOf ? { ReadReplicaSourceDBInstanceIdentifier: instance.replicaOf } : {}),
      ReadReplicaDBInstanceIdentifiers: replicas.map((replica) => replica.id),
      DBInstanceStatus: status,
      MasterUsername: settings.MasterUsername,
      Engine: settings.Engine,
      EngineVersion: settings.EngineVersion,
      DeletionProtection: instance.deletionProtection,
      DBInstanceClass: settings.DBInstanceClass,
      AllocatedStorage: settings.AllocatedStorage,
      StorageType: settings.StorageType,
      MultiAZ: settings.MultiAZ,
      BackupRetentionPeriod: settings.BackupRetentionPeriod,
      DBSubnetGroup: { DBSubnetGroupName: settings.DBSubnetGroupName },
      PubliclyAccessible: Boolean(settings.PubliclyAccessible),
      VpcSecurityGroups: [{ VpcSecurityGroupId: instance.groupId, Status: 'active' }],
      DBParameterGroups: [
        {
          DBParameterGroupName:
            settings.DBParameterGroupName ?? `default.${settings.Engine}${settings.EngineVersion}`,
          ParameterApplyStatus: instance.parameterApplyStatus ?? 'in-sync',
        },
      ],
      TagList: structuredClone(instance.tags),
      ...(status === 'available'
        ? {
            Endpoint: {
              Address: `${id}.abcdefghijkl.eu-west-1.rds.amazonaws.com`,
              Port: instance.port,
            },
          }
        : {}),
    };
  }

  private installRdsChanges(): void {
    this.rds.on(ModifyDBInstanceCommand).callsFake((input) => {
      const instance = this.instances.get(String(input.DBInstanceIdentifier));
      this.record('rds', 'ModifyDBInstance', input, instance ? tagsOf(instance.tags) : undefined);
      if (!instance) throw this.notFound(String(input.DBInstanceIdentifier));
      if (input.DeletionProtection !== undefined) instance.deletionProtection = input.DeletionProtection;
      // A new master password applies asynchronously: RDS shows the reset before `available` again.
      if (input.MasterUserPassword) instance.statuses = ['resetting-master-credentials', 'available'];
      // A scaling change (ApplyImmediately): `modifying` for a while, then available with it.
      const { DBInstanceClass, AllocatedStorage, MultiAZ, BackupRetentionPeriod } = input;
      if (DBInstanceClass || AllocatedStorage || MultiAZ !== undefined) {
        instance.statuses = ['modifying', 'modifying', 'available'];
        Object.assign(
          instance.settings,
          Object.fromEntries(
            Object.entries({ DBInstanceClass, AllocatedStorage, MultiAZ, BackupRetentionPeriod }).filter(
              ([, value]) => value !== undefined,
            ),
          ),
        );
      }
      // Public access (applied at once: `modifying`, then available with it), and a parameter
      // group switch: associated at once, in force from the next reboot.
      if (input.PubliclyAccessible !== undefined) {
        instance.statuses = ['modifying', 'available'];
        instance.settings.PubliclyAccessible = input.PubliclyAccessible;
      }
      if (input.DBParameterGroupName && !input.EngineVersion) {
        instance.statuses = ['modifying', 'available'];
        instance.settings.DBParameterGroupName = input.DBParameterGroupName;
        instance.parameterApplyStatus = 'pending-reboot';
      }
      // A major upgrade: `upgrading` for a while, then available on the new version's default minor.
      if (input.EngineVersion) {
        instance.statuses = ['upgrading', 'available'];
        if (this.upgradeOutcome === 'upgraded') {
          instance.settings.EngineVersion = `${input.EngineVersion}.1`;
          instance.settings.DBParameterGroupName = input.DBParameterGroupName;
        }
      }
      const newId = input.NewDBInstanceIdentifier;
      if (newId) {
        if (this.instances.has(newId)) {
          throw new DBInstanceAlreadyExistsFault({ $metadata, message: 'DB instance already exists' });
        }
        // RDS shows the new identifier at once, `renaming` until the endpoint follows.
        this.instances.delete(instance.id);
        instance.id = newId;
        instance.statuses = ['renaming', 'available'];
        this.instances.set(newId, instance);
      }
      return { DBInstance: { DBInstanceIdentifier: instance.id } };
    });
    this.rds.on(DescribeEventsCommand).callsFake((input) => {
      this.record('rds', 'DescribeEvents', input);
      const since = input.StartTime?.getTime() ?? 0;
      return {
        Events: this.rdsEvents
          .filter(
            (event) => event.SourceIdentifier === input.SourceIdentifier && event.Date.getTime() >= since,
          )
          .map((event) => ({ ...event, SourceType: 'db-instance' as const })),
      };
    });
    this.rds.on(RebootDBInstanceCommand).callsFake((input) => {
      const instance = this.instances.get(String(input.DBInstanceIdentifier));
      this.record('rds', 'RebootDBInstance', input, instance ? tagsOf(instance.tags) : undefined);
      if (!instance) throw this.notFound(String(input.DBInstanceIdentifier));
      instance.statuses = ['rebooting', 'available'];
      instance.parameterApplyStatus = 'in-sync';
      return { DBInstance: { DBInstanceIdentifier: instance.id, DBInstanceStatus: 'rebooting' } };
    });
    this.rds.on(DeleteDBInstanceCommand).callsFake((input) => {
      const instance = this.instances.get(String(input.DBInstanceIdentifier));
      this.record('rds', 'DeleteDBInstance', input, instance ? tagsOf(instance.tags) : undefined);
      if (!instance) throw this.notFound(String(input.DBInstanceIdentifier));
      if (instance.deletionProtection) {
        throw new RDSServiceException({
          name: 'InvalidParameterCombination',
          $fault: 'client',
          $metadata,
          message: 'Cannot delete protected DB Instance, please disable deletion protection and try again.',
        });
      }
      instance.deletingDescribes ??= this.deletingDescribes;
      return { DBInstance: { DBInstanceIdentifier: instance.id, DBInstanceStatus: 'deleting' } };
    });
  }

  private installSnapshots(): void {
    const snapshotNotFound = (id: string) =>
      new DBSnapshotNotFoundFault({ $metadata, message: `DBSnapshot ${id} not found.` });
    this.rds.on(CreateDBSnapshotCommand).callsFake((input) => {
      const instance = this.instances.get(String(input.DBInstanceIdentifier));
      this.record('rds', 'CreateDBSnapshot', input, instance ? tagsOf(instance.tags) : undefined);
      if (!instance) throw this.notFound(String(input.DBInstanceIdentifier));
      const id = String(input.DBSnapshotIdentifier);
      if (this.snapshots.has(id)) {
        throw new DBSnapshotAlreadyExistsFault({ $metadata, message: 'Snapshot already exists' });
      }
      this.snapshots.set(id, {
        id,
        instanceId: instance.id,
        tags: input.Tags ?? [],
        statuses: [...this.snapshotScript.statuses],
        allocatedStorage: instance.settings.AllocatedStorage ?? 20,
        engine: instance.settings.Engine,
        engineVersion: instance.settings.EngineVersion,
        masterUsername: instance.settings.MasterUsername,
      });
      return { DBSnapshot: { DBSnapshotIdentifier: id, Status: 'creating' } };
    });
    this.rds.on(DescribeDBSnapshotsCommand).callsFake((input) => {
      this.record('rds', 'DescribeDBSnapshots', input);
      const snapshot = this.snapshots.get(String(input.DBSnapshotIdentifier));
      if (!snapshot) throw snapshotNotFound(String(input.DBSnapshotIdentifier));
      const status =
        (snapshot.statuses.length > 1 ? snapshot.statuses.shift() : snapshot.statuses[0]) ?? 'creating';
      return {
        DBSnapshots: [
          {
            DBSnapshotIdentifier: snapshot.id,
            DBInstanceIdentifier: snapshot.instanceId,
            Status: status,
            AllocatedStorage: snapshot.allocatedStorage,
          },
        ],
      };
    });
    this.rds.on(DeleteDBSnapshotCommand).callsFake((input) => {
      const snapshot = this.snapshots.get(String(input.DBSnapshotIdentifier));
      this.record('rds', 'DeleteDBSnapshot', input, snapshot ? tagsOf(snapshot.tags) : undefined);
      if (!this.snapshots.delete(String(input.DBSnapshotIdentifier))) {
        throw snapshotNotFound(String(input.DBSnapshotIdentifier));
      }
      return {};
    });
    this.rds.on(RestoreDBInstanceFromDBSnapshotCommand).callsFake((input) => {
      const source = this.snapshots.get(String(input.DBSnapshotIdentifier));
      this.record('rds', 'RestoreDBInstanceFromDBSnapshot', input, source ? tagsOf(source.tags) : undefined);
      const restoreCall = this.calls.at(-1);
      if (restoreCall && source?.engine && source.engineVersion) {
        restoreCall.snapshotEngine = { engine: source.engine, version: source.engineVersion };
      }
      const id = String(input.DBInstanceIdentifier);
      if (!this.snapshots.has(String(input.DBSnapshotIdentifier))) {
        throw snapshotNotFound(String(input.DBSnapshotIdentifier));
      }
      if (this.instances.has(id)) {
        throw new DBInstanceAlreadyExistsFault({ $metadata, message: 'DB instance already exists' });
      }
      this.instances.set(id, {
        id,
        settings: {
          ...input,
          Engine: source?.engine ?? 'postgres',
          EngineVersion: source?.engineVersion ?? '17',
          MasterUsername: source?.masterUsername,
        },
        tags: input.Tags ?? [],
        statuses: [...this.restoreScript.statuses],
        deletionProtection: Boolean(input.DeletionProtection),
        groupId: String(input.VpcSecurityGroupIds?.[0]),
        port: input.Port ?? 5432,
      });
      return { DBInstance: { DBInstanceIdentifier: id, DBInstanceStatus: 'creating' } };
    });
  }

  private installS3(): void {
    const objectKey = (input: { Bucket?: string; Key?: string }) => `${input.Bucket}/${input.Key}`;
    this.s3.on(PutObjectCommand).callsFake((input) => {
      this.record('s3', 'PutObject', { Bucket: input.Bucket, Key: input.Key });
      this.objects.set(objectKey(input), String(input.Body));
      return {};
    });
    this.s3.on(GetObjectCommand).callsFake((input) => {
      this.record('s3', 'GetObject', input);
      const body = this.objects.get(objectKey(input));
      if (body === undefined)
        throw new NoSuchKey({ $metadata, message: 'The specified key does not exist.' });
      // BackupArtifacts reads the body with transformToString, as the SDK's stream offers it.
      return { Body: { transformToString: async () => body } as never };
    });
    this.s3.on(HeadObjectCommand).callsFake((input) => {
      this.record('s3', 'HeadObject', input);
      const body = this.objects.get(objectKey(input));
      if (body === undefined) throw new NotFound({ $metadata, message: 'Not Found' });
      return { ContentLength: Buffer.byteLength(body) };
    });
    this.s3.on(DeleteObjectCommand).callsFake((input) => {
      this.record('s3', 'DeleteObject', input);
      this.objects.delete(objectKey(input));
      return {};
    });
  }

  /** What the dump job leaves in S3 (functions/jobs/main.ts): the artifact, then its result beside it. */
  putDump(bucket: string, key: string, resultKey: string, body = 'PGDMP fake dump'): void {
    this.objects.set(`${bucket}/${key}`, body);
    this.objects.set(
      `${bucket}/${resultKey}`,
      JSON.stringify({ sizeBytes: Buffer.byteLength(body), sha256: 'a'.repeat(64), compression: 'zstd' }),
    );
  }

  private removeInstance(instance: FakeInstance): void {
    this.instances.delete(instance.id);
    const group = this.groups.get(instance.groupId);
    if (group) group.enisLeft = this.eniReleaseAttempts;
  }

  private installEc2(): void {
    this.ec2.on(DescribeSecurityGroupsCommand).callsFake((input) => {
      this.record('ec2', 'DescribeSecurityGroups', input);
      const filter = (name: string) =>
        input.Filters?.find((entry: Filter) => entry.Name === name)?.Values ?? [];
      const groups = [...this.groups.values()].filter(
        (group) =>
          (filter('vpc-id').length === 0 || filter('vpc-id').includes(group.vpcId)) &&
          (filter('group-name').length === 0 || filter('group-name').includes(group.name)),
      );
      return {
        SecurityGroups: groups.map((group) => ({
          GroupId: group.id,
          GroupName: group.name,
          VpcId: group.vpcId,
          IpPermissions: structuredClone(group.permissions),
          IpPermissionsEgress: structuredClone(group.egress),
          Tags: Object.entries(group.tags).map(([Key, Value]) => ({ Key, Value })),
        })),
      };
    });
    this.ec2.on(CreateSecurityGroupCommand).callsFake((input) => {
      this.record('ec2', 'CreateSecurityGroup', input);
      const name = String(input.GroupName);
      if ([...this.groups.values()].some((group) => group.name === name && group.vpcId === input.VpcId)) {
        throw awsErrors.ec2('InvalidGroup.Duplicate', `The security group '${name}' already exists`);
      }
      const id = `sg-${String(++this.groupCounter).padStart(17, '0')}`;
      const tags = Object.fromEntries(
        (input.TagSpecifications?.[0]?.Tags ?? []).map((tag: Tag) => [String(tag.Key), String(tag.Value)]),
      );
      // EC2 gives every new group an "all traffic to anywhere" egress rule.
      const egress = [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }];
      this.groups.set(id, {
        id,
        name,
        vpcId: String(input.VpcId),
        tags,
        permissions: [],
        egress,
        enisLeft: 0,
      });
      return { GroupId: id };
    });
    this.ec2.on(AuthorizeSecurityGroupIngressCommand).callsFake((input) => {
      const group = this.groups.get(String(input.GroupId));
      this.record('ec2', 'AuthorizeSecurityGroupIngress', input, group?.tags);
      if (!group)
        throw awsErrors.ec2('InvalidGroup.NotFound', `The security group '${input.GroupId}' does not exist`);
      group.permissions.push(...(input.IpPermissions ?? []));
      return { Return: true };
    });
    this.ec2.on(RevokeSecurityGroupIngressCommand).callsFake((input) => {
      const group = this.groups.get(String(input.GroupId));
      this.record('ec2', 'RevokeSecurityGroupIngress', input, group?.tags);
      if (!group)
        throw awsErrors.ec2('InvalidGroup.NotFound', `The security group '${input.GroupId}' does not exist`);
      // EC2 matches a rule by protocol, ports and source (not its description).
      const key = (rule: IpPermission) =>
        JSON.stringify([rule.IpProtocol, rule.FromPort, rule.ToPort, rule.IpRanges?.map((r) => r.CidrIp)]);
      const revoked = new Set((input.IpPermissions ?? []).map(key));
      const before = group.permissions.length;
      group.permissions = group.permissions.filter((rule) => !revoked.has(key(rule)));
      if (group.permissions.length === before) {
        throw awsErrors.ec2(
          'InvalidPermission.NotFound',
          'The specified rule does not exist in this security group',
        );
      }
      return { Return: true };
    });
    this.ec2.on(AuthorizeSecurityGroupEgressCommand).callsFake((input) => {
      const group = this.groups.get(String(input.GroupId));
      this.record('ec2', 'AuthorizeSecurityGroupEgress', input, group?.tags);
      if (!group)
        throw awsErrors.ec2('InvalidGroup.NotFound', `The security group '${input.GroupId}' does not exist`);
      group.egress.push(...(input.IpPermissions ?? []));
      return { Return: true };
    });
    this.ec2.on(RevokeSecurityGroupEgressCommand).callsFake((input) => {
      const group = this.groups.get(String(input.GroupId));
      this.record('ec2', 'RevokeSecurityGroupEgress', input, group?.tags);
      if (!group)
        throw awsErrors.ec2('InvalidGroup.NotFound', `The security group '${input.GroupId}' does not exist`);
      const revoked = JSON.stringify(input.IpPermissions);
      const before = group.egress.length;
      group.egress = group.egress.filter((rule) => JSON.stringify([rule]) !== revoked);
      if (group.egress.length === before) {
        throw awsErrors.ec2(
          'InvalidPermission.NotFound',
          'The specified rule does not exist in this security group',
        );
      }
      return { Return: true };
    });
    this.ec2.on(DeleteSecurityGroupCommand).callsFake((input) => {
      const group = this.groups.get(String(input.GroupId));
      this.record('ec2', 'DeleteSecurityGroup', input, group?.tags);
      if (!group)
        throw awsErrors.ec2('InvalidGroup.NotFound', `The security group '${input.GroupId}' does not exist`);
      const inUse = [...this.instances.values()].some((instance) => instance.groupId === group.id);
      if (inUse || group.enisLeft > 0) {
        if (!inUse) group.enisLeft -= 1;
        throw awsErrors.ec2('DependencyViolation', `resource ${group.id} has a dependent object`);
      }
      this.groups.delete(group.id);
      return {};
    });
  }

  private installSecretsManager(): void {
    const missing = (id: string) =>
      new ResourceNotFoundException({
        $metadata,
        message: `Secrets Manager can't find the specified secret: ${id}`,
      });
    const invalid = (message: string) => new InvalidParameterException({ $metadata, message });
    this.secretsManager.on(GetSecretValueCommand).callsFake((input) => {
      this.record('secretsmanager', 'GetSecretValue', input);
      const id = String(input.SecretId);
      if (input.VersionStage === 'AWSPENDING') {
        const pending = this.pendingSecrets.get(id);
        if (!pending) throw missing(id);
        return { Name: id, SecretString: pending.value, VersionId: pending.versionId };
      }
      const value = this.secrets.get(id);
      if (value === undefined) throw missing(id);
      return { Name: id, SecretString: value, VersionId: this.secretVersions.get(id) ?? 'v-created' };
    });
    this.secretsManager.on(PutSecretValueCommand).callsFake((input) => {
      this.record('secretsmanager', 'PutSecretValue', input);
      const id = String(input.SecretId);
      if (!this.secrets.has(id)) throw missing(id);
      const versionId = input.ClientRequestToken ?? `v-${this.calls.length}`;
      if (input.VersionStages?.includes('AWSPENDING')) {
        const pending = this.pendingSecrets.get(id);
        if (pending && pending.versionId === versionId && pending.value !== input.SecretString)
          throw invalid('A version with this ClientRequestToken exists with another value');
        this.pendingSecrets.set(id, { versionId, value: String(input.SecretString) });
        return { VersionId: versionId };
      }
      this.secrets.set(id, String(input.SecretString));
      this.secretVersions.set(id, versionId);
      return { VersionId: versionId };
    });
    this.secretsManager.on(UpdateSecretVersionStageCommand).callsFake((input) => {
      this.record('secretsmanager', 'UpdateSecretVersionStage', input);
      const id = String(input.SecretId);
      if (!this.secrets.has(id)) throw missing(id);
      const pending = this.pendingSecrets.get(id);
      if (input.VersionStage === 'AWSCURRENT') {
        const current = this.secretVersions.get(id) ?? 'v-created';
        if (input.RemoveFromVersionId !== current)
          throw invalid('AWSCURRENT is attached to another version: name it in RemoveFromVersionId');
        if (!pending || pending.versionId !== input.MoveToVersionId) throw invalid('No such version');
        this.secrets.set(id, pending.value);
        this.secretVersions.set(id, pending.versionId);
        return {};
      }
      if (input.VersionStage === 'AWSPENDING' && input.RemoveFromVersionId) {
        if (pending?.versionId !== input.RemoveFromVersionId)
          throw invalid('AWSPENDING is not attached to that version');
        this.pendingSecrets.delete(id);
        return {};
      }
      throw invalid(`Unexpected stage change ${JSON.stringify(input)}`);
    });
    this.secretsManager.on(CreateSecretCommand).callsFake((input) => {
      this.record('secretsmanager', 'CreateSecret', input);
      this.secrets.set(String(input.Name), String(input.SecretString));
      return { Name: input.Name };
    });
    this.secretsManager.on(DeleteSecretCommand).callsFake((input) => {
      this.record('secretsmanager', 'DeleteSecret', input);
      this.pendingSecrets.delete(String(input.SecretId));
      this.secretVersions.delete(String(input.SecretId));
      if (!this.secrets.delete(String(input.SecretId))) throw missing(String(input.SecretId));
      return {};
    });
  }
}
