import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  PutMetricAlarmCommand,
} from '@aws-sdk/client-cloudwatch';
import { DeleteSecurityGroupCommand, DescribeSecurityGroupsCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DeleteDBInstanceCommand,
  DeleteDBSnapshotCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBInstanceCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ListSchedulesCommand,
  SchedulerClient,
  UpdateScheduleCommand,
} from '@aws-sdk/client-scheduler';
import {
  DeleteSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  ExecutionLimitExceeded,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  CreateTopicCommand,
  DeleteTopicCommand,
  ListSubscriptionsByTopicCommand,
  ListTopicsCommand,
  SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DynamoEmulator, startDynamo } from '#infra/local/emulators.ts';
import type { ApiEvent, ApiResponse } from '#shared/api/http-handler.ts';
import { API_FUNCTIONS, type ApiFunctionName } from '#shared/api/route.ts';
import { routes } from '#shared/api/routes.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { BackupStore } from '#shared/store/backup-store.ts';
import { newId, nowIso } from '#shared/util/ids.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { logicalIdOf } from '../workflows/support/aws-workflows.ts';
import { installDocdbFakes, putMongodbSnapshotBackup } from './support/docdb-fakes.ts';
import { installElastiCacheFakes } from './support/elasticache-fakes.ts';
import {
  type AwsCall,
  type CallEnvironment,
  deniedPermissions,
  FUNCTION_BASELINE_ACTIONS,
  roleStatements,
  unusedActions,
} from './support/iam.ts';
import { PITR_WINDOW_ACTIONS } from './support/iam-pitr.ts';
import { FAKE_ENV, functionEnvironment, resolveIntrinsics } from './support/intrinsics.ts';
import {
  exerciseImportedAddons,
  exerciseLiveImport,
  installLiveImportSecretFakes,
} from './support/live-import-calls.ts';
import {
  exerciseSecretGroups,
  SECRET_GROUP_STATUSES,
  seedSecretGroupsForSweep,
} from './support/secret-group-calls.ts';
import { SYNTH_TIMEOUT_MS, type SynthesizedStack, synthesizeAddons } from './support/stack.ts';

/**
 * The API functions' `handler` exports (and the schedule functions': run-backup and the
 * retention sweep), with the environment CDK gives them, send their real requests: DynamoDB to
 * dynalite (through the SDK's endpoint variable), Step Functions, Secrets Manager, S3, RDS and
 * EventBridge Scheduler to aws-sdk-client-mock. Every command each function sends is recorded
 * and checked against that function's synthesized role, both ways.
 */

type Handler = (event: ApiEvent, context: Context) => Promise<ApiResponse>;
type FunctionName = ApiFunctionName | 'runBackup' | 'sweep' | 'reconcile';

const PROJECT = 'proj-iam';
const calls = Object.fromEntries(
  [...API_FUNCTIONS, 'runBackup', 'sweep', 'reconcile'].map((name) => [name, [] as AwsCall[]]),
) as Record<FunctionName, AwsCall[]>;
let current: AwsCall[] = [];
let testDocumentClient: DynamoDBDocumentClient;
let testTableName: string;
let synthesized: SynthesizedStack;
let dynamo: DynamoEmulator;
let dataDir: string;
const sfn = mockClient(SFNClient);
const secretsManager = mockClient(SecretsManagerClient);
const s3 = mockClient(S3Client);
const rds = mockClient(RDSClient);
const scheduler = mockClient(SchedulerClient);
const ec2 = mockClient(EC2Client);
const cloudwatch = mockClient(CloudWatchClient);
const sns = mockClient(SNSClient);
let docdb: ReturnType<typeof installDocdbFakes> | undefined;
let elasticache: ReturnType<typeof installElastiCacheFakes> | undefined;
const handlers: Partial<Record<ApiFunctionName, Handler>> = {};
let runBackup: (event: unknown, context: Context) => Promise<unknown>;
let sweep: (event: unknown, context: Context) => Promise<unknown>;
let reconcile: (event: unknown, context: Context) => Promise<unknown>;
/** Tags of the resources the fakes list, by identifier: delete calls are authorized on them. */
const tagsById = new Map<string, Record<string, string>>();
/** Operations whose execution the fake Step Functions reports running; others do not exist. */
const runningExecutions = new Set<string>();
/** The test's own view of the table: not recorded. */
let store: AddonStore;
let backupStore: BackupStore;
let bucket: string;

