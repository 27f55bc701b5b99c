import { readFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { RDSClient } from '@aws-sdk/client-rds';
import type { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  composeRunBackup,
  RUN_BACKUP_SFN_CLIENT_CONFIG,
  type RunBackupResult,
} from '#functions/schedule/run-backup.ts';
import { RUN_BACKUP_FUNCTION } from '#infra/aws/constructs/schedules.ts';
import {
  SCHEDULE_FLEXIBLE_WINDOW_MINUTES,
  type ScheduledBackupEvent,
} from '#shared/providers/aws/eventbridge-schedule-runner.ts';
import { scheduledBackupId } from '#shared/services/backup-service.ts';
import { BackupStore } from '#shared/store/backup-store.ts';
import { keys } from '#shared/store/table.ts';
import { addonRecord, scheduleRecord } from '../support/fixtures.ts';
import { FakeFargate, FakeStepFunctions } from './support/fanout-aws.ts';
import {
  type AslRetrier,
  AsyncLambda,
  seededRandom,
  TokenBucket,
  VirtualClock,
} from './support/fanout-model.ts';
import { MemoryTable } from './support/memory-table.ts';

/**
 * Scheduled fan-out (issue 13): 10,000 addons whose backup schedules are due in the same
 * minute. A simulation in virtual time (vitest's fake timers: a run of several virtual minutes
 * takes seconds) of what happens on AWS, with the product's own code where it runs:
 *
 * - EventBridge Scheduler invokes run-backup asynchronously for each schedule at the due time.
 * - Lambda runs at most the function's concurrency at once (its reserved concurrency, from the
 *   construct); an event finding none free is throttled and retried after 1 s, 2 s, 4 s... up
 *   to 5 minutes; an invocation that fails is retried twice (1 and 2 minutes later), as the
 *   construct configures. Each execution environment composes the REAL run-backup handler
 *   (`composeRunBackup`: BackupService, ScheduleService, the stores, SfnWorkflowStarter) with
 *   its own clients, and times out as the deployed function does.
 * - StartExecution goes through a real SFNClient with the function's client configuration, so
 *   the SDK's own retry strategy (its backoff, jitter and retry quota) meets Step Functions'
 *   token bucket, which answers ThrottlingException when empty.
 * - DynamoDB is an in-memory table (aws-sdk-client-mock) with a latency per call; its request
 *   rates are measured and checked against on-demand's initial throughput.
 * - Each started execution runs backup-addon's dump branch up to `ecs:runTask.sync`, against
 *   Fargate's RunTask and task-launch buckets, with the RunDumpJob state's Retry as written in
 *   state-machines/backup-addon.asl.json.
 *
 * Limits (defaults, per account and Region), with their sources:
 * - Step Functions StartExecution, standard workflows: bucket 1,300, refill 300/s in us-east-1,
 *   us-west-2 and eu-west-1; bucket 800, refill 150/s in every other Region (Step Functions
 *   Developer Guide, "Service quotas" > "Quotas related to API action throttling"). The
 *   simulation uses the smaller one.
 * - Fargate: RunTask calls 20/s, burst and sustained; task launches bucket 100, refill 20/s
 *   (Amazon ECS Developer Guide, "AWS Fargate throttling quotas").
 * - Lambda asynchronous invocation: throttled events retried for up to 6 hours (or the maximum
 *   event age), intervals growing from 1 s to 5 minutes; function errors retried twice, after
 *   1 and 2 minutes (Lambda Developer Guide, "How Lambda handles errors and retries with
 *   asynchronous invocation"). EventBridge Scheduler invokes Lambda asynchronously (Lambda
 *   Developer Guide, "Invoke a Lambda function on a schedule").
 * - DynamoDB on demand: a new table serves up to 4,000 writes and 12,000 reads per second
 *   (DynamoDB Developer Guide, "On-demand capacity mode", initial throughput).
 *
 * `npx vitest run test/infra/scheduled-fanout.test.ts` prints the measurements.
 */

const ADDONS = Number(process.env.FANOUT_ADDONS ?? 10_000);
/** Firings at the same instant in the second scenario: more than StartExecution's bucket holds. */
const BURST = 1500;
const PROJECTS = 100;
const DUE = Date.parse('2026-12-01T03:00:00.000Z');
const FIVE_MINUTES = 5 * 60_000;

const LIMITS = {
  startExecution: { size: 800, refillPerSecond: 150 },
  fargateRunTask: { size: 20, refillPerSecond: 20 },
  fargateLaunches: { size: 100, refillPerSecond: 20 },
  dynamoOnDemand: { writesPerSecond: 4000, readsPerSecond: 12_000 },
};

/** Virtual latencies: a DynamoDB call, a Step Functions call, Lambda's own per invocation, an init. */
const LATENCY = { dynamoMs: 0, sfnMs: 25, invokeOverheadMs: 15, coldStartMs: 900, beforeRunTaskMs: 1500 };

const env = {
  ADDONS_TARGET: 'aws',
  POWERTOOLS_SERVICE_NAME: 'addons-schedules',
  TABLE_NAME: 'addons',
  BACKUP_BUCKET: 'addons-backups',
  BACKUP_ADDON_STATE_MACHINE_ARN: 'arn:aws:states:eu-central-1:111122223333:stateMachine:backup-addon',
} as const;
const awsConfig = { region: 'eu-central-1', credentials: { accessKeyId: 'AKIDSIM', secretAccessKey: 'sim' } };

const runDumpJobRetry = (): AslRetrier[] => {
  const asl = JSON.parse(readFileSync('state-machines/backup-addon.asl.json', 'utf8')) as {
    States: Record<string, { Retry?: AslRetrier[] }>;
  };
  const retry = asl.States.RunDumpJob?.Retry;
  if (!retry) throw new Error('backup-addon has no RunDumpJob Retry');
  return retry;
};

interface Measured {
  lastStartMs: number;
  lastLaunchMs: number;
  [key: string]: unknown;
}

const simulate = async ({ addons, windowMinutes }: { addons: number; windowMinutes: number }) => {
  const table = new MemoryTable();
  const seeding = DynamoDBDocumentClient.from(new DynamoDBClient(awsConfig), {
    marshallOptions: { removeUndefinedValues: true },
  });
  table.serve(seeding);
  const backups = new BackupStore({ client: seeding, tableName: env.TABLE_NAME });
  const events: ScheduledBackupEvent[] = [];
  const expected = new Set<string>();
  for (let i = 0; i < addons; i++) {
    const projectId = `proj-${i % PROJECTS}`;
    const addon = addonRecord({ projectId, name: `db-${i}`, status: 'running' });
    await seeding.send(
      new PutCommand({ TableName: env.TABLE_NAME, Item: { ...keys.addon(projectId, addon.id), ...addon } }),
    );
    const schedule = scheduleRecord({
      projectId,
      addonId: addon.id,
      interval: 'daily',
      hours: [3],
      minutes: [0],
    });
    await backups.putSchedule(schedule);
    expected.add(scheduledBackupId(schedule.id, new Date(DUE)));
    events.push({
      projectId,
      addonId: addon.id,
      scheduleId: schedule.id,
      scheduledTime: new Date(DUE).toISOString(),
    });
  }
  table.calls.length = 0;

  const random = seededRandom(13);
  const fargate = new FakeFargate(
    new TokenBucket('Fargate RunTask', LIMITS.fargateRunTask.size, LIMITS.fargateRunTask.refillPerSecond),
    new TokenBucket('Fargate launches', LIMITS.fargateLaunches.size, LIMITS.fargateLaunches.refillPerSecond),
    runDumpJobRetry(),
    LATENCY.beforeRunTaskMs,
    random,
  );
  const workflows: Promise<void>[] = [];
  const sfn = new FakeStepFunctions(
    new TokenBucket('StartExecution', LIMITS.startExecution.size, LIMITS.startExecution.refillPerSecond),
    LATENCY.sfnMs,
    (execution) => workflows.push(fargate.runDumpJob(execution.name)),
  );
  const logger = new Logger({ logLevel: 'SILENT' });
  const lambda = new AsyncLambda<ScheduledBackupEvent, RunBackupResult>(
    {
      concurrency: RUN_BACKUP_FUNCTION.concurrency,
      timeoutMs: RUN_BACKUP_FUNCTION.timeoutSeconds * 1000,
      retryAttempts: RUN_BACKUP_FUNCTION.retryAttempts,
      maxEventAgeMs: RUN_BACKUP_FUNCTION.maxEventAgeSeconds * 1000,
      coldStartMs: LATENCY.coldStartMs,
      overheadMs: LATENCY.invokeOverheadMs,
    },
    (alive) => {
      const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient(awsConfig), {
        marshallOptions: { removeUndefinedValues: true },
      });
      table.serve(documentClient, LATENCY.dynamoMs, alive);
      const sfnClient = new SFNClient({ ...RUN_BACKUP_SFN_CLIENT_CONFIG, ...awsConfig });
      sfn.serve(sfnClient, alive);
      const refuse = () => {
        throw new Error('run-backup sent an S3 or RDS call in the simulation');
      };
      return composeRunBackup(
        env,
        {
          documentClient,
          sfn: sfnClient,
          s3: { send: refuse } as unknown as S3Client,
          rds: () => ({ send: refuse }) as unknown as RDSClient,
        },
        logger,
      );
    },
  );

  const clock = new VirtualClock(DUE, (ms) => vi.setSystemTime(ms));
  clock.install();
  // EventBridge Scheduler disperses the firings over the schedules' flexible window.
  const windowMs = windowMinutes * 60_000;
  for (const event of events) lambda.invokeAsync(event, Math.floor(random() * windowMs));
  let done = false;
  void lambda
    .drained()
    .then(() => Promise.all(workflows))
    .then(() => {
      done = true;
    });
  try {
    await clock.run(() => done);
  } finally {
    clock.uninstall();
  }

  return { table, sfn, fargate, lambda, expected, steps: clock.steps };
};

