import * as z from 'zod/mini';
import type { EngineRegistry } from '../engines/registry.ts';
import { ProviderError } from '../errors.ts';
import { type EngineAdapters, pointInTimeKey, resourceIdFor } from '../ports/engine-provider.ts';
import type { SecretStore } from '../ports/secret-store.ts';
import { type AddonSource, forkOriginOf, importOriginOf } from '../schemas/addon.ts';
import type { JobSpec } from '../schemas/job.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import type { BackupRecord, BackupStore } from '../store/backup-store.ts';
import { endImportSeed, type ImportSeedDeps, liveImportSeedJob } from './import-seed.ts';
import { judgeRestore } from './restore-endpoint.ts';
import { type CopiedLogins, copiedLoginJob, passwordResetCheck } from './restored-logins.ts';
import { CaughtErrorSchema, readableReason, WaitFields } from './workflow-tasks.ts';

const Ref = { projectId: z.string(), addonId: z.string(), operationId: z.string() };

/**
 * The seed phase of the provision workflow, for an addon created as a fork (`addon.source`): the
 * new instance exists and its connection details are published; these steps fill it with the
 * source's data. Each is idempotent (restores are named by the operation id).
 */
export const ForkTaskSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('planSeed'), ...Ref }),
  z.object({ action: z.literal('startSeedRestore'), ...Ref }),
  z.object({
    action: z.literal('describeSeedRestore'),
    ...Ref,
    ...WaitFields,
  }),
  z.object({ action: z.literal('prepareSeedJob'), ...Ref }),
  z.object({ action: z.literal('resetSeedPassword'), ...Ref }),
  z.object({
    action: z.literal('describeSeedPassword'),
    ...Ref,
    ...WaitFields,
  }),
  z.object({ action: z.literal('finishSeed'), ...Ref }),
  z.object({
    action: z.literal('discardSeed'),
    ...Ref,
    /** What failed the seed (every path into DiscardSeed has one): an import records it. */
    error: CaughtErrorSchema,
  }),
]);
export type ForkTask = z.infer<typeof ForkTaskSchema>;
type Task<A extends ForkTask['action']> = Extract<ForkTask, { action: A }>;

/** How the provision workflow seeds a fork (`planSeed` answers no type for another addon). */
export type SeedType = 'snapshot' | 'dump' | 'pointInTime';

export interface ForkTaskDeps {
  store: AddonStore;
  engines: EngineRegistry<EngineAdapters>;
  secrets: SecretStore;
  /** Where a fork's source backup is; without it (no backup steps deployed), forks fail to seed. */
  backups?: BackupStore;
  /** RunTask parameters of a restore job into `addon` (BackupWorkflowTasks.launch). */
  launch?: (spec: JobSpec, addon: AddonRecord) => unknown;
  /** The imports an addon created with `source.import` runs (a live one seeds it); without them, such seeds fail. */
  imports?: ImportSeedDeps;
}

/**
 * Steps that seed a fork. A physical copy (a snapshot, a point in time) carries the source's
 * users and passwords: `resetSeedPassword` then gives the fork's user the fork's own password
 * (the one in its connection details), so the source's password does not open the fork. A dump
 * restores into the database the fork was created with (the source's name), as its own user.
 */
export class ForkTasks {
  constructor(private readonly deps: ForkTaskDeps) {}

