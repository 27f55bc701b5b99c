import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { DocDBClient } from '@aws-sdk/client-docdb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CfnResource } from 'aws-cdk-lib';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { createAwsWorkflowTaskHandler } from '#functions/workflow/handler.ts';
import { LOCAL_AWS, startDynamo } from '#infra/local/emulators.ts';
import { localLambdaContext } from '#infra/local/lambda-context.ts';
import { loadDefinition } from '#infra/local/workflow-runner.ts';
import { parseEnv, WorkflowFunctionEnvSchema } from '#shared/config/env.ts';
import {
  checkWorkflowRun,
  type WorkflowName,
  type WorkflowRun,
  type WorkflowStarter,
} from '#shared/ports/workflow-starter.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { BackupStore } from '#shared/store/backup-store.ts';
import { ImportStore } from '#shared/store/import-store.ts';
import { functionEnvironment, resolveIntrinsics } from '../../infra/support/intrinsics.ts';
import { type SynthesizedStack, synthesizeAddons } from '../../infra/support/stack.ts';
import { snapshotDeleters } from '../../support/backups.ts';
import { FakeAws } from './fake-aws.ts';

type Json = Parameters<StateMachine['run']>[0];

/** The Step Functions resource of the job states. */
export const RUN_TASK_SYNC = 'arn:aws:states:::ecs:runTask.sync';
type LambdaFunction = (input: unknown) => Promise<unknown>;

export const logicalIdOf = (synthesized: SynthesizedStack, construct: { node: { defaultChild?: unknown } }) =>
  synthesized.stack.resolve((construct.node.defaultChild as CfnResource).logicalId) as string;

/**
 * Runs the ASL files as Step Functions would after CDK deployed them: placeholders replaced
 * with the stack's own `DefinitionSubstitutions`, and each Task's Resource (a Lambda ARN)
 * served by the function the stack says has that ARN. Waits and retry intervals are zero.
 */
export class DeployedWorkflows implements WorkflowStarter {
  private readonly running = new Map<string, Promise<{ error?: Error }>>();
  readonly outcomes = new Map<string, { error?: Error }>();
  /** Consulted before each Task state runs; throwing fails that state (fault injection). */
  beforeTask?: (workflow: WorkflowName, state: string) => void;

  constructor(
    private readonly definitions: Partial<Record<WorkflowName, StateMachineDefinition>>,
    private readonly lambdas: Record<string, LambdaFunction>,
  ) {}

  async start(run: WorkflowRun): Promise<void> {
    const { workflow, input } = checkWorkflowRun(run);
    const definition = this.definitions[workflow];
    if (!definition) throw new Error(`Workflow ${workflow} is not part of these tests`);
    if (this.running.has(input.operationId)) return;
    const tasks = Object.entries(definition.States).filter(([, state]) => state.Type === 'Task');
    const handlers = Object.fromEntries(
      tasks.map(([name, state]) => {
        const resource = (state as { Resource: string }).Resource;
        const lambda = this.lambdas[resource];
        if (!lambda) throw new Error(`${workflow}.${name}: no function of the stack has ARN ${resource}`);
        return [
          name,
          async (taskInput: Json) => {
            this.beforeTask?.(workflow, name);
            return (await lambda(taskInput)) as Json;
          },
        ];
      }),
    );
    const zero = (type: string) =>
      Object.fromEntries(
        Object.entries(definition.States)
          .filter(([, state]) => state.Type === type)
          .map(([name]) => [name, 0]),
      );
    const execution = new StateMachine(definition, { validationOptions: {} }).run(input as unknown as Json, {
      overrides: {
        taskResourceLocalHandlers: handlers,
        waitTimeOverrides: zero('Wait'),
        retryIntervalOverrides: zero('Task'),
      },
    });
    const outcome = execution.result.then(
      () => ({}),
      (error: Error) => ({ error }),
    );
    this.running.set(
      input.operationId,
      outcome.then((result) => {
        this.outcomes.set(input.operationId, result);
        return result;
      }),
    );
  }

  async stop(): Promise<void> {}

  async idle(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }
}

/**
 * Everything a workflow test needs: the synthesized stack, the workflow function built by its
 * AWS composition root with the environment CDK gives it (intrinsics resolved), RDS, EC2 and
 * Secrets Manager faked with aws-sdk-client-mock, DynamoDB real (dynalite) with every command
 * the function sends recorded beside the fakes' calls.
 */