const perSecondPeak = (times: number[]): number => {
  const counts = new Map<number, number>();
  for (const at of times) counts.set(Math.floor(at / 1000), (counts.get(Math.floor(at / 1000)) ?? 0) + 1);
  return Math.max(0, ...counts.values());
};

const measure = async (scenario: { addons: number; windowMinutes: number }) => {
  const started = performance.now();
  const world = await simulate(scenario);
  const { sfn, fargate, lambda, table } = world;
  const starts = [...sfn.executions.values()].map((execution) => execution.startedAt);
  const launches = [...fargate.launched.values()];
  const writes = table.calls.filter((call) => call.command !== 'GetCommand').map((call) => call.at);
  const reads = table.calls.filter((call) => call.command === 'GetCommand').map((call) => call.at);
  const measured: Measured = {
    lastStartMs: Math.max(...starts) - DUE,
    lastLaunchMs: Math.max(...launches) - DUE,
    startExecutionThrottled: sfn.startExecution.throttled,
    runTaskThrottled: fargate.runTaskCalls.throttled,
    lambdaThrottles: lambda.throttles,
    functionErrors: lambda.functionErrors,
    timeouts: lambda.timeouts,
    idempotentRepeats: sfn.idempotentRepeats,
    peakConcurrency: lambda.peakConcurrency,
    environments: lambda.environments,
    dynamoPeakWritesPerSecond: perSecondPeak(writes),
    dynamoPeakReadsPerSecond: perSecondPeak(reads),
    virtualSteps: world.steps,
    simulatedInMs: Math.round(performance.now() - started),
  };
  console.info(
    `scheduled fan-out of ${scenario.addons} backups over a ${scenario.windowMinutes}-minute window: ` +
      `last StartExecution ${(measured.lastStartMs / 1000).toFixed(1)} s after the due minute, ` +
      `last Fargate task launched after ${(measured.lastLaunchMs / 1000).toFixed(1)} s\n${JSON.stringify(measured, null, 2)}`,
  );
  return { world, measured };
};

