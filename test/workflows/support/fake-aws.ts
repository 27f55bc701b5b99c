import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  EC2ServiceException,
  type Filter,
  type IpPermission,
  type Tag,
} from '@aws-sdk/client-ec2';
import {
  CreateDBInstanceCommand,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  InstanceQuotaExceededFault,
  InvalidDBInstanceStateFault,
  ModifyDBInstanceCommand,
  RDSClient,
  RDSServiceException,
} from '@aws-sdk/client-rds';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { AwsCall } from '../../infra/support/iam.ts';

const $metadata = { httpStatusCode: 400 };

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
  /** Statuses the next describes report, in order; the last one repeats. */
  statuses: string[];
  deletionProtection: boolean;
  /** Describes left that report `deleting` before the instance is gone. */
  deletingDescribes?: number;
  groupId: string;
  port: number;
}

interface FakeGroup {
  id: string;
  name: string;
  vpcId: string;
  tags: Record<string, string>;
  permissions: IpPermission[];
  /** DependencyViolation answers left after its instance is gone (RDS releasing its ENIs). */
  enisLeft: number;
}

type Script = { statuses: string[] };

/**
 * RDS, EC2 and Secrets Manager as aws-sdk-client-mock fakes with just enough state to behave
 * like the services across a whole workflow. Every command is recorded in `calls`, with the
 * tags of the resource it acted on (IAM conditions need them).
 */
export class FakeAws {
  readonly rds = mockClient(RDSClient);
  readonly ec2 = mockClient(EC2Client);
  readonly secretsManager = mockClient(SecretsManagerClient);
  readonly calls: AwsCall[] = [];
  readonly instances = new Map<string, FakeInstance>();
  readonly groups = new Map<string, FakeGroup>();
  readonly secrets = new Map<string, string>();
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
    this.calls.length = 0;
    this.instances.clear();
    this.groups.clear();
    this.secrets.clear();
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
    this.installRds();
    this.installEc2();
    this.installSecretsManager();
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
        statuses: [...this.script.statuses],
        deletionProtection: Boolean(input.DeletionProtection),
        groupId: String(input.VpcSecurityGroupIds?.[0]),
        port: input.Port ?? 5432,
      });
      return { DBInstance: { DBInstanceIdentifier: id, DBInstanceStatus: 'creating' } };
    });
    this.rds.on(DescribeDBInstancesCommand).callsFake((input) => {
      this.record('rds', 'DescribeDBInstances', input);
      const id = String(input.DBInstanceIdentifier);
      const instance = this.instances.get(id);
      if (!instance) throw this.notFound(id);
      let status: string;
      if (instance.deletingDescribes !== undefined) {
        if (instance.deletingDescribes === 0) {
          this.removeInstance(instance);
          throw this.notFound(id);
        }
        instance.deletingDescribes -= 1;
        status = 'deleting';
      } else {
        status =
          (instance.statuses.length > 1 ? instance.statuses.shift() : instance.statuses[0]) ?? 'creating';
      }
      return {
        DBInstances: [
          {
            DBInstanceIdentifier: id,
            DBInstanceStatus: status,
            DeletionProtection: instance.deletionProtection,
            ...(status === 'available'
              ? {
                  Endpoint: {
                    Address: `${id}.abcdefghijkl.eu-west-1.rds.amazonaws.com`,
                    Port: instance.port,
                  },
                }
              : {}),
          },
        ],
      };
    });
    this.rds.on(ModifyDBInstanceCommand).callsFake((input) => {
      this.record('rds', 'ModifyDBInstance', input);
      const instance = this.instances.get(String(input.DBInstanceIdentifier));
      if (!instance) throw this.notFound(String(input.DBInstanceIdentifier));
      if (input.DeletionProtection !== undefined) instance.deletionProtection = input.DeletionProtection;
      return { DBInstance: { DBInstanceIdentifier: instance.id } };
    });
    this.rds.on(DeleteDBInstanceCommand).callsFake((input) => {
      this.record('rds', 'DeleteDBInstance', input);
      const instance = this.instances.get(String(input.DBInstanceIdentifier));
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
      this.groups.set(id, { id, name, vpcId: String(input.VpcId), tags, permissions: [], enisLeft: 0 });
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
    this.secretsManager.on(GetSecretValueCommand).callsFake((input) => {
      this.record('secretsmanager', 'GetSecretValue', input);
      const value = this.secrets.get(String(input.SecretId));
      if (value === undefined) throw missing(String(input.SecretId));
      return { Name: input.SecretId, SecretString: value };
    });
    this.secretsManager.on(PutSecretValueCommand).callsFake((input) => {
      this.record('secretsmanager', 'PutSecretValue', input);
      if (!this.secrets.has(String(input.SecretId))) throw missing(String(input.SecretId));
      this.secrets.set(String(input.SecretId), String(input.SecretString));
      return {};
    });
    this.secretsManager.on(CreateSecretCommand).callsFake((input) => {
      this.record('secretsmanager', 'CreateSecret', input);
      this.secrets.set(String(input.Name), String(input.SecretString));
      return { Name: input.Name };
    });
    this.secretsManager.on(DeleteSecretCommand).callsFake((input) => {
      this.record('secretsmanager', 'DeleteSecret', input);
      if (!this.secrets.delete(String(input.SecretId))) throw missing(String(input.SecretId));
      return {};
    });
  }
}