beforeAll(async () => {
  synthesized = synthesizeAddons();
  const { json: template, stack } = synthesized;
  const environments = [
    ...Object.values(stack.api.functions),
    stack.schedules.runBackup,
    stack.schedules.sweep,
    stack.reconciler.function,
  ].map((fn) => functionEnvironment(template, logicalIdOf(synthesized, fn.function)));
  bucket = environments.find((env) => env.BACKUP_BUCKET)?.BACKUP_BUCKET ?? '';
  const tableName = environments.find((env) => env.TABLE_NAME)?.TABLE_NAME ?? '';
  dataDir = await mkdtemp(join(tmpdir(), 'addons-api-iam-'));
  dynamo = await startDynamo(dataDir, tableName);
  Object.assign(process.env, ...environments, {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
  });

  // The one DynamoDB client of the API composition root, shared by the handlers.
  const { dynamoClient } = await import('#functions/api/aws-clients.ts');
  dynamoClient().middlewareStack.add(
    (next, context) => async (args) => {
      current.push({
        service: 'dynamodb',
        command: String(context.commandName).replace(/Command$/, ''),
        input: structuredClone(args.input) as Record<string, unknown>,
      });
      return next(args);
    },
    { step: 'initialize', name: 'recordDynamoCalls' },
  );
  sfn.on(StartExecutionCommand).callsFake((input) => {
    current.push({ service: 'states', command: 'StartExecution', input });
    if (refuseNextStart) {
      refuseNextStart = false;
      throw new ExecutionLimitExceeded({ $metadata: {}, message: 'Too many executions' });
    }
    return { executionArn: `${input.stateMachineArn}:${input.name}`, startDate: new Date() };
  });
  secretsManager.on(GetSecretValueCommand).callsFake((input) => {
    current.push({ service: 'secretsmanager', command: 'GetSecretValue', input });
    // A secret group's document is alias -> value.
    if (String(input.SecretId).includes('/sgr-'))
      return { SecretString: JSON.stringify({ NODE_ENV: 'production' }) };
    return {
      SecretString: JSON.stringify({
        engine: 'postgresql',
        host: '',
        port: 0,
        database: 'orders',
        username: 'addonadmin',
        password: 'x'.repeat(32),
        uri: '',
        tls: false,
      }),
    };
  });

  const record = (service: AwsCall['service'], command: string) => (input: object) => {
    current.push({ service, command, input: structuredClone(input) as Record<string, unknown> });
    return {};
  };
  sfn.on(StopExecutionCommand).callsFake(record('states', 'StopExecution'));
  cloudwatch
    .on(GetMetricDataCommand)
    .callsFake((input) => ({ ...record('cloudwatch', 'GetMetricData')(input), MetricDataResults: [] }));
  // Alert rules: their topic and alarms. Each rule's listing finds a stale alarm (of an addon gone)
  // and a stale e-mail subscription; the topic listing finds the topic of a rule that is gone.
  cloudwatch.on(PutMetricAlarmCommand).callsFake(record('cloudwatch', 'PutMetricAlarm'));
  cloudwatch.on(DeleteAlarmsCommand).callsFake(record('cloudwatch', 'DeleteAlarms'));
  cloudwatch.on(DescribeAlarmsCommand).callsFake((input) => ({
    ...record('cloudwatch', 'DescribeAlarms')(input),
    MetricAlarms: [{ AlarmName: `${String(input.AlarmNamePrefix)}adn-gone` }],
  }));
  const topicArn = (name: string) => `arn:aws:sns:${FAKE_ENV.region}:${FAKE_ENV.account}:${name}`;
  sns.on(CreateTopicCommand).callsFake((input) => ({
    ...record('sns', 'CreateTopic')(input),
    TopicArn: topicArn(String(input.Name)),
  }));
  sns.on(ListSubscriptionsByTopicCommand).callsFake((input) => ({
    ...record('sns', 'ListSubscriptionsByTopic')(input),
    Subscriptions: [{ Endpoint: 'old@example.com', SubscriptionArn: `${String(input.TopicArn)}:sub-old` }],
  }));
  sns.on(SubscribeCommand).callsFake(record('sns', 'Subscribe'));
  sns.on(UnsubscribeCommand).callsFake(record('sns', 'Unsubscribe'));
  sns.on(DeleteTopicCommand).callsFake(record('sns', 'DeleteTopic'));
  sns.on(ListTopicsCommand).callsFake((input) => ({
    ...record('sns', 'ListTopics')(input),
    Topics: [{ TopicArn: topicArn(`${synthesized.stack.deploymentName}-alert-${PROJECT}-alr-0gone`) }],
  }));
  installLiveImportSecretFakes(secretsManager as never, record as never);
  s3.on(DeleteObjectCommand).callsFake(record('s3', 'DeleteObject'));
  // An import's upload, as its start sees it: two bytes of gzip magic.
  s3.on(HeadObjectCommand).callsFake((input) => ({ ...record('s3', 'HeadObject')(input), ContentLength: 2 }));
  s3.on(GetObjectCommand).callsFake((input) => ({
    ...record('s3', 'GetObject')(input),
    // An upload of two bytes, `--`: an SQL script (imports detect the format by content).
    Body: { transformToByteArray: async () => new Uint8Array(Buffer.from('--')) },
  }));
  const deployment = synthesized.stack.deploymentName;
  const recordTagged =
    (service: AwsCall['service'], command: string, idOf: (input: Record<string, unknown>) => unknown) =>
    (input: Record<string, unknown>) => {
      current.push({
        service,
        command,
        input: structuredClone(input),
        // What the workflows create carries this deployment's tag (RdsSnapshots.create).
        resourceTags: tagsById.get(String(idOf(input))) ?? { [TAG_KEYS.deployment]: deployment },
      });
      return {};
    };
  rds
    .on(DeleteDBSnapshotCommand)
    .callsFake(recordTagged('rds', 'DeleteDBSnapshot', (i) => i.DBSnapshotIdentifier));
  fakeLeftovers(record, recordTagged);
  docdb = installDocdbFakes(record, recordTagged, {
    resourceId: GONE_RESOURCE,
    backupId: GONE_BACKUP,
    deployment: () => deployment,
    since: OLD,
  });
  elasticache = installElastiCacheFakes(record, recordTagged, {
    addonId: GONE_ADDON,
    backupId: GONE_BACKUP,
    deployment: () => deployment,
    since: OLD,
  });
  let schedulesCreated = new Set<string>();
  scheduler.on(CreateScheduleCommand).callsFake((input) => {
    record('scheduler', 'CreateSchedule')(input);
    if (schedulesCreated.has(String(input.Name))) {
      throw new ConflictException({ $metadata: {}, message: 'exists', Message: 'exists' });
    }
    schedulesCreated = new Set([...schedulesCreated, String(input.Name)]);
    return { ScheduleArn: String(input.Name) };
  });
  scheduler.on(UpdateScheduleCommand).callsFake(record('scheduler', 'UpdateSchedule'));
  scheduler.on(DeleteScheduleCommand).callsFake(record('scheduler', 'DeleteSchedule'));
  const testClient = DynamoDBDocumentClient.from(dynamo.client, {
    marshallOptions: { removeUndefinedValues: true },
  });
  store = new AddonStore({ client: testClient, tableName });
  testDocumentClient = testClient;
  testTableName = tableName;
  backupStore = new BackupStore({ client: testClient, tableName });

  handlers.meta = (await import('#functions/api/meta.ts')).handler as Handler;
  handlers.catalog = (await import('#functions/api/catalog.ts')).handler as Handler;
  handlers.addons = (await import('#functions/api/addons.ts')).handler as Handler;
  handlers.credentials = (await import('#functions/api/credentials.ts')).handler as Handler;
  handlers.operations = (await import('#functions/api/operations.ts')).handler as Handler;
  handlers.backups = (await import('#functions/api/backups-handler.ts')).handler as Handler;
  runBackup = (await import('#functions/schedule/run-backup.ts')).handler;
  sweep = (await import('#functions/schedule/sweep.ts')).handler;
  reconcile = (await import('#functions/schedule/reconcile.ts')).handler;
}, SYNTH_TIMEOUT_MS);
beforeAll(() => exercise(), 60_000);

