import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import * as z from 'zod/mini';
import { parsePart } from '#shared/api/zod-issues.ts';
import type { Target } from '#shared/schemas/catalog.ts';
import {
  AddonRetirement,
  type AddonRetirementDeps,
  RetirementTaskSchema,
} from '#shared/services/addon-retirement.ts';
import {
  type BackupTaskDeps,
  BackupTaskSchema,
  BackupWorkflowTasks,
} from '#shared/services/backup-workflow-tasks.ts';
import { type ExportTaskDeps, ExportTaskSchema, ExportTasks } from '#shared/services/export-tasks.ts';
import { ForkTaskSchema, ForkTasks } from '#shared/services/fork-tasks.ts';
import { NetworkingTaskSchema, NetworkingTasks } from '#shared/services/networking-tasks.ts';
import { ReplicaTaskSchema, ReplicaTasks } from '#shared/services/replicas.ts';
import { RestoredLoginTaskSchema, RestoredLoginTasks } from '#shared/services/restored-logins.ts';
import { RotationTaskSchema, RotationTasks } from '#shared/services/rotation-tasks.ts';
import { ScalingTaskSchema, ScalingTasks } from '#shared/services/scaling-tasks.ts';
import { UpgradeTaskSchema, UpgradeTasks } from '#shared/services/upgrade-tasks.ts';
import { type WorkflowTaskDeps, WorkflowTaskSchema, WorkflowTasks } from '#shared/services/workflow-tasks.ts';

const AnyTaskSchema = z.union([
  WorkflowTaskSchema,
  BackupTaskSchema,
  RetirementTaskSchema,
  ForkTaskSchema,
  ExportTaskSchema,
  ScalingTaskSchema,
  UpgradeTaskSchema,
  ReplicaTaskSchema,
  NetworkingTaskSchema,
  RotationTaskSchema,
  RestoredLoginTaskSchema,
]);

export interface WorkflowHandlerDeps extends WorkflowTaskDeps {
  logger: Logger;
  /** Backup and restore steps; a deployment without them refuses those actions by name. */
  backups?: BackupTaskDeps;
  /** What deleting an addon does to its schedules and backups. */
  retirement?: AddonRetirementDeps;
  /** Backup exports to users' buckets; a deployment without them refuses those actions by name. */
  exports?: ExportTaskDeps;
  /** Read-replica changes (the update-replicas workflow); without it those steps are refused by name. */
  replicas?: { target: Target };
}

/**
 * The one task handler of every addon state machine: the ASL passes `action`, this dispatches
 * on it. Errors keep their names (TransientError, ProviderError...) so Retry and Catch match them.
 */
export const createWorkflowTaskHandler = (deps: WorkflowHandlerDeps) => {
  const tasks = new WorkflowTasks(deps);
  // A restore that moves the addon rewrites its connection details: the same secret store.
  const backupTasks = deps.backups
    ? new BackupWorkflowTasks({ secrets: deps.secrets, ...deps.backups })
    : undefined;
  const retirement = deps.retirement ? new AddonRetirement(deps.retirement) : undefined;
  // A fork is seeded from a backup's data: without the backup steps, only plain provisions run.
  const forks = new ForkTasks({
    store: deps.store,
    engines: deps.engines,
    secrets: deps.secrets,
    ...(deps.backups && backupTasks
      ? { backups: deps.backups.backups, launch: (spec, addon) => backupTasks.launch(spec, addon) }
      : {}),
    // An addon created from a live import is seeded by the import's job.
    ...(deps.backups?.imports
      ? {
          imports: {
            imports: deps.backups.imports.imports,
            secrets: deps.secrets,
            liveImportNetwork: deps.backups.imports.liveImportNetwork,
          },
        }
      : {}),
  });
  const exportTasks = deps.exports ? new ExportTasks(deps.exports) : undefined;
  const scalingTasks = new ScalingTasks({ store: deps.store, engines: deps.engines });
  const networkingTasks = new NetworkingTasks({
    store: deps.store,
    engines: deps.engines,
    secrets: deps.secrets,
  });
  // An upgrade's backup runs the backup steps; its own steps need the same stores.
  const upgradeTasks = deps.backups
    ? new UpgradeTasks({ ...deps.backups, secrets: deps.secrets })
    : undefined;
  const replicaTasks = deps.replicas
    ? new ReplicaTasks({ store: deps.store, engines: deps.engines, secrets: deps.secrets, ...deps.replicas })
    : undefined;
  // Credential rotations the engine takes minutes over (ElastiCache), or that run as the login
  // job inside the instance's network (RDS): rotate-credentials.
  const rotationTasks = new RotationTasks({
    store: deps.store,
    engines: deps.engines,
    secrets: deps.secrets,
    ...(backupTasks ? { launch: (spec, addon) => backupTasks.launch(spec, addon) } : {}),
  });
  // A physical restore's logins, where only the login job can change them (RDS): restore-addon.
  const restoredLogins = new RestoredLoginTasks({
    store: deps.store,
    engines: deps.engines,
    secrets: deps.secrets,
    ...(backupTasks ? { launch: (spec, addon) => backupTasks.launch(spec, addon) } : {}),
  });
  const run = async (event: unknown) => {
    const task = parsePart(AnyTaskSchema, event, 'workflow task');
    deps.logger.appendKeys({ operationId: task.operationId, action: task.action });
    const backupTask = BackupTaskSchema.safeParse(task);
    if (backupTask.success) {
      if (!backupTasks) throw new Error(`This deployment is not configured for ${backupTask.data.action}`);
      return backupTasks.run(backupTask.data);
    }
    const forkTask = ForkTaskSchema.safeParse(task);
    if (forkTask.success) return forks.run(forkTask.data);
    const exportTask = ExportTaskSchema.safeParse(task);
    if (exportTask.success) {
      if (!exportTasks) throw new Error(`This deployment is not configured for ${exportTask.data.action}`);
      return exportTasks.run(exportTask.data);
    }
    const scalingTask = ScalingTaskSchema.safeParse(task);
    if (scalingTask.success) return scalingTasks.run(scalingTask.data);
    const networkingTask = NetworkingTaskSchema.safeParse(task);
    if (networkingTask.success) return networkingTasks.run(networkingTask.data);
    const rotationTask = RotationTaskSchema.safeParse(task);
    if (rotationTask.success) return rotationTasks.run(rotationTask.data);
    const restoredLoginTask = RestoredLoginTaskSchema.safeParse(task);
    if (restoredLoginTask.success) return restoredLogins.run(restoredLoginTask.data);
    const upgradeTask = UpgradeTaskSchema.safeParse(task);
    if (upgradeTask.success) {
      if (!upgradeTasks) throw new Error(`This deployment is not configured for ${upgradeTask.data.action}`);
      return upgradeTasks.run(upgradeTask.data);
    }
    const replicaTask = ReplicaTaskSchema.safeParse(task);
    if (replicaTask.success) {
      if (!replicaTasks) throw new Error(`This deployment is not configured for ${replicaTask.data.action}`);
      return replicaTasks.run(replicaTask.data);
    }
    const retirementTask = RetirementTaskSchema.safeParse(task);
    if (retirementTask.success) {
      if (!retirement) throw new Error(`This deployment is not configured for ${retirementTask.data.action}`);
      return retirement.run(retirementTask.data);
    }
    return tasks.run(task as z.infer<typeof WorkflowTaskSchema>);
  };
  return middy(run).use(injectLambdaContext(deps.logger, { resetKeys: true }));
};
