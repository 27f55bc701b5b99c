import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import { DescribeSecurityGroupsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { DeleteObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import {
  CreateScheduleCommand,
  SchedulerClient,
  ThrottlingException as SchedulerThrottling,
} from '@aws-sdk/client-scheduler';
import {
  GetSecretValueCommand,
  InternalServiceError,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { TransientError } from '#shared/errors.ts';
import { isTransientAwsError } from '#shared/providers/aws/aws-errors.ts';
import { EventBridgeScheduleRunner } from '#shared/providers/aws/eventbridge-schedule-runner.ts';
import { postgresqlRdsProfile } from '#shared/providers/aws/postgresql/index.ts';
import { RdsEngineProvider } from '#shared/providers/aws/rds/rds-engine-provider.ts';
import { SecretsManagerStore } from '#shared/providers/aws/secrets-manager-store.ts';
import { SfnWorkflowStarter } from '#shared/providers/aws/sfn-workflow-starter.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { BackupStore } from '#shared/store/backup-store.ts';

const region = { region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
const ref = { projectId: 'proj-a', addonId: 'adn-1', operationId: 'op-1' };

/** An SDK error as the clients throw it: name, fault side and HTTP status. */
const awsError = (name: string, status: number, fault: 'client' | 'server' = 'client') =>
  Object.assign(new Error(`${name} happened`), {
    name,
    $fault: fault,
    $metadata: { httpStatusCode: status },
  });

describe('isTransientAwsError', () => {
  it.each([
    ['ThrottlingException', 400],
    ['Throttling', 400],
    ['ProvisionedThroughputExceededException', 400],
    ['RequestLimitExceeded', 503],
    ['TooManyRequestsException', 429],
    ['SlowDown', 503],
    ['InternalServerError', 500],
    ['ServiceUnavailable', 503],
    ['SomethingNew', 502],
  ])('treats %s (%i) as transient', (name, status) => {
    // Act / Assess
    expect(isTransientAwsError(awsError(name, status))).toBe(true);
  });

  it.each([
    ['ConditionalCheckFailedException', 400],
    ['AccessDeniedException', 403],
    ['ResourceNotFoundException', 404],
    ['ValidationException', 400],
  ])('treats %s (%i) as a real failure', (name, status) => {
    // Act / Assess
    expect(isTransientAwsError(awsError(name, status))).toBe(false);
  });

  it('treats a network failure below the SDK as transient', () => {
    // Act / Assess
    expect(isTransientAwsError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe(
      true,
    );
  });
});

describe('DynamoDB stores', () => {
  const dynamo = mockClient(DynamoDBDocumentClient);
  afterAll(() => dynamo.restore());
  beforeEach(() => dynamo.reset());
  const client = DynamoDBDocumentClient.from(new DynamoDBClient(region));

  it('turn a throttled read of the addon store into a TransientError', async () => {
    // Prepare
    dynamo.on(GetCommand).rejects(
      new ProvisionedThroughputExceededException({
        message: 'slow down',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const store = new AddonStore({ client, tableName: 't' });

    // Act / Assess
    await expect(store.findAddon('proj-a', 'adn-1')).rejects.toBeInstanceOf(TransientError);
  });

  it('turn a 5xx on a backup query into a TransientError', async () => {
    // Prepare
    dynamo.on(QueryCommand).rejects(awsError('InternalServerError', 500, 'server'));
    const store = new BackupStore({ client, tableName: 't' });

    // Act / Assess
    await expect(store.listSchedules('proj-a', 'adn-1')).rejects.toBeInstanceOf(TransientError);
  });

  it('still report a lost conditional write as a conflict, not a transient error', async () => {
    // Prepare
    dynamo.on(GetCommand).resolves({
      Item: { pk: 'p', sk: 's', id: 'op-1', projectId: 'proj-a', addonId: 'adn-1' },
    });
    dynamo
      .on(UpdateCommand)
      .rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: { httpStatusCode: 400 } }));
    const store = new AddonStore({ client, tableName: 't' });

    // Act
    const error = await store.updateOperation('proj-a', 'op-1', { status: 'failed' }).catch((e) => e);

    // Assess
    expect(error).not.toBeInstanceOf(TransientError);
  });
});

describe('S3 backup artifacts', () => {
  const s3 = mockClient(S3Client);
  afterAll(() => s3.restore());
  beforeEach(() => s3.reset());

  it('turn SlowDown (503) into a TransientError', async () => {
    // Prepare
    s3.on(DeleteObjectCommand).rejects(
      new S3ServiceException({ name: 'SlowDown', $fault: 'server', $metadata: { httpStatusCode: 503 } }),
    );
    const artifacts = new BackupArtifacts({ client: new S3Client(region), bucket: 'b' });

    // Act / Assess
    await expect(artifacts.delete({ bucket: 'b', key: 'dumps/x' })).rejects.toBeInstanceOf(TransientError);
  });
});

describe('Secrets Manager store', () => {
  const secrets = mockClient(SecretsManagerClient);
  afterAll(() => secrets.restore());
  beforeEach(() => secrets.reset());

  it('turns an internal service error into a TransientError', async () => {
    // Prepare
    secrets
      .on(GetSecretValueCommand)
      .rejects(new InternalServiceError({ message: 'oops', $metadata: { httpStatusCode: 500 } }));
    const store = new SecretsManagerStore({ client: new SecretsManagerClient(region), prefix: 'addons/' });

    // Act / Assess
    await expect(store.get(ref)).rejects.toBeInstanceOf(TransientError);
  });
});

describe('Step Functions starter', () => {
  const sfn = mockClient(SFNClient);
  afterAll(() => sfn.restore());
  beforeEach(() => sfn.reset());

  it('turns a throttled StartExecution into a TransientError', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).rejects(awsError('ThrottlingException', 400));
    const starter = new SfnWorkflowStarter({
      client: new SFNClient(region),
      stateMachineArns: { 'delete-addon': 'arn:aws:states:eu-west-1:123456789012:stateMachine:delete' },
    });

    // Act / Assess
    await expect(starter.start({ workflow: 'delete-addon', input: ref })).rejects.toBeInstanceOf(
      TransientError,
    );
  });
});

describe('EventBridge Scheduler runner', () => {
  const scheduler = mockClient(SchedulerClient);
  afterAll(() => scheduler.restore());
  beforeEach(() => scheduler.reset());

  it('turns a throttled CreateSchedule into a TransientError', async () => {
    // Prepare
    scheduler
      .on(CreateScheduleCommand)
      .rejects(
        new SchedulerThrottling({ Message: 'slow', message: 'slow', $metadata: { httpStatusCode: 429 } }),
      );
    const runner = new EventBridgeScheduleRunner({
      client: new SchedulerClient(region),
      groupName: 'g',
      targetArn: 'arn:aws:lambda:eu-west-1:123456789012:function:run-backup',
      roleArn: 'arn:aws:iam::123456789012:role/scheduler',
      deadLetterArn: 'arn:aws:sqs:eu-west-1:123456789012:schedule-dead-letters',
    });

    // Act
    const error = await runner
      .upsert({
        id: 'sch-1',
        ...ref,
        interval: 'hourly',
        days: null,
        hours: null,
        minutes: [0],
        retentionDays: 1,
        type: 'dump',
        compression: 'zstd',
        enabled: true,
        lastRun: null,
        createdAt: new Date().toISOString(),
        updatedAt: new Date().toISOString(),
      })
      .catch((e) => e);

    // Assess
    expect(error).toBeInstanceOf(TransientError);
  });
});

describe('RDS and EC2 provider', () => {
  const rds = mockClient(RDSClient);
  const ec2 = mockClient(EC2Client);
  afterAll(() => {
    rds.restore();
    ec2.restore();
  });
  beforeEach(() => {
    rds.reset();
    ec2.reset();
  });
  const provider = new RdsEngineProvider(postgresqlRdsProfile, {
    rds: new RDSClient(region),
    ec2: new EC2Client(region),
    vpcId: 'vpc-1',
    subnetGroupName: 'subnets',
    vpcCidr: '10.0.0.0/16',
    kmsKeyId: 'key',
    parameterGroups: { tls: {}, noTls: {} },
    deployment: 'Addons',
  });

  it('reports a throttled DescribeDBInstances as a TransientError, not a failed instance', async () => {
    // Prepare
    rds.on(DescribeDBInstancesCommand).rejects(awsError('Throttling', 400));

    // Act / Assess
    await expect(provider.describeInstance('addon-1')).rejects.toBeInstanceOf(TransientError);
  });

  it('reports an RDS 5xx while describing as a TransientError', async () => {
    // Prepare
    rds.on(DescribeDBInstancesCommand).rejects(awsError('InternalFailure', 500, 'server'));

    // Act / Assess
    await expect(provider.describeInstance('addon-1')).rejects.toBeInstanceOf(TransientError);
  });

  it('reports EC2 RequestLimitExceeded as a TransientError', async () => {
    // Prepare
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [] });
    ec2.on(DescribeSecurityGroupsCommand).rejects(awsError('RequestLimitExceeded', 503));

    // Act / Assess
    await expect(provider.describeInstance('addon-1')).rejects.toBeInstanceOf(TransientError);
  });
});