  run(task: ForkTask): Promise<unknown> {
    switch (task.action) {
      case 'planSeed':
        return this.planSeed(task);
      case 'startSeedRestore':
        return this.startSeedRestore(task);
      case 'describeSeedRestore':
        return this.describeSeedRestore(task);
      case 'prepareSeedJob':
        return this.prepareSeedJob(task);
      case 'resetSeedPassword':
        return this.resetSeedPassword(task);
      case 'describeSeedPassword':
        return this.describeSeedPassword(task);
      case 'finishSeed':
        return this.finishSeed(task);
      case 'discardSeed':
        return this.discardSeed(task);
      default: {
        const exhaustive: never = task;
        throw new Error(`Unknown fork task ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  /** After publishCredentials (90 %): the seed is the last part of a fork's create. */
  private progress(task: Task<ForkTask['action']>, step: string, percent: number) {
    return this.deps.store.updateOperation(task.projectId, task.operationId, { progress: { step, percent } });
  }

  private async planSeed(task: Task<'planSeed'>): Promise<{ type?: SeedType }> {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    // A live import is loaded by a job, as a dump is; an upload waits for its file and its start.
    const imported = importOriginOf(addon);
    if (imported) return imported.kind === 'live' ? { type: 'dump' } : {};
    const source = forkOriginOf(addon);
    if (!source) return {};
    if (source.pointInTime) return { type: 'pointInTime' };
    return { type: (await this.backupOf(addon)).type };
  }

  /** The source backup; gone (deleted after the fork began) fails the fork with a reason. */
  private async backupOf(addon: AddonRecord): Promise<BackupRecord> {
    const source = forkOriginOf(addon);
    const backupId = source?.backupId;
    if (!backupId) throw new ProviderError(`Addon ${addon.id} is not a fork of a backup`, 'NotAFork');
    if (!this.deps.backups)
      throw new ProviderError('This deployment is not configured for forks', 'Misconfigured');
    const backup = await this.deps.backups.findBackup(addon.projectId, backupId);
    if (backup?.status !== 'completed') {
      throw new ProviderError(
        `Backup ${backupId} of addon ${source?.addonId} ${backup ? `is ${backup.status}` : 'was deleted'}; the fork cannot be seeded from it`,
        'ForkSourceGone',
      );
    }
    return backup;
  }

  /** The snapshot id the restore loop passes: the backup's snapshot, or the point-in-time key. */
  private async restoreKey(addon: AddonRecord): Promise<string> {
    const source = forkOriginOf(addon);
    if (source?.pointInTime) return pointInTimeKey(resourceIdFor(source.addonId), source.pointInTime);
    const backup = await this.backupOf(addon);
    if (!backup.snapshotId) throw new ProviderError(`Backup ${backup.id} is not a snapshot`, 'NotASnapshot');
    return backup.snapshotId;
  }

  private async startSeedRestore(task: Task<'startSeedRestore'>) {
    await this.progress(task, 'seeding', 91);
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const snapshots = this.deps.engines.of(addon.engine).snapshots;
    const source = forkOriginOf(addon);
    if (source?.pointInTime) {
      if (!snapshots.restoreToPointInTime) {
        throw new ProviderError(
          `Point-in-time recovery is not available for ${addon.engine} addons on this deployment`,
          'Unsupported',
        );
      }
      await snapshots.restoreToPointInTime(
        addon.resourceId,
        resourceIdFor(source.addonId),
        source.pointInTime,
        task.operationId,
      );
      return {};
    }
    await snapshots.restoreSnapshot(addon.resourceId, await this.restoreKey(addon), task.operationId);
    return {};
  }

  private async describeSeedRestore(task: Task<'describeSeedRestore'>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const key = await this.restoreKey(addon);
    const state = await this.deps.engines
      .of(addon.engine)
      .snapshots.describeRestore(addon.resourceId, key, task.operationId);
    return judgeRestore(this.deps, state, task, addon, 'Seeding the fork');
  }

  private async prepareSeedJob(task: Task<'prepareSeedJob'>) {
    await this.progress(task, 'seeding', 91);
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    if (!this.deps.launch)
      throw new ProviderError('This deployment cannot run restore jobs', 'Misconfigured');
    const imported = importOriginOf(addon);
    if (imported) return liveImportSeedJob(this.importsOf(), this.deps.launch, task, addon, imported);
    const backup = await this.backupOf(addon);
    if (!backup.artifact || !backup.compression || !backup.sha256) {
      throw new ProviderError(`Backup ${backup.id} has no verified dump to restore`, 'NotADump');
    }
    return this.deps.launch(
      {
        kind: 'restore',
        operationId: task.operationId,
        projectId: addon.projectId,
        // The fork is restored into: the job reads the fork's connection details.
        addonId: addon.id,
        backupId: backup.id,
        engine: addon.engine,
        artifact: backup.artifact,
        compression: backup.compression,
        expectedSha256: backup.sha256,
      },
      addon,
    );
  }

  /**
   * The fork's user gets the fork's password back (a physical copy brought the source's). Locally
   * the copy's other logins (the source's second login of a credential rotation) were retired when
   * the seed restore was judged done (restore-endpoint.ts `settleLogins`). On AWS this begins a
   * master password change, which the workflow's describeInstance loop waits for, and answers the
   * login job the workflow then runs to retire the rest (restored-logins.ts).
   */
  private async resetSeedPassword(task: Task<'resetSeedPassword'>): Promise<CopiedLogins> {
    await this.progress(task, 'resetting-password', 97);
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const provider = this.deps.engines.of(addon.engine).provider;
    if (!provider.setAdminPassword) {
      throw new ProviderError(
        `${addon.engine} instances cannot have their password set here, so a physical copy cannot become a fork with its own password`,
        'Unsupported',
      );
    }
    const secret = await this.deps.secrets.get(task);
    if (!secret) throw new ProviderError('The connection details were lost before the password was reset');
    await provider.setAdminPassword(addon.resourceId, secret.username, secret.password);
    if (!provider.loginJob) return { way: 'none' };
    const { owner } = await provider.loginJob(addon.resourceId);
    return copiedLoginJob(this.deps, task, addon, owner, secret);
  }

  /** One check of the password change (RDS applies it asynchronously; the local target at once). */
  private async describeSeedPassword(task: Task<'describeSeedPassword'>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const provider = this.deps.engines.of(addon.engine).provider;
    return passwordResetCheck(provider, addon.resourceId, task, "The fork's new password");
  }

  /** The seed's data is in: an import that made it is completed (and its connection string deleted). */
  private async finishSeed(task: Task<'finishSeed'>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const imported = importOriginOf(addon);
    if (imported) await endImportSeed(this.importsOf(), task, imported, null);
    return {};
  }

  private importsOf(): ImportSeedDeps {
    if (!this.deps.imports)
      throw new ProviderError('This deployment is not configured for imports', 'Misconfigured');
    return this.deps.imports;
  }

  /**
   * The seed failed: stop a physical restore still running (on AWS it may have a staging instance,
   * or be between renames) so the compensation that follows deletes the whole fork.
   */
  private async discardSeed(task: Task<'discardSeed'>) {
    const addon = await this.deps.store.findAddon(task.projectId, task.addonId);
    const imported = addon && importOriginOf(addon);
    if (imported) {
      await endImportSeed(this.importsOf(), task, imported, readableReason(task.error));
      return {};
    }
    const source: AddonSource | undefined = addon && forkOriginOf(addon);
    if (!addon || !source) return {};
    const key = await this.restoreKey(addon).catch(() => undefined);
    if (!key || source.backupType === 'dump') return {};
    const outcome = await this.deps.engines
      .of(addon.engine)
      .snapshots.discardRestore(addon.resourceId, key, task.operationId);
    return { outcome };
  }
}
