import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteDBSnapshotCommand, RDSClient } from '@aws-sdk/client-rds';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  SchedulerClient,
  UpdateScheduleCommand,
} from '@aws-sdk/client-scheduler';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  ExecutionLimitExceeded,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DynamoEmulator, startDynamo } from '#infra/local/emulators.ts';
import type { ApiEvent, ApiResponse } from '#shared/api/http-handler.ts';
import { API_FUNCTIONS, type ApiFunctionName } from '#shared/api/route.ts';
import { routes } from '#shared/api/routes.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { BackupStore } from '#shared/store/backup-store.ts';
import { newId, nowIso } from '#shared/util/ids.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { logicalIdOf } from '../workflows/support/aws-workflows.ts';
import {
  type AwsCall,
  type CallEnvironment,
  deniedPermissions,
  FUNCTION_BASELINE_ACTIONS,
  roleStatements,
  unusedActions,
} from './support/iam.ts';
import { functionEnvironment, resolveIntrinsics } from './support/intrinsics.ts';
import { type SynthesizedStack, synthesizeAddons } from './support/stack.ts';

/**
 * The API functions' `handler` exports (and the schedule functions': run-backup and the
 * retention sweep), with the environment CDK gives them, send their real requests: DynamoDB to
 * dynalite (through the SDK's endpoint variable), Step Functions, Secrets Manager, S3, RDS and
 * EventBridge Scheduler to aws-sdk-client-mock. Every command each function sends is recorded
 * and checked against that function's synthesized role, both ways.
 */

type Handler = (event: ApiEvent, context: Context) => Promise<ApiResponse>;
type FunctionName = ApiFunctionName | 'runBackup' | 'sweep';

const PROJECT = 'proj-iam';
const calls = Object.fromEntries(
  [...API_FUNCTIONS, 'runBackup', 'sweep'].map((name) => [name, [] as AwsCall[]]),
) as Record<FunctionName, AwsCall[]>;
let current: AwsCall[] = [];
let synthesized: SynthesizedStack;
let dynamo: DynamoEmulator;
let dataDir: string;
const sfn = mockClient(SFNClient);
const secretsManager = mockClient(SecretsManagerClient);
const s3 = mockClient(S3Client);
const rds = mockClient(RDSClient);
const scheduler = mockClient(SchedulerClient);
const handlers: Partial<Record<ApiFunctionName, Handler>> = {};
let runBackup: (event: unknown, context: Context) => Promise<unknown>;
let sweep: (event: unknown, context: Context) => Promise<unknown>;
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
  s3.on(DeleteObjectCommand).callsFake(record('s3', 'DeleteObject'));
  rds.on(DeleteDBSnapshotCommand).callsFake(record('rds', 'DeleteDBSnapshot'));
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
  backupStore = new BackupStore({ client: testClient, tableName });

  handlers.meta = (await import('#functions/api/meta.ts')).handler as Handler;
  handlers.catalog = (await import('#functions/api/catalog.ts')).handler as Handler;
  handlers.addons = (await import('#functions/api/addons.ts')).handler as Handler;
  handlers.credentials = (await import('#functions/api/credentials.ts')).handler as Handler;
  handlers.operations = (await import('#functions/api/operations.ts')).handler as Handler;
  handlers.backups = (await import('#functions/api/backups-handler.ts')).handler as Handler;
  runBackup = (await import('#functions/schedule/run-backup.ts')).handler;
  sweep = (await import('#functions/schedule/sweep.ts')).handler;
}, 180_000);
beforeAll(() => exercise(), 60_000);

afterAll(async () => {
  sfn.restore();
  secretsManager.restore();
  s3.restore();
  rds.restore();
  scheduler.restore();
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

  await call('credentials', 'credentials', routes.getCredentials, {
    pathParameters: { projectId: PROJECT, addonId },
  });
  await call('operations', 'operation', routes.getOperation, {
    pathParameters: { projectId: PROJECT, operationId },
  });
  await call('operations', 'operations', routes.listAddonOperations, {
    pathParameters: { projectId: PROJECT, addonId },
  });
  // The first addon's create operation still holds it; the unlocked one can be deleted.
  await call('addons', 'deleteLocked', routes.deleteAddon, {
    pathParameters: { projectId: PROJECT, addonId },
  });
  await call('addons', 'delete', routes.deleteAddon, {
    pathParameters: { projectId: PROJECT, addonId: unlocked?.id ?? 'missing' },
  });

  await exerciseBackups(addonId, operationId);
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
  current = calls.sweep;
  sweepResult = await sweep({}, context());
};
let runResult: unknown;
let sweepResult: unknown;

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
      deleteLocked: 409,
      // No connection details before the instance is available.
      credentials: 409,
      operation: 200,
      operations: 200,
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
      createSchedule: 201,
      listSchedules: 200,
      updateSchedule: 200,
      deleteSchedule: 204,
    });
    expect(runResult).toEqual({ outcome: 'started', backupId: expect.any(String) });
    expect(sweepResult).toEqual({ deleted: 2, failed: [] });
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
  ] as const)('%s', (name) => {
    const statementsOf = () => {
      const { api, schedules } = synthesized.stack;
      const fn = name === 'runBackup' || name === 'sweep' ? schedules[name] : api.functions[name];
      if (!fn) throw new Error(`no ${name} function`);
      return roleStatements(synthesized.json, logicalIdOf(synthesized, fn.role));
    };

    it('may send every AWS command it sent, on the resources it sent them to', () => {
      expect(deniedPermissions(statementsOf(), calls[name], environment())).toEqual([]);
    });

    it('may send nothing else', () => {
      expect(unusedActions(statementsOf(), calls[name], environment(), FUNCTION_BASELINE_ACTIONS)).toEqual(
        [],
      );
    });
  });
});
