import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ProviderError } from '#shared/errors.ts';
import { WORKFLOWS, type WorkflowName } from '#shared/ports/workflow-starter.ts';

/**
 * The fault-injection plan, generated from the ASL files themselves: every Task state of every
 * workflow, on every branch that reaches it, gets a failure and (locally) a crash with restart.
 * A state added to an ASL file gets its cases without anyone writing them.
 */

const DIR = fileURLToPath(new URL('../../../state-machines/', import.meta.url));

interface AslState {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  Next?: string;
  Default?: string;
  End?: boolean;
  Choices?: Array<{ Variable?: string; StringEquals?: string; IsPresent?: boolean; Next: string }>;
  Catch?: Array<{ Next: string }>;
}
interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
}

export const readDefinition = (workflow: string): AslDefinition =>
  JSON.parse(readFileSync(`${DIR}${workflow}.asl.json`, 'utf8')) as AslDefinition;

/** The workflows as files: every `*.asl.json` in state-machines/. */
export const aslWorkflows = (): string[] =>
  readdirSync(DIR)
    .filter((name) => name.endsWith('.asl.json'))
    .map((name) => name.replace(/\.asl\.json$/, ''))
    .sort();

export const taskStatesOf = (workflow: string): string[] =>
  Object.entries(readDefinition(workflow).States)
    .filter(([, state]) => state.Type === 'Task')
    .map(([name]) => name);

/** Backup and restore branch on the backup's type (a restore also to a point in time); the others have one path. */
export type Variant = 'dump' | 'snapshot' | 'point-in-time' | 'default';

const isTypeChoice = (rule: { Variable?: string }) => /\.type$/.test(rule.Variable ?? '');

/** A branch on whether the input carries an option (delete's `backupId`: a final backup of that type). */
const isOptionChoice = (rule: { IsPresent?: boolean }) => rule.IsPresent === true;

/**
 * The backup types, when a Choice branches on one; and 'default' (the option absent) when the
 * typed branch hangs off an optional input, or there is no branch at all.
 */
const variantsOf = (definition: AslDefinition): Variant[] => {
  const choices = Object.values(definition.States).flatMap((state) => state.Choices ?? []);
  if (!choices.some(isTypeChoice)) return ['default'];
  if (choices.some(isOptionChoice)) return ['default', 'dump', 'snapshot'];
  const pointInTime = choices.some((rule) => isTypeChoice(rule) && rule.StringEquals === 'point-in-time');
  return pointInTime ? ['dump', 'snapshot', 'point-in-time'] : ['dump', 'snapshot'];
};

/** Where failures go: every Catch target and what follows it (compensation, recording the failure). */
const failurePath = (definition: AslDefinition): Set<string> => {
  const seen = new Set<string>();
  const visit = (name: string | undefined) => {
    if (!name || seen.has(name)) return;
    seen.add(name);
    const state = definition.States[name];
    visit(state?.Next);
    for (const rule of state?.Catch ?? []) visit(rule.Next);
  };
  for (const state of Object.values(definition.States))
    for (const rule of state.Catch ?? []) visit(rule.Next);
  return seen;
};

/** States a run without failure can reach, in the order first reached, for one variant. */
const happyPath = (definition: AslDefinition, variant: Variant): string[] => {
  const failure = failurePath(definition);
  const seen: string[] = [];
  const visit = (name: string | undefined) => {
    if (!name || seen.includes(name) || failure.has(name)) return;
    seen.push(name);
    const state = definition.States[name];
    if (!state) throw new Error(`No state ${name}`);
    if (!state.Choices) return visit(state.Next);
    const options = state.Choices.filter(isOptionChoice);
    if (options.length > 0) {
      if (variant === 'default') return visit(state.Default);
      for (const rule of options) visit(rule.Next);
      return;
    }
    const typed = state.Choices.filter(isTypeChoice);
    for (const rule of state.Choices.filter((each) => !isTypeChoice(each))) visit(rule.Next);
    const chosen = typed.find((rule) => rule.StringEquals === variant);
    if (chosen) visit(chosen.Next);
    else visit(state.Default);
  };
  visit(definition.StartAt);
  return seen;
};

const isCompensation = (definition: AslDefinition, name: string): boolean =>
  failurePath(definition).has(name);

