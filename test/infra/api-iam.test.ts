import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ExecutionLimitExceeded, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DynamoEmulator, startDynamo } from '#infra/local/emulators.ts';
import type { ApiEvent, ApiResponse } from '#shared/api/http-handler.ts';
import { API_FUNCTIONS, type ApiFunctionName } from '#shared/api/route.ts';
import { routes } from '#shared/api/routes.ts';
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
 * The API functions' `handler` exports, with the environment CDK gives them, send their real
 * requests: DynamoDB to dynalite (through the SDK's endpoint variable), Step Functions and
 * Secrets Manager to aws-sdk-client-mock. Every command each function sends is recorded and
 * checked against that function's synthesized role, both ways.
 */

type Handler = (event: ApiEvent, context: Context) => Promise<ApiResponse>;

const PROJECT = 'proj-iam';
const calls = Object.fromEntries(API_FUNCTIONS.map((name) => [name, [] as AwsCall[]])) as Record<
  ApiFunctionName,
  AwsCall[]
>;
let current: AwsCall[] = [];
let synthesized: SynthesizedStack;
let dynamo: DynamoEmulator;
let dataDir: string;
const sfn = mockClient(SFNClient);
const secretsManager = mockClient(SecretsManagerClient);
const handlers: Partial<Record<ApiFunctionName, Handler>> = {};

beforeAll(async () => {
  synthesized = synthesizeAddons();
  const { json: template, stack } = synthesized;
  const environments = Object.entries(stack.api.functions).map(([, fn]) =>
    functionEnvironment(template, logicalIdOf(synthesized, fn.function)),
  );
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

  handlers.meta = (await import('#functions/api/meta.ts')).handler as Handler;
  handlers.catalog = (await import('#functions/api/catalog.ts')).handler as Handler;
  handlers.addons = (await import('#functions/api/addons.ts')).handler as Handler;
  handlers.credentials = (await import('#functions/api/credentials.ts')).handler as Handler;
  handlers.operations = (await import('#functions/api/operations.ts')).handler as Handler;
}, 180_000);
beforeAll(() => exercise(), 60_000);

afterAll(async () => {
  sfn.restore();
  secretsManager.restore();
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
  return json(response);
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
      deleteLocked: 409,
      // No connection details before the instance is available.
      credentials: 409,
      operation: 200,
      operations: 200,
      delete: 202,
    });
  });

  const environment = (): CallEnvironment => {
    const { json: template, stack } = synthesized;
    const keyArn = String(
      resolveIntrinsics({ 'Fn::GetAtt': [logicalIdOf(synthesized, stack.data.key), 'Arn'] }, template),
    );
    return { tableKeyArn: keyArn, secretsKeyArn: keyArn };
  };

  describe.each(['meta', 'catalog', 'addons', 'credentials', 'operations'] as const)('%s', (name) => {
    const statementsOf = () => {
      const fn = synthesized.stack.api.functions[name];
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
