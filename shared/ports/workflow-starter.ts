import * as z from 'zod/mini';

export const WORKFLOWS = [
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
] as const;
export type WorkflowName = (typeof WORKFLOWS)[number];

const OperationRefSchema = z.object({
  projectId: z.string().check(z.minLength(1)),
  addonId: z.string().check(z.minLength(1)),
  operationId: z.string().check(z.minLength(1)),
});
const BackupOperationRefSchema = z.extend(OperationRefSchema, { backupId: z.string().check(z.minLength(1)) });
/** A delete may first take a final backup: present only then (the ASL asks `IsPresent`). */
/** An upgrade: the backup it takes first, and the version it upgrades to. */
const UpgradeOperationRefSchema = z.extend(BackupOperationRefSchema, {
  version: z.string().check(z.minLength(1)),
});
const DeleteOperationRefSchema = z.extend(OperationRefSchema, {
  backupId: z.optional(z.string().check(z.minLength(1))),
});
/** A credential rotation: which half (the ASL's first Choice). */
const RotationOperationRefSchema = z.extend(OperationRefSchema, { phase: z.enum(['rotate', 'retire']) });

/**
 * The execution input of each workflow: every field its ASL reads with a JSONPath. A path on a
 * missing field is a States.Runtime error, which no Catch catches, so a field left out would
 * leave the operation in flight for good: the compiler and these schemas both refuse it.
 */
export const WorkflowInputSchemas = {
  'provision-addon': OperationRefSchema,
  'delete-addon': DeleteOperationRefSchema,
  'backup-addon': BackupOperationRefSchema,
  'restore-addon': BackupOperationRefSchema,
  'export-backup': BackupOperationRefSchema,
  'scale-addon': OperationRefSchema,
  'upgrade-addon': UpgradeOperationRefSchema,
  'update-replicas': OperationRefSchema,
  'update-networking': OperationRefSchema,
  'rotate-credentials': RotationOperationRefSchema,
} as const satisfies Record<WorkflowName, z.ZodMiniType>;

export type WorkflowInputs = { [W in WorkflowName]: z.infer<(typeof WorkflowInputSchemas)[W]> };

/** One workflow with its own input: `{workflow: 'backup-addon', input: {..., backupId}}`. */
export type WorkflowRun = { [W in WorkflowName]: { workflow: W; input: WorkflowInputs[W] } }[WorkflowName];

/** Any workflow's input: what every one of them carries. */
export type AnyWorkflowInput = WorkflowRun['input'];

/**
 * Starting workflows: StartExecution on AWS, the local ASL runner locally. The execution is
 * named after the operation id, so starting the same operation twice is a no-op.
 */
export interface WorkflowStarter {
  start(run: WorkflowRun): Promise<void>;
  /** Stop an execution (abort); Catch states do not run, so the caller cleans up. Stopping a finished one is a no-op. */
  stop(workflow: WorkflowName, operationId: string, reason: string): Promise<void>;
}

/** The input checked against its workflow's schema, for starters that take it from outside the compiler's view. */
export const checkWorkflowRun = (run: WorkflowRun): WorkflowRun => {
  const schema: z.ZodMiniType = WorkflowInputSchemas[run.workflow];
  const parsed = schema.safeParse(run.input);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => issue.path.join('.') || '(input)').join(', ');
    throw new Error(`The ${run.workflow} workflow cannot start: its input lacks or misstates ${fields}`);
  }
  return run;
};
