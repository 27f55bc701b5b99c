import { type SFNClient, SFNServiceException } from '@aws-sdk/client-sfn';
import { type AslRetrier, AslRetry, sleep, TokenBucket } from './fanout-model.ts';

/**
 * Step Functions and ECS/Fargate as the scheduled fan-out meets them, in virtual time.
 *
 * Step Functions answers inside a real SFNClient's middleware stack, not with aws-sdk-client-mock:
 * the mock replaces `send`, which would skip the client's retry middleware, and the point is to
 * see the SDK's own retry strategy meet a throttling bucket.
 */

interface StartInput {
  stateMachineArn: string;
  name: string;
  input: string;
}

/** An error as the SDK deserializes a 400 from the service. */
const serviceError = (name: string, message: string) =>
  new SFNServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });

export interface Execution {
  name: string;
  input: string;
  startedAt: number;
}

/**
 * StartExecution of standard workflows behind its token bucket. Same name and same input as an
 * existing execution: the call succeeds and starts nothing (Step Functions' idempotency for
 * standard workflows); same name, other input: ExecutionAlreadyExists. Every admitted start
 * runs `onStart` (the workflow).
 */
export class FakeStepFunctions {
  readonly executions = new Map<string, Execution>();
  /** Admitted StartExecution calls that found their execution already there. */
  idempotentRepeats = 0;

  constructor(
    readonly startExecution: TokenBucket,
    private readonly latencyMs: number,
    private readonly onStart: (execution: Execution) => void,
  ) {}

  /**
   * Serve `client` (a real SFNClient, its configuration the function's own): a middleware right
   * after the SDK's retry middleware answers in its place, so the client's own retry strategy
   * (backoff, jitter, retry quota) handles the throttles; signing and the wire are skipped (they
   * cost milliseconds a call). A dead environment sends nothing.
   */
  serve(client: SFNClient, alive: { value: boolean }) {
    client.middlewareStack.addRelativeTo(
      () => async (args: { input: object }) => {
        if (!alive.value) throw new Error('the execution environment was shut down');
        await sleep(this.latencyMs);
        return { response: { statusCode: 200, headers: {} }, output: this.start(args.input as StartInput) };
      },
      { name: 'fakeStepFunctions', relation: 'after', toMiddleware: 'retryMiddleware' },
    );
  }

  private start({ stateMachineArn, name, input }: StartInput) {
    if (!this.startExecution.take()) {
      throw serviceError('ThrottlingException', 'Rate exceeded');
    }
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const existing = this.executions.get(name);
    if (existing) {
      if (existing.input !== input) throw serviceError('ExecutionAlreadyExists', executionArn);
      this.idempotentRepeats += 1;
      return { executionArn, startDate: new Date(existing.startedAt), $metadata: {} };
    }
    const execution = { name, input, startedAt: Date.now() };
    this.executions.set(name, execution);
    this.onStart(execution);
    return { executionArn, startDate: new Date(execution.startedAt), $metadata: {} };
  }
}

/**
 * The dump branch of backup-addon up to its Fargate task: the Lambda task states before it
 * (`beforeRunTaskMs`), then `ecs:runTask.sync` against Fargate's RunTask request bucket and its
 * task-launch bucket, a throttle answered the way Step Functions names it, retried with the
 * RunDumpJob state's own Retry (read from the ASL by the caller) until a launch or the Catch.
 */
export class FakeFargate {
  readonly launched = new Map<string, number>();
  readonly caught = new Map<string, string>();
  /** The error name Step Functions gives a throttled `ecs:runTask`. */
  static readonly THROTTLED = 'ECS.ThrottlingException';

  constructor(
    readonly runTaskCalls: TokenBucket,
    readonly taskLaunches: TokenBucket,
    private readonly retriers: AslRetrier[],
    private readonly beforeRunTaskMs: number,
    private readonly random: () => number,
  ) {}

  async runDumpJob(executionName: string): Promise<void> {
    await sleep(this.beforeRunTaskMs);
    const retry = new AslRetry(this.retriers, this.random);
    for (;;) {
      if (TokenBucket.takeBoth(this.runTaskCalls, this.taskLaunches)) {
        this.launched.set(executionName, Date.now());
        return;
      }
      const delay = retry.nextDelayMs(FakeFargate.THROTTLED);
      if (delay === undefined) {
        this.caught.set(executionName, FakeFargate.THROTTLED);
        return;
      }
      await sleep(delay);
    }
  }
}
