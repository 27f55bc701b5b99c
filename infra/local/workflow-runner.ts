import { readFileSync } from 'node:fs';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { ExecutionState } from '#shared/ports/reconciler.ts';
import {
  type AnyWorkflowInput,
  checkWorkflowRun,
  WORKFLOWS,
  type WorkflowName,
  type WorkflowRun,
  type WorkflowStarter,
} from '#shared/ports/workflow-starter.ts';

/** The local stand-in for each `${Placeholder}` of the ASL files (CDK substitutes the real ARNs on AWS). */
export const LOCAL_SUBSTITUTIONS: Record<string, string> = {
  WorkflowTaskFunctionArn: 'arn:aws:lambda:local:000000000000:function:workflow-tasks',
};

export type LocalTaskFunction = (input: unknown) => Promise<unknown>;

export interface LocalWorkflowRunnerProps {
  /** Lambda ARN (after substitution) -> the function that serves it in this process. */
  functions: Record<string, LocalTaskFunction>;
  substitutions?: Record<string, string>;
  waitMs: number;
  retryMs: number;
  onFinished?: (workflow: WorkflowName, input: AnyWorkflowInput, outcome: { error?: unknown }) => void;
  stateMachinesDir?: URL;
}

type Json = Parameters<StateMachine['run']>[0];

export const loadDefinition = (
  workflow: string,
  substitutions: Record<string, string>,
  dir = new URL('../../state-machines/', import.meta.url),
): StateMachineDefinition => {
  const text = readFileSync(new URL(`${workflow}.asl.json`, dir), 'utf8');
  const substituted = text.replace(/\$\{(\w+)\}/g, (_match, name: string) => {
    const value = substitutions[name];
    if (value === undefined) throw new Error(`${workflow}.asl.json: no local substitution for \${${name}}`);
    return value;
  });
  return JSON.parse(substituted) as StateMachineDefinition;
};

/**
 * Validating the definitions takes seconds of CPU (asl-validator compiles its schemas), paid by
 * every `npm start`. The files are the ones the stack deploys, validated with asl-validator by
 * test/unit/state-machines.test.ts, so the runner does not validate them again. A runner made
 * again for the same files (a restart in tests, each test's own runner) reuses its machine.
 */
const machines = new Map<string, StateMachine>();
const machineFor = (definition: StateMachineDefinition): StateMachine => {
  const key = JSON.stringify(definition);
  let machine = machines.get(key);
  if (!machine) {
    machine = new StateMachine(definition, { validationOptions: { noValidate: true } });
    machines.set(key, machine);
  }
  return machine;
};

const statesOfType = (definition: StateMachineDefinition, type: string) =>
  Object.entries(definition.States).filter(([, state]) => state.Type === type);

/**
 * Runs the same ASL files as Step Functions, in this process, with aws-local-stepfunctions.
 * Executions are keyed by the operation id like StartExecution names, so a second start of
 * the same operation is a no-op. Waits and retry intervals are shortened: local engines are fast.
 */
export class LocalWorkflowRunner implements WorkflowStarter {
  private readonly machines = new Map<
    WorkflowName,
    { machine: StateMachine; definition: StateMachineDefinition }
  >();
  private readonly running = new Map<string, { abort: () => void; done: Promise<void> }>();
  /** How recent executions ended, by operation id (bounded): what DescribeExecution tells on AWS. */
  private readonly ended = new Map<string, string>();
  private stopped = false;

  constructor(private readonly props: LocalWorkflowRunnerProps) {
    const substitutions = props.substitutions ?? LOCAL_SUBSTITUTIONS;
    for (const workflow of WORKFLOWS) {
      const definition = loadDefinition(workflow, substitutions, props.stateMachinesDir);
      for (const [name, state] of statesOfType(definition, 'Task')) {
        const resource = (state as { Resource: string }).Resource;
        if (!props.functions[resource])
          throw new Error(`${workflow}: no local function for ${name} (${resource})`);
      }
      this.machines.set(workflow, {
        machine: machineFor(definition),
        definition,
      });
    }
  }

  async start(run: WorkflowRun): Promise<void> {
    if (this.stopped) throw new Error('The local workflow runner is shutting down');
    const { workflow, input } = checkWorkflowRun(run);
    if (this.running.has(input.operationId)) return;
    const entry = this.machines.get(workflow);
    if (!entry) throw new Error(`Unknown workflow ${workflow}`);
    const { definition, machine } = entry;
    const taskHandlers = Object.fromEntries(
      statesOfType(definition, 'Task').map(([name, state]) => {
        const fn = this.props.functions[(state as { Resource: string }).Resource] as LocalTaskFunction;
        return [name, (taskInput: Json) => fn(taskInput) as Promise<Json>];
      }),
    );
    const waits = Object.fromEntries(
      statesOfType(definition, 'Wait').map(([name]) => [name, this.props.waitMs]),
    );
    const retries = Object.fromEntries(
      statesOfType(definition, 'Task').map(([name]) => [name, this.props.retryMs]),
    );
    const execution = machine.run(input as unknown as Json, {
      overrides: {
        taskResourceLocalHandlers: taskHandlers,
        waitTimeOverrides: waits,
        retryIntervalOverrides: retries,
      },
      noThrowOnAbort: true,
    });
    const done = execution.result.then(
      () => {
        this.remember(input.operationId, 'SUCCEEDED');
        this.props.onFinished?.(workflow, input, {});
      },
      (error: unknown) => {
        this.remember(input.operationId, 'FAILED');
        this.props.onFinished?.(workflow, input, { error });
      },
    );
    const tracked = {
      abort: execution.abort,
      done: done.finally(() => this.running.delete(input.operationId)),
    };
    this.running.set(input.operationId, tracked);
  }

  private remember(operationId: string, outcome: string) {
    this.ended.delete(operationId);
    this.ended.set(operationId, outcome);
    for (const oldest of this.ended.keys()) {
      if (this.ended.size <= 1000) break;
      this.ended.delete(oldest);
    }
  }

  /** Running, ended in this process (and how), or unknown to it (never started, or before a restart). */
  async describe(_workflow: WorkflowName, operationId: string): Promise<ExecutionState> {
    if (this.running.has(operationId)) return { status: 'running' };
    const outcome = this.ended.get(operationId);
    return outcome ? { status: 'ended', outcome } : { status: 'absent' };
  }

  /** Abort one execution, as StopExecution does: no Catch runs; the caller cleans up. */
  async stop(_workflow: WorkflowName, operationId: string, _reason: string): Promise<void> {
    const run = this.running.get(operationId);
    if (!run) return;
    run.abort();
    await run.done;
    this.remember(operationId, 'ABORTED');
  }

  /** Executions in flight (for tests and shutdown). */
  get inFlight(): number {
    return this.running.size;
  }

  /** Wait for every execution in flight to end, e.g. in tests. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()].map((run) => run.done));
  }

  /**
   * Abort every execution. Their operations stay in flight in the table and the next start
   * resumes them: the same path as after a crash, so it is exercised on every Ctrl-C.
   */
  async shutdown(): Promise<void> {
    this.stopped = true;
    const runs = [...this.running.values()];
    for (const run of runs) run.abort();
    await Promise.allSettled(runs.map((run) => run.done));
  }
}