afterAll(async () => {
  sfn.restore();
  secretsManager.restore();
  s3.restore();
  rds.restore();
  docdb?.restore();
  elasticache?.restore();
  scheduler.restore();
  ec2.restore();
  cloudwatch.restore();
  await dynamo?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

let refuseNextStart = false;
const statuses: Record<string, number> = {};

const call = async (
  fn: ApiFunctionName,
  label: string,
  route: Parameters<typeof apiEvent>[0],
  options: Parameters<typeof apiEvent>[1] = {},
) => {
  const handler = handlers[fn];
  if (!handler) throw new Error(`no handler for ${fn}`);
  current = calls[fn];
  const response = await handler(apiEvent(route, { projects: [PROJECT], ...options }), context());
  statuses[label] = response.statusCode ?? 0;
  return response.body ? json(response) : {};
};

/** Every route, plus the paths that write differently: an idempotent replay and a failed start. */
const exercise = async () => {
  await call('meta', 'health', routes.getHealth, { projects: null });
  await call('meta', 'openapi', routes.getOpenApi, { projects: null });
  await call('catalog', 'catalog', routes.listAddonTypes);

  const body = { name: 'iam-orders', engine: 'postgresql' };
  const created = await call('addons', 'create', routes.createAddon, {
    pathParameters: { projectId: PROJECT },
    body,
    headers: { 'idempotency-key': 'key-1' },
  });
  await call('addons', 'replay', routes.createAddon, {
    pathParameters: { projectId: PROJECT },
    body,
    headers: { 'idempotency-key': 'key-1' },
  });
  await call('addons', 'list', routes.listAddons, { pathParameters: { projectId: PROJECT } });
  const addonId = created.addon.id as string;
  const operationId = created.operation.id as string;
  await call('addons', 'get', routes.getAddon, { pathParameters: { projectId: PROJECT, addonId } });

  // A workflow that cannot start: the addon is left failed and unlocked, the idempotency record dropped.
  refuseNextStart = true;
  await call('addons', 'failedStart', routes.createAddon, {
    pathParameters: { projectId: PROJECT },
    body: { name: 'iam-cannot-start', engine: 'postgresql' },
    headers: { 'idempotency-key': 'key-2' },
  });
  const page = await call('addons', 'listAgain', routes.listAddons, {
    pathParameters: { projectId: PROJECT },
  });
  const unlocked = (page.items as Array<{ id: string; name: string }>).find(
    (addon) => addon.name === 'iam-cannot-start',
  );
  // Two addons, pages of one: the cursor is signed with the key read from Secrets Manager.
  await listTwoPages('addons', 'addonPages', routes.listAddons, { projectId: PROJECT });

  await call('credentials', 'credentials', routes.getCredentials, {
    pathParameters: { projectId: PROJECT, addonId },
  });
  await call('operations', 'operation', routes.getOperation, {
    pathParameters: { projectId: PROJECT, operationId },
  });
  await call('operations', 'operations', routes.listAddonOperations, {
    pathParameters: { projectId: PROJECT, addonId },
  });
  await call('operations', 'metrics', routes.getAddonMetrics, {
    pathParameters: { projectId: PROJECT, addonId },
    query: { names: 'cpu,connections' },
  });
  // Alert rules: the default rules, a rule with its topic, subscriptions and alarms, its change and delete.
  await call('operations', 'listAlertRules', routes.listAlertRules, {
    pathParameters: { projectId: PROJECT },
  });
  const rule = await call('operations', 'createAlertRule', routes.createAlertRule, {
    pathParameters: { projectId: PROJECT },
    body: {
      name: 'cpu',
      metric: 'cpu',
      comparison: '>',
      threshold: 90,
      channels: { webhooks: [{ url: 'https://hooks.example.com/a' }], emails: ['ops@example.com'] },
    },
  });
  await call('operations', 'updateAlertRule', routes.updateAlertRule, {
    pathParameters: { projectId: PROJECT, ruleId: String(rule.id) },
    body: { threshold: 95 },
  });
  await call('operations', 'deleteAlertRule', routes.deleteAlertRule, {
    pathParameters: { projectId: PROJECT, ruleId: String(rule.id) },
  });
  // The first addon's create operation still holds it; the unlocked one can be deleted.
  await call('addons', 'deleteLocked', routes.deleteAddon, {
    pathParameters: { projectId: PROJECT, addonId },
  });
  await call('addons', 'delete', routes.deleteAddon, {
    pathParameters: { projectId: PROJECT, addonId: unlocked?.id ?? 'missing' },
  });

  await exerciseBackups(addonId, operationId);
  await exerciseImportedAddons(
    (label, body) =>
      call('addons', label, routes.createAddon, { pathParameters: { projectId: PROJECT }, body }),
    'iam-orders',
    (url) => {
      current = calls.addons;
      recordUpload(url);
    },
  );
};

/** The user's PUT to a presigned upload URL: S3 authorizes it as the function that signed it. */
const recordUpload = (url: string) => {
  const uploadUrl = new URL(url);
  current.push({
    service: 's3',
    command: 'PutObject',
    input: {
      Bucket: bucket,
      Key: decodeURIComponent(uploadUrl.pathname.replace(`/${bucket}/`, '').replace(/^\//, '')),
    },
  });
};

/** Pretend the workflow of `operationId` finished: the operation completed, the addon running and free. */
const finish = async (addonId: string, operationId: string) => {
  await store.updateOperation(PROJECT, operationId, { status: 'completed', completedAt: nowIso() });
  const addon = await store.getAddon(PROJECT, addonId);
  await store.updateAddonForOperation(addon, operationId, { status: 'running' }, { release: true });
};

const exerciseBackups = async (addonId: string, createOperationId: string) => {
  await finish(addonId, createOperationId);
  const path = { projectId: PROJECT, addonId };

  // A storage growth: a scale operation, started on the scale-addon state machine.
  const scaled = await call('addons', 'scale', routes.updateAddon, {
    pathParameters: path,
    body: { storageGiB: 40 },
  });
  await finish(addonId, scaled.operation.id);
  // Read replicas: an update-replicas operation, started on its state machine.
  const replicated = await call('addons', 'replicas', routes.updateAddon, {
    pathParameters: path,
    body: { replicas: 1 },
  });
  await finish(addonId, replicated.operation.id);

  // A snapshot backup, aborted while running: its execution is stopped, its snapshot deleted.
  const snapshot = await call('backups', 'createSnapshot', routes.createBackup, {
    pathParameters: path,
    body: { type: 'snapshot' },
    headers: { 'idempotency-key': 'backup-1' },
  });
  await call('backups', 'createWhileBusy', routes.createBackup, {
    pathParameters: path,
    body: { type: 'dump' },
  });
  const snapshotId = snapshot.backup.id as string;
  await call('backups', 'listBackups', routes.listBackups, { pathParameters: path });
  await call('backups', 'getBackup', routes.getBackup, { pathParameters: { ...path, backupId: snapshotId } });
  await call('backups', 'pin', routes.updateBackup, {
    pathParameters: { ...path, backupId: snapshotId },
    body: { pinned: true },
  });
  await call('backups', 'abort', routes.abortBackup, { pathParameters: { ...path, backupId: snapshotId } });
  await call('backups', 'deleteSnapshot', routes.deleteBackup, {
    pathParameters: { ...path, backupId: snapshotId },
  });

  // A dump backup, finished by "the workflow", downloaded, restored, then deleted.
  const dump = await call('backups', 'createDump', routes.createBackup, {
    pathParameters: path,
    body: { type: 'dump' },
  });
  const dumpId = dump.backup.id as string;
  await backupStore.updateBackup(
    { projectId: PROJECT, id: dumpId },
    { status: 'completed', sizeBytes: 15, sha256: 'a'.repeat(64), completedAt: nowIso() },
  );
  await finish(addonId, dump.operation.id as string);
  const link = await call('backups', 'download', routes.downloadBackup, {
    pathParameters: { ...path, backupId: dumpId },
  });
  // The download link is presigned with the function's role: S3 authorizes the GetObject the
  // user sends as the function's, and decrypts with its key permissions.
  const url = new URL(String(link.url));
  current.push({
    service: 's3',
    command: 'GetObject',
    input: {
      Bucket: bucket,
      Key: decodeURIComponent(url.pathname.replace(`/${bucket}/`, '').replace(/^\//, '')),
    },
  });
  const restored = await call('backups', 'restore', routes.restoreBackup, {
    pathParameters: { ...path, backupId: dumpId },
  });
  await finish(addonId, restored.operation.id as string);
  await call('backups', 'deleteDump', routes.deleteBackup, { pathParameters: { ...path, backupId: dumpId } });

  // An import: its upload URL is presigned with the function's role (S3 authorizes the user's PUT
  // as the function's); starting it reads the upload's size and first bytes.
  const created = await call('backups', 'createImport', routes.createImport, {
    pathParameters: path,
    body: { kind: 'upload', sizeBytes: 2 },
  });
  recordUpload(String(created.uploadUrl));
  const importId = created.import.id as string;
  await call('backups', 'getImport', routes.getImport, { pathParameters: { ...path, importId } });
  await call('backups', 'listImports', routes.listImports, { pathParameters: path });
  await call('backups', 'startImport', routes.startImport, {
    pathParameters: { ...path, importId },
    body: {},
  });
  // Aborted: its restore execution is stopped, the addon released.
  await call('backups', 'abortImport', routes.abortImport, { pathParameters: { ...path, importId } });
  await exerciseLiveImport(
    (label, route, options) => call('backups', label, routes[route], options),
    path,
    testDocumentClient,
    testTableName,
  );

  // Schedules: created, listed, updated (the schedule exists: Create conflicts, then Update), deleted.
  const schedule = await call('backups', 'createSchedule', routes.createBackupSchedule, {
    pathParameters: path,
    body: { interval: 'daily', hours: [2], minutes: [0], retentionDays: 7, type: 'snapshot' },
  });
  const scheduleId = schedule.id as string;
  await call('backups', 'listSchedules', routes.listBackupSchedules, { pathParameters: path });
  await call('backups', 'updateSchedule', routes.updateBackupSchedule, {
    pathParameters: { ...path, scheduleId },
    body: { retentionDays: 14 },
  });

  // The schedule fires: run-backup starts a backup and records it on the schedule.
  current = calls.runBackup;
  runResult = await runBackup({ projectId: PROJECT, addonId, scheduleId }, context());
  const started = runResult as { backupId: string };
  const scheduled = await backupStore.getBackup(PROJECT, started.backupId);
  await backupStore.updateBackup(scheduled, { status: 'completed', completedAt: nowIso() });
  await finish(addonId, scheduled.operationId);
  // MongoDB snapshot backups are deleted in DocumentDB (the deleter is the backup's engine's):
  // one through the API, one expired for the sweep.
  const { resourceId } = await store.getAddon(PROJECT, addonId);
  const mongodbSnapshot = await putMongodbSnapshotBackup(backupStore, scheduled, resourceId);
  await call('backups', 'deleteMongodbSnapshot', routes.deleteBackup, {
    pathParameters: { ...path, backupId: mongodbSnapshot },
  });
  await putMongodbSnapshotBackup(backupStore, scheduled, resourceId, '2020-01-01T00:00:00.000Z');

  await call('backups', 'deleteSchedule', routes.deleteBackupSchedule, {
    pathParameters: { ...path, scheduleId },
  });

  // Retention: one expired snapshot (the scheduled one) and one expired dump go.
  const expiredDumpId = newId('bkp');
  await backupStore.putBackup({
    ...scheduled,
    id: expiredDumpId,
    status: 'completed',
    type: 'dump',
    compression: 'zstd',
    snapshotId: null,
    artifact: { bucket, key: `dumps/${PROJECT}/${addonId}/${expiredDumpId}.dump.zst` },
    expiresAt: '2020-01-01T00:00:00.000Z',
  });
  await backupStore.updateBackup(scheduled, { expiresAt: '2020-01-01T00:00:00.000Z' });
  await listTwoPages('backups', 'backupPages', routes.listBackups, path);
  await listTwoPages('operations', 'operationPages', routes.listAddonOperations, path);
  current = calls.sweep;
  sweepResult = await sweep({}, context());

  await seedSecretGroupsForSweep(testDocumentClient, testTableName, PROJECT, addonId);
  const restarted = await exerciseReconciler(addonId);
  await finish(addonId, restarted);
  await exerciseSecretGroups(
    (fn, label, route, options) => call(fn, label, routes[route], options),
    PROJECT,
    addonId,
  );
  // What outlives an addon: the project's backups, and a delete after a final dump.
  await call('backups', 'listProjectBackups', routes.listProjectBackups, {
    pathParameters: { projectId: PROJECT },
  });
  await call('addons', 'deleteWithFinalBackup', routes.deleteAddon, {
    pathParameters: path,
    // The sweep's seeded group links it: the delete unlinks it (secret-group-calls.ts).
    query: { finalBackup: 'dump', unlinkGroups: 'true' },
  });
};

/** The first page of one item, then the next with its cursor: both must be 200s. */
const listTwoPages = async (
  fn: ApiFunctionName,
  label: string,
  route: Parameters<typeof apiEvent>[0],
  pathParameters: Record<string, string>,
) => {
  const first = await call(fn, `${label}First`, route, { pathParameters, query: { limit: '1' } });
  await call(fn, `${label}Next`, route, {
    pathParameters,
    query: { limit: '1', cursor: String(first.nextCursor) },
  });
};
let runResult: unknown;
let sweepResult: unknown;
let reconcileResult: unknown;

const OLD = new Date('2020-01-01T00:00:00.000Z');
const GONE_ADDON = 'adn-01gone0000000000000000000';
const GONE_RESOURCE = `addon-${GONE_ADDON.slice(4)}`;
const GONE_BACKUP = 'bkp-01gone0000000000000000000';

/** One leftover of every kind the reconciler lists, each of this deployment and of an addon that is gone. */
const fakeLeftovers = (
  record: (service: AwsCall['service'], command: string) => (input: object) => object,
  recordTagged: (
    service: AwsCall['service'],
    command: string,
    idOf: (input: Record<string, unknown>) => unknown,
  ) => (input: Record<string, unknown>) => object,
) => {
  const deployment = () => String(process.env.DEPLOYMENT_NAME);
  const listed = (service: AwsCall['service'], command: string, output: () => object) => (input: object) => {
    record(service, command)(input);
    return output();
  };
  sfn.on(DescribeExecutionCommand).callsFake((input) => {
    record('states', 'DescribeExecution')(input);
    const operationId = String(input.executionArn).split(':').pop() ?? '';
    if (runningExecutions.has(operationId)) return { status: 'RUNNING' };
    throw new ExecutionDoesNotExist({ $metadata: {}, message: 'Execution does not exist' });
  });
  rds.on(DescribeDBInstancesCommand).callsFake(
    listed('rds', 'DescribeDBInstances', () => {
      const tags = [{ Key: 'addons:deployment', Value: deployment() }];
      tagsById.set(GONE_RESOURCE, { 'addons:deployment': deployment() });
      return {
        DBInstances: [
          {
            DBInstanceIdentifier: GONE_RESOURCE,
            DBInstanceStatus: 'available',
            TagList: tags,
            InstanceCreateTime: OLD,
          },
        ],
      };
    }),
  );
  rds
    .on(ModifyDBInstanceCommand)
    .callsFake(recordTagged('rds', 'ModifyDBInstance', (i) => i.DBInstanceIdentifier));
  rds
    .on(DeleteDBInstanceCommand)
    .callsFake(recordTagged('rds', 'DeleteDBInstance', (i) => i.DBInstanceIdentifier));
  rds.on(DescribeDBSnapshotsCommand).callsFake(
    listed('rds', 'DescribeDBSnapshots', () => {
      const id = `${GONE_RESOURCE}-${GONE_BACKUP}`;
      tagsById.set(id, { 'addons:deployment': deployment() });
      return {
        DBSnapshots: [
          {
            DBSnapshotIdentifier: id,
            Status: 'available',
            SnapshotCreateTime: OLD,
            TagList: [{ Key: 'addons:deployment', Value: deployment() }],
          },
        ],
      };
    }),
  );
  ec2.on(DescribeSecurityGroupsCommand).callsFake(
    listed('ec2', 'DescribeSecurityGroups', () => {
      tagsById.set('sg-0leftover', { 'addons:deployment': deployment(), 'addons:addon': GONE_ADDON });
      return {
        SecurityGroups: [
          {
            GroupId: 'sg-0leftover',
            GroupName: GONE_RESOURCE,
            Tags: [
              { Key: 'addons:deployment', Value: deployment() },
              { Key: 'addons:addon', Value: GONE_ADDON },
            ],
          },
        ],
      };
    }),
  );
  ec2.on(DeleteSecurityGroupCommand).callsFake(recordTagged('ec2', 'DeleteSecurityGroup', (i) => i.GroupId));
  secretsManager.on(ListSecretsCommand).callsFake(
    listed('secretsmanager', 'ListSecrets', () => ({
      SecretList: [{ Name: `${process.env.SECRET_NAME_PREFIX}${PROJECT}/${GONE_ADDON}`, CreatedDate: OLD }],
    })),
  );
  secretsManager.on(DeleteSecretCommand).callsFake(record('secretsmanager', 'DeleteSecret'));
  scheduler
    .on(ListSchedulesCommand)
    .callsFake(
      listed('scheduler', 'ListSchedules', () => ({ Schedules: [{ Name: 'sch-gone', CreationDate: OLD }] })),
    );
  s3.on(ListObjectsV2Command).callsFake(
    listed('s3', 'ListObjectsV2', () => ({
      Contents: [{ Key: `dumps/${PROJECT}/${GONE_ADDON}/${GONE_BACKUP}.dump.zst`, LastModified: OLD }],
    })),
  );
};

/** An operation that never got its execution, one past its deadline, and a leftover of every kind. */
const exerciseReconciler = async (addonId: string) => {
  const addon = await store.getAddon(PROJECT, addonId);
  const neverStarted = {
    id: newId('op'),
    type: 'delete' as const,
    status: 'pending' as const,
    projectId: PROJECT,
    addonId,
    backupId: null,
    progress: { step: 'queued', percent: 0 },
    error: null,
    createdAt: new Date(Date.now() - 3_600_000).toISOString(),
    startedAt: null,
    completedAt: null,
  };
  await store.beginOperation(addon, neverStarted, 'deleting');
  const overdue = { ...neverStarted, id: newId('op'), type: 'create' as const, addonId: newId('adn') };
  overdue.createdAt = OLD.toISOString();
  await store.putOperation(overdue);
  runningExecutions.add(overdue.id);
  current = calls.reconcile;
  reconcileResult = await reconcile({ leftovers: true }, context());
  return neverStarted.id;
};

describe('the API functions, as deployed', () => {
  it('answer every route they serve', () => {
    expect(statuses).toEqual({
      health: 200,
      openapi: 200,
      catalog: 200,
      create: 202,
      replay: 202,
      list: 200,
      get: 200,
      failedStart: 503,
      listAgain: 200,
      addonPagesFirst: 200,
      addonPagesNext: 200,
      deleteLocked: 409,
      scale: 202,
      replicas: 202,
      // No connection details before the instance is available.
      credentials: 409,
      operation: 200,
      operations: 200,
      metrics: 200,
      listAlertRules: 200,
      createAlertRule: 201,
      updateAlertRule: 200,
      deleteAlertRule: 204,
      delete: 202,
      createSnapshot: 202,
      createWhileBusy: 409,
      listBackups: 200,
      getBackup: 200,
      pin: 200,
      abort: 200,
      deleteSnapshot: 204,
      createDump: 202,
      download: 200,
      restore: 202,
      deleteDump: 204,
      createImport: 201,
      getImport: 200,
      listImports: 200,
      startImport: 202,
      abortImport: 200,
      createLiveImport: 201,
      startLiveImport: 202,
      abortLiveImport: 200,
      createSchedule: 201,
      listSchedules: 200,
      updateSchedule: 200,
      deleteMongodbSnapshot: 204,
      deleteSchedule: 204,
      backupPagesFirst: 200,
      backupPagesNext: 200,
      operationPagesFirst: 200,
      operationPagesNext: 200,
      listProjectBackups: 200,
      deleteWithFinalBackup: 202,
      createFromLiveTaken: 409,
      createFromUpload: 202,
      ...SECRET_GROUP_STATUSES,
    });
    expect(runResult).toEqual({ outcome: 'started', backupId: expect.any(String) });
    expect(sweepResult).toEqual({ deleted: 3, failed: [] });
    expect(reconcileResult).toMatchObject({
      operations: {
        failed: [expect.objectContaining({ code: 'DeadlineExceeded' })],
        restarted: [expect.any(String)],
      },
      leftovers: { failed: [] },
      errors: [],
      secretGroups: { published: [expect.any(String)], deleted: [expect.any(String)], failed: [] },
    });
    // 12, and the topic of an alert rule that is gone.
    expect((reconcileResult as { leftovers: { removed: unknown[] } }).leftovers.removed).toHaveLength(13);
  });

  const environment = (): CallEnvironment => {
    const { json: template, stack } = synthesized;
    const keyArn = String(
      resolveIntrinsics({ 'Fn::GetAtt': [logicalIdOf(synthesized, stack.data.key), 'Arn'] }, template),
    );
    return { tableKeyArn: keyArn, secretsKeyArn: keyArn, bucketKeyArn: keyArn };
  };

  describe.each([
    'meta',
    'catalog',
    'addons',
    'credentials',
    'operations',
    'backups',
    'runBackup',
    'sweep',
    'reconcile',
  ] as const)('%s', (name) => {
    const statementsOf = () => {
      const { api, schedules, reconciler } = synthesized.stack;
      const fn =
        name === 'reconcile'
          ? reconciler.function
          : name === 'runBackup' || name === 'sweep'
            ? schedules[name]
            : api.functions[name];
      if (!fn) throw new Error(`no ${name} function`);
      return roleStatements(synthesized.json, logicalIdOf(synthesized, fn.role));
    };

    it('may send every AWS command it sent, on the resources it sent them to', () => {
      expect(deniedPermissions(statementsOf(), calls[name], environment())).toEqual([]);
    });

    it('may send nothing else', () => {
      // Lambda itself sends a failed asynchronous invocation to the on-failure queue, with the role.
      // Deleting a Redis snapshot backup: granted with the engine, not sent by these tests' PostgreSQL addons.
      const redis = name === 'backups' || name === 'sweep' ? ['elasticache:DeleteSnapshot'] : [];
      // Point-in-time windows of running RDS addons: aws-pitr-workflows.test.ts sends and checks them.
      const pitr = name === 'addons' || name === 'backups' ? PITR_WINDOW_ACTIONS : [];
      // Creating an alert rule's CloudWatch alarms needs an addon the rule covers, which the rule
      // created here has none of: aws-alert-alarms.test.ts sends and checks PutMetricAlarm.
      const alarms =
        name === 'operations' || name === 'reconcile'
          ? ['cloudwatch:PutMetricAlarm', 'cloudwatch:TagResource']
          : [];
      // A backup-health rule's e-mail needs a scheduled addon whose backup health changes, which
      // this exercise has none of: aws-alert-alarms.test.ts sends and checks the Publish.
      const backupHealthMail =
        name === 'reconcile' ? ['sns:Publish', 'kms:GenerateDataKey', 'kms:Decrypt'] : [];
      // A Redis replica node left above its addon's count: aws-replicas-cache-docdb.test.ts sends
      // and checks the removal against this role.
      const replicaNodes = name === 'reconcile' ? ['elasticache:DecreaseReplicaCount'] : [];
      // The bastion's rule in addon groups made before it (or a former bastion's): this exercise
      // has no bastion and no such rule; bastion-stack.test.ts checks the role allows both.
      const bastionRules =
        name === 'reconcile' ? ['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress'] : [];
      // A credential rotation (Redis, PostgreSQL) starts the rotate-credentials workflow; the
      // addon here never runs: aws-redis-rotation.test.ts and aws-postgres-rotation.test.ts start
      // and run it (the latter checks the login job's role and the workflow function's).
      const rotation = name === 'credentials' ? ['states:StartExecution'] : [];
      const baseline =
        name === 'runBackup' || name === 'sweep'
          ? [...FUNCTION_BASELINE_ACTIONS, 'sqs:SendMessage', ...redis]
          : [
              ...FUNCTION_BASELINE_ACTIONS,
              ...redis,
              ...pitr,
              ...alarms,
              ...backupHealthMail,
              ...replicaNodes,
              ...bastionRules,
              ...rotation,
            ];
      expect(unusedActions(statementsOf(), calls[name], environment(), baseline)).toEqual([]);
    });
  });

  // A second stack in the same account names its snapshots `addon-...` too: only the tag tells.
  it.each(['backups', 'sweep'] as const)(
    "%s may not delete another deployment's snapshots, nor untagged ones",
    (name) => {
      const { api, schedules } = synthesized.stack;
      const fn = name === 'sweep' ? schedules.sweep : api.functions.backups;
      if (!fn) throw new Error(`no ${name} function`);
      const statements = roleStatements(synthesized.json, logicalIdOf(synthesized, fn.role));
      const deletes = calls[name].filter((call) => call.command === 'DeleteDBSnapshot');
      expect(deletes.length).toBeGreaterThan(0);
      const foreignTags: Array<Record<string, string>> = [{ [TAG_KEYS.deployment]: 'AnotherStack' }, {}];
      for (const resourceTags of foreignTags) {
        for (const call of deletes) {
          expect(deniedPermissions(statements, [{ ...call, resourceTags }], environment())).toHaveLength(1);
        }
      }
    },
  );

  it("reconcile may not delete another deployment's ElastiCache resources, nor untagged ones", () => {
    const { reconciler } = synthesized.stack;
    const statements = roleStatements(synthesized.json, logicalIdOf(synthesized, reconciler.function.role));
    const deletes = calls.reconcile.filter(
      (call) => call.service === 'elasticache' && call.command.startsWith('Delete'),
    );
    expect(deletes.map((call) => call.command).sort()).toEqual([
      'DeleteReplicationGroup',
      'DeleteSnapshot',
      'DeleteUser',
      'DeleteUserGroup',
    ]);
    const foreignTags: Array<Record<string, string>> = [{ [TAG_KEYS.deployment]: 'AnotherStack' }, {}];
    for (const resourceTags of foreignTags) {
      for (const call of deletes) {
        expect(deniedPermissions(statements, [{ ...call, resourceTags }], environment())).toHaveLength(1);
      }
    }
  });
});