/** One StartExecution per schedule, for the firing's backup; every firing ended with a result. */
const expectOneStartPerSchedule = (world: Awaited<ReturnType<typeof simulate>>) => {
  const { sfn, lambda, expected } = world;
  const started = [...sfn.executions.values()].map(
    (execution) => (JSON.parse(execution.input) as { backupId: string }).backupId,
  );
  expect(lambda.failed).toEqual([]);
  expect(new Set(started).size).toBe(started.length);
  expect(new Set(started)).toEqual(expected);
  const outcomes = lambda.results.map(({ result }) => result.outcome);
  expect(outcomes.filter((outcome) => outcome !== 'started' && outcome !== 'duplicate')).toEqual([]);
};

const expectWithinBuckets = (world: Awaited<ReturnType<typeof simulate>>) => {
  const { sfn, fargate } = world;
  for (const bucket of [sfn.startExecution, fargate.runTaskCalls, fargate.taskLaunches]) {
    for (const windowMs of [1000, 10_000, 60_000]) {
      const { most, allowed } = bucket.worstWindow(windowMs);
      expect(most, `${bucket.name} in ${windowMs} ms`).toBeLessThanOrEqual(allowed);
    }
  }
};

beforeAll(() => {
  vi.useFakeTimers({ toFake: ['Date'], now: DUE });
  vi.spyOn(Math, 'random').mockImplementation(seededRandom(2026));
});