/** Where a Task's failure goes: its Catch target, or past the Pass that sets the compensation up. */
const catchTargetOf = (definition: AslDefinition, name: string): string | undefined => {
  const target = definition.States[name]?.Catch?.[0]?.Next;
  const setUp = target ? definition.States[target] : undefined;
  return setUp?.Type === 'Pass' ? setUp.Next : target;
};

/** The compensation that fails a delete's final backup: it says so with `final: true`. */
const isFinalBackupFailure = (definition: AslDefinition, name: string | undefined): boolean =>
  name !== undefined && definition.States[name]?.Parameters?.final === true;

export interface FaultCase {
  workflow: WorkflowName;
  variant: Variant;
  /** The Task state where the fault hits. */
  state: string;
  /**
   * How the run gets to a compensation state: the happy-path Task that fails (every time), and
   * the compensation Tasks that fail every time too (to reach RecordFailure).
   */
  failing: string[];
  /** The compensation itself fails every time: what it should remove stays, and the reason says so. */
  cleanupFails: boolean;
  /**
   * A failure here is handled by the final backup's compensation (a `failBackup` with
   * `final: true`): the delete fails before touching the addon, which stays running.
   */
  finalBackupFails: boolean;
}

/** Every (workflow, branch, Task state) a run can reach, with what must fail to reach it. */
export const faultCases = (): FaultCase[] => {
  const cases: FaultCase[] = [];
  for (const workflow of aslWorkflows()) {
    if (!(WORKFLOWS as readonly string[]).includes(workflow)) throw new Error(`Unknown workflow ${workflow}`);
    const definition = readDefinition(workflow);
    for (const variant of variantsOf(definition)) {
      const path = happyPath(definition, variant);
      const tasks = path.filter((name) => definition.States[name]?.Type === 'Task');
      for (const state of taskStatesOf(workflow)) {
        const base = { workflow: workflow as WorkflowName, variant, state };
        if (tasks.includes(state)) {
          cases.push({
            ...base,
            failing: [],
            cleanupFails: false,
            finalBackupFails: isFinalBackupFailure(definition, catchTargetOf(definition, state)),
          });
          continue;
        }
        if (!isCompensation(definition, state)) continue; // on the other branch
        // The last happy-path Task whose Catch leads here, directly or through failing compensations.
        const chain = (target: string): string[] | undefined => {
          const direct = [...tasks].reverse().find((task) => catchTargetOf(definition, task) === target);
          if (direct) return [direct];
          const via = Object.keys(definition.States).find(
            (name) => isCompensation(definition, name) && catchTargetOf(definition, name) === target,
          );
          const before = via ? chain(via) : undefined;
          return via && before ? [...before, via] : undefined;
        };
        const failing = chain(state);
        if (failing) {
          const cleanupFails = failing.some((name) => isCompensation(definition, name));
          const handler = catchTargetOf(definition, failing[0] as string);
          cases.push({
            ...base,
            failing,
            cleanupFails,
            finalBackupFails: isFinalBackupFailure(definition, handler),
          });
        }
      }
    }
  }
  return cases;
};

export type FaultKind = 'fail' | 'crash';

/** What a Task throws when the plan fails it: not retryable, so the state's Catch takes it. */
export class InjectedFault extends ProviderError {
  constructor(state: string) {
    super(`Injected failure at ${state}`, 'InjectedFault');
  }
}

/**
 * The fault plan of one test, consulted by the harness before and after each Task runs. The
 * `failing` states fail on every attempt; the target state fails, or crashes the platform right
 * after its effect, once.
 */
export class FaultPlan {
  armed = false;
  triggered = false;
  readonly visits: string[] = [];
  constructor(
    readonly fault: FaultCase,
    readonly kind: FaultKind,
  ) {}

  /** Throws when the state must fail now. */
  before(workflow: string, state: string): void {
    if (!this.armed || workflow !== this.fault.workflow) return;
    this.visits.push(state);
    if (this.fault.failing.includes(state)) throw new InjectedFault(state);
    if (state === this.fault.state && this.kind === 'fail' && !this.triggered) {
      this.triggered = true;
      throw new InjectedFault(state);
    }
  }

  /** True when the platform must crash now, after the state's effect. */
  crashAfter(workflow: string, state: string): boolean {
    if (!this.armed || workflow !== this.fault.workflow) return false;
    if (state !== this.fault.state || this.kind !== 'crash' || this.triggered) return false;
    this.triggered = true;
    return true;
  }
}