export const startAwsWorkflowWorld = async () => {
  const synthesized = synthesizeAddons();
  const { stack, json } = synthesized;
  const taskFunctionId = logicalIdOf(synthesized, stack.workflows.taskFunction.function);
  const rawEnv = functionEnvironment(json, taskFunctionId);
  const env = parseEnv(WorkflowFunctionEnvSchema, rawEnv);

  const dir = await mkdtemp(join(tmpdir(), 'addons-aws-workflows-'));
  const dynamo = await startDynamo(dir, env.TABLE_NAME);
  const fake = new FakeAws();

  const functionDynamo = new DynamoDBClient({ ...LOCAL_AWS, endpoint: dynamo.endpoint });
  /** A test's fault injector: an error it returns is thrown instead of sending the command. */
  const dynamoFaults: Array<(command: string) => Error | undefined> = [];
  functionDynamo.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName).replace(/Command$/, '');
      fake.calls.push({
        service: 'dynamodb',
        command,
        input: structuredClone(args.input) as Record<string, unknown>,
      });
      for (const fault of dynamoFaults) {
        const error = fault(command);
        if (error) throw error;
      }
      return next(args);
    },
    { step: 'initialize', name: 'recordDynamoCalls' },
  );
  const taskHandler = createAwsWorkflowTaskHandler(
    env,
    {
      dynamo: functionDynamo,
      rds: new RDSClient({ ...LOCAL_AWS, region: 'eu-west-1' }),
      ec2: new EC2Client({ ...LOCAL_AWS, region: 'eu-west-1' }),
      docdb: new DocDBClient({ ...LOCAL_AWS, region: 'eu-west-1' }),
      secrets: new SecretsManagerClient({ ...LOCAL_AWS, region: 'eu-west-1' }),
      s3: new S3Client({ ...LOCAL_AWS, region: 'eu-west-1' }),
      scheduler: new SchedulerClient({ ...LOCAL_AWS, region: 'eu-west-1' }),
    },
    new Logger({ logLevel: 'SILENT' }),
  );
  const taskFunctionArn = String(resolveIntrinsics({ 'Fn::GetAtt': [taskFunctionId, 'Arn'] }, json));

  const definitions: Partial<Record<WorkflowName, StateMachineDefinition>> = {};
  for (const workflow of [
    'provision-addon',
    'delete-addon',
    'backup-addon',
    'restore-addon',
    'export-backup',
    'scale-addon',
    'upgrade-addon',
    'update-replicas',
    'update-networking',
    'rotate-credentials',
  ] as const) {
    const machineId = logicalIdOf(synthesized, stack.workflows.stateMachine(workflow));
    const substitutions = resolveIntrinsics(
      json.Resources[machineId]?.Properties?.DefinitionSubstitutions,
      json,
    ) as Record<string, string>;
    definitions[workflow] = loadDefinition(workflow, substitutions);
  }
  // What `ecs:runTask.sync` receives and does: each test decides (the job's effect on S3, or a
  // failed task); every call's parameters are kept.
  const runTaskCalls: Array<Record<string, unknown>> = [];
  const jobs = {
    behaviour: (async () => ({})) as (parameters: Record<string, unknown>) => Promise<unknown>,
  };
  const workflows = new DeployedWorkflows(definitions, {
    [taskFunctionArn]: (input) => taskHandler(input, localLambdaContext('workflow-tasks')),
    [RUN_TASK_SYNC]: async (input) => {
      const parameters = structuredClone(input) as Record<string, unknown>;
      runTaskCalls.push(parameters);
      return jobs.behaviour(parameters);
    },
  });

  // The test's own view of the table: not recorded, not the function's.
  const store = new AddonStore({
    client: DynamoDBDocumentClient.from(dynamo.client, { marshallOptions: { removeUndefinedValues: true } }),
    tableName: env.TABLE_NAME,
  });
  const testDocumentClient = DynamoDBDocumentClient.from(dynamo.client, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const backupStore = new BackupStore({ client: testDocumentClient, tableName: env.TABLE_NAME });
  const importStore = new ImportStore({ client: testDocumentClient, tableName: env.TABLE_NAME });
  const service = new AddonService({
    store,
    workflows,
    target: 'aws',
    finalBackups: {
      backups: backupStore,
      artifacts: new BackupArtifacts({
        client: new S3Client({ ...LOCAL_AWS, region: 'eu-west-1' }),
        bucket: env.BACKUP_BUCKET,
      }),
    },
    // As the addons function composes it: forks look their source backups up in the table.
    forks: { backups: backupStore },
  });
  // The API side, as the backups function composes it (its S3 and RDS calls are not the
  // workflow function's, and are not recorded here).
  const backupService = new BackupService({
    store,
    backups: backupStore,
    workflows,
    artifacts: new BackupArtifacts({
      client: new S3Client({ ...LOCAL_AWS, region: 'eu-west-1' }),
      bucket: env.BACKUP_BUCKET,
    }),
    snapshotDeleters: snapshotDeleters({
      deleteSnapshot: () => Promise.reject(new Error('not in these tests')),
    }),
    target: 'aws',
  });

  return {
    synthesized,
    env,
    fake,
    store,
    service,
    backupStore,
    importStore,
    backupService,
    workflows,
    runTaskCalls,
    jobs,
    dynamoFaults,
    taskFunctionId,
    stop: async () => {
      fake.restore();
      functionDynamo.destroy();
      await dynamo.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

export type AwsWorkflowWorld = Awaited<ReturnType<typeof startAwsWorkflowWorld>>;