afterAll(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe(`scheduled fan-out: ${ADDONS} backups due in the same minute, as deployed`, () => {
  let world: Awaited<ReturnType<typeof simulate>>;
  let measured: Measured;

  beforeAll(async () => {
    vi.setSystemTime(DUE);
    ({ world, measured } = await measure({
      addons: ADDONS,
      windowMinutes: SCHEDULE_FLEXIBLE_WINDOW_MINUTES,
    }));
  }, 120_000);

  it('starts one backup execution per schedule: none lost, none doubled', () => {
    expectOneStartPerSchedule(world);
  });

  it('starts the last one within 5 minutes of the due minute', () => {
    expect(measured.lastStartMs).toBeLessThanOrEqual(FIVE_MINUTES);
  });

  it('admits no StartExecution, RunTask or Fargate launch beyond its bucket', () => {
    expectWithinBuckets(world);
  });

  it('launches every dump task: the RunDumpJob Retry outlasts Fargate throttling', () => {
    const { fargate } = world;
    expect([...fargate.caught.keys()]).toEqual([]);
    expect(fargate.launched.size).toBe(ADDONS);
    expect(fargate.runTaskCalls.throttled).toBeGreaterThan(0);
  });

  it('keeps DynamoDB within on-demand throughput of a new table', () => {
    expect(measured.dynamoPeakWritesPerSecond).toBeLessThanOrEqual(LIMITS.dynamoOnDemand.writesPerSecond);
    expect(measured.dynamoPeakReadsPerSecond).toBeLessThanOrEqual(LIMITS.dynamoOnDemand.readsPerSecond);
  });
});

/**
 * The same path without the window's spread, for a burst larger than the StartExecution bucket:
 * throttled starts are thrown back to Lambda, whose retry of the firing resumes the backup
 * under the same execution name.
 */
describe(`a burst of ${BURST} firings at once: throttled starts resume`, () => {
  let world: Awaited<ReturnType<typeof simulate>>;

  beforeAll(async () => {
    vi.setSystemTime(DUE);
    ({ world } = await measure({ addons: BURST, windowMinutes: 0 }));
  }, 120_000);

  it('throttles StartExecution beyond the SDK’s retries, and the firing retried resumes it', () => {
    expect(world.sfn.startExecution.throttled).toBeGreaterThan(0);
    expect(world.lambda.functionErrors).toBeGreaterThan(0);
    expect(world.lambda.results.filter(({ result }) => result.outcome === 'started')).toHaveLength(BURST);
  });

  it('loses none and doubles none', () => {
    expectOneStartPerSchedule(world);
    expectWithinBuckets(world);
  });
});
