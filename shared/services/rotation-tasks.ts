import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { otherLogin } from '../engines/alternating-logins.ts';
import type { EngineRegistry } from '../engines/registry.ts';
import { ProviderError } from '../errors.ts';
import type { EngineAdapters, EngineProvider } from '../ports/engine-provider.ts';
import {
  type ConnectionSecret,
  canStage,
  type SecretStore,
  type StagingSecretStore,
} from '../ports/secret-store.ts';
import type { JobSpec } from '../schemas/job.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import { nowIso } from '../util/ids.ts';
import { generatePassword, withFreshUris } from './credentials.ts';
import { recordPlatformLogin } from './platform-login.ts';
import {
  CaughtErrorSchema,
  CleanupFailureFields,
  failureReason,
  recordOperationFailure,
  WaitFields,
} from './workflow-tasks.ts';

const Ref = {
  projectId: z.string(),
  addonId: z.string(),
  operationId: z.string(),
  phase: z.enum(['rotate', 'retire']),
};

/** The steps of rotate-credentials.asl.json. */
export const RotationTaskSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('applyRotationLogins'), ...Ref }),
  z.object({
    action: z.literal('describeRotationLogins'),
    ...Ref,
    ...WaitFields,
  }),
  z.object({ action: z.literal('completeRotation'), ...Ref }),
  z.object({ action: z.literal('failRotation'), ...Ref, error: CaughtErrorSchema, ...CleanupFailureFields }),
]);
export type RotationTask = z.infer<typeof RotationTaskSchema>;

export interface RotationTaskDeps {
  store: AddonStore;
  secrets: SecretStore;
  engines: EngineRegistry<EngineAdapters>;
  /**
   * RunTask parameters of a job on `addon` (BackupWorkflowTasks.launch): the login job of engines
   * whose logins change inside the instance (EngineProvider.loginJob). Absent: those are refused.
   */
  launch?: (spec: JobSpec, addon: AddonRecord) => unknown;
}

type AsyncLoginProvider = Required<Pick<EngineProvider, 'addLogin' | 'retainOnlyLogin' | 'describeLogins'>>;

/** How an engine's logins change: by the provider (and waited for), or by the login job. */
type LoginWay =
  | { kind: 'provider'; provider: AsyncLoginProvider }
  | {
      kind: 'job';
      loginJob: NonNullable<EngineProvider['loginJob']>;
      launch: NonNullable<RotationTaskDeps['launch']>;
    };

/**
 * The staged version of a rotation's new credentials is named after its operation (a Secrets
 * Manager ClientRequestToken, 32 to 64 characters): a retried step finds and reuses it.
 */
export const rotationTokenOf = (operationId: string): string =>
  createHash('sha256').update(`rotate-credentials:${operationId}`).digest('hex');

/**
 * The steps of a credential rotation where the engine takes a login change up asynchronously
 * (ElastiCache: ModifyUser leaves the user `modifying` for seconds to minutes). The API has
 * recorded the open rotation and holds the addon's lock; the password never passes through the
 * workflow's state, it waits in the secret store's staged version (Secrets Manager AWSPENDING).
 *
 * rotate: `applyRotationLogins` stages new credentials (or finds the ones a retried step staged)
 * and lets them in besides the published ones (ModifyUser `[published, new]`);
 * `describeRotationLogins` waits, bounded, until the engine has both; `completeRotation` then
 * publishes them (AWSPENDING becomes AWSCURRENT) and releases the addon with its rotation open.
 * Until that moment `GET .../credentials` answers the previous credentials, which work throughout.
 *
 * retire: `applyRotationLogins` leaves the published login as the only one (ModifyUser
 * `[published]`), the wait sees the user active with one password, `completeRotation` clears the
 * rotation and releases the addon.
 *
 * Engines whose logins change only inside the instance (RDS PostgreSQL: EngineProvider.loginJob)
 * take the login job's way instead: `applyRotationLogins` also records the platform's admin login
 * (platform-login.ts) and stages credentials naming the other login of the alternating pair, and
 * answers the login job's RunTask parameters (`job`: add, or retain for retire) and, for rotate,
 * those of the job that undoes it (`undo`: retain the published login); the workflow runs the job
 * (`ecs:runTask.sync`), whose success means the logins are in force, so there is no wait loop, and
 * runs `undo` before the compensation when anything after it failed.
 *
 * `failRotation` (the Catch): for rotate, the compensation puts the engine back on the published
 * login alone, drops the staged version and clears the rotation, so a failed rotation changed
 * nothing; for retire, nothing is undone (the published login works either way) and the rotation
 * stays open for `finish` or its deadline. Both release the addon running.
 */
export class RotationTasks {
  constructor(private readonly deps: RotationTaskDeps) {}

  async run(task: RotationTask): Promise<unknown> {
    switch (task.action) {
      case 'applyRotationLogins':
        return this.apply(task);
      case 'describeRotationLogins':
        return this.describe(task);
      case 'completeRotation':
        return this.complete(task);
      case 'failRotation':
        return this.fail(task);
      default: {
        const exhaustive: never = task;
        throw new Error(`Unknown rotation task ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  private parts(addon: AddonRecord): { way: LoginWay; secrets: StagingSecretStore } {
    const provider = this.deps.engines.of(addon.engine).provider;
    if (!canStage(this.deps.secrets)) {
      throw new ProviderError('This deployment cannot stage connection details', 'Unsupported');
    }
    if (provider.loginJob && this.deps.launch) {
      const loginJob = provider.loginJob.bind(provider);
      return { way: { kind: 'job', loginJob, launch: this.deps.launch }, secrets: this.deps.secrets };
    }
    if (!provider.addLogin || !provider.retainOnlyLogin || !provider.describeLogins) {
      throw new ProviderError(
        `${addon.engine} addons cannot rotate their credentials on this deployment`,
        'Unsupported',
      );
    }
    return {
      way: { kind: 'provider', provider: provider as AsyncLoginProvider },
      secrets: this.deps.secrets,
    };
  }

  /** The provider's way only (the describe loop, which the job path does not take). */
  private provider(addon: AddonRecord): AsyncLoginProvider {
    const { way } = this.parts(addon);
    if (way.kind !== 'provider') {
      throw new ProviderError(`${addon.engine} logins change by the login job, not here`, 'Unsupported');
    }
    return way.provider;
  }

  /**
   * The login job's RunTask parameters (`job`), and for a rotation those of the job that undoes it
   * (`undo`: the published login as the only one), which the workflow's compensation runs. The
   * platform's admin login is recorded first (a password of its own, never published); the job
   * makes it in the instance, on the published login, the first time.
   */
  private async loginJobs(
    task: Extract<RotationTask, { action: 'applyRotationLogins' }>,
    addon: AddonRecord,
    way: Extract<LoginWay, { kind: 'job' }>,
    current: ConnectionSecret,
  ) {
    await recordPlatformLogin(this.deps.secrets, task, current);
    const { owner } = await way.loginJob(addon.resourceId);
    const spec = (action: 'add' | 'retain') =>
      ({
        kind: 'login',
        operationId: task.operationId,
        projectId: task.projectId,
        addonId: task.addonId,
        engine: addon.engine,
        action,
        owner,
        ...(action === 'add' ? { stagedToken: rotationTokenOf(task.operationId) } : {}),
      }) satisfies JobSpec;
    return {
      owner,
      job: way.launch(spec(task.phase === 'rotate' ? 'add' : 'retain'), addon),
      ...(task.phase === 'rotate' ? { undo: way.launch(spec('retain'), addon) } : {}),
    };
  }

  private async published(task: RotationTask) {
    const secret = await this.deps.secrets.get(task);
    if (!secret?.password) {
      throw new ProviderError(`Addon ${task.addonId} has no published credentials`, 'NoCredentials');
    }
    return secret;
  }

  private async apply(task: Extract<RotationTask, { action: 'applyRotationLogins' }>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const { way, secrets } = this.parts(addon);
    const operation = await this.deps.store.getOperation(task.projectId, task.operationId);
    if (operation.status === 'pending') {
      await this.deps.store.updateOperation(task.projectId, task.operationId, {
        status: 'in-progress',
        startedAt: nowIso(),
        progress: { step: task.phase === 'rotate' ? 'adding the new password' : 'retiring', percent: 10 },
      });
    }
    const current = await this.published(task);
    const jobs = way.kind === 'job' ? await this.loginJobs(task, addon, way, current) : undefined;
    if (task.phase === 'retire') {
      if (way.kind === 'provider') await way.provider.retainOnlyLogin(addon.resourceId, current);
    } else {
      const token = rotationTokenOf(task.operationId);
      let next = await secrets.staged(task, token);
      if (!next) {
        // Engines whose users hold one password alternate: the new credentials name the other login.
        const username = jobs ? otherLogin(jobs.owner, current.username) : current.username;
        const { uri: _uri, ...rest } = { ...current, username, password: generatePassword() };
        next = withFreshUris(rest);
        await secrets.stage(task, next, token);
      }
      if (way.kind === 'provider') await way.provider.addLogin(addon.resourceId, current, next.password);
    }
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      progress: { step: jobs ? 'running the login job' : 'waiting for the engine', percent: 40 },
    });
    if (!jobs) return {};
    const { owner: _owner, ...launch } = jobs;
    return launch;
  }

  private async describe(task: Extract<RotationTask, { action: 'describeRotationLogins' }>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const provider = this.provider(addon);
    const attempts = task.attempts + 1;
    const state = await provider.describeLogins(addon.resourceId, task.phase === 'rotate' ? 2 : 1);
    if (state.status === 'failed') throw new ProviderError(state.reason, 'RotationFailed');
    if (state.status === 'applying' && attempts >= task.maxAttempts) {
      throw new ProviderError(
        `The engine had not applied the new passwords after ${attempts} checks; giving up`,
        'RotationWaitTimeout',
      );
    }
    return { status: state.status, attempts };
  }

  private async complete(task: Extract<RotationTask, { action: 'completeRotation' }>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const { secrets } = this.parts(addon);
    const rotation = addon.credentialRotation;
    if (task.phase === 'rotate') await secrets.promote(task, rotationTokenOf(task.operationId));
    if (addon.currentOperationId === task.operationId) {
      await this.deps.store.updateAddonForOperation(
        addon,
        task.operationId,
        { status: 'running', ...(task.phase === 'retire' ? { credentialRotation: null } : {}) },
        { release: true },
      );
    }
    const message =
      task.phase === 'rotate'
        ? `New credentials published; the previous ones (user '${rotation?.previousUsername ?? addon.name}') work until ${rotation?.deadline ?? 'the rotation is finished'} or until the rotation is finished`
        : 'The previous credentials were retired';
    await this.deps.store.updateOperation(task.projectId, task.operationId, {
      status: 'completed',
      completedAt: nowIso(),
      progress: { step: 'done', percent: 100 },
      message,
    });
    return {};
  }

  private async fail(task: Extract<RotationTask, { action: 'failRotation' }>) {
    const caught = failureReason(task, 'the published credentials still work');
    const addon = await this.deps.store.findAddon(task.projectId, task.addonId);
    let undone = false;
    if (addon && task.phase === 'rotate' && !task.skipCleanup) {
      const { way, secrets } = this.parts(addon);
      // The login job's way: the workflow ran the undo job (the published login as the only one) first.
      if (way.kind === 'provider') {
        await way.provider.retainOnlyLogin(addon.resourceId, await this.published(task));
      }
      await secrets.discard(task, rotationTokenOf(task.operationId));
      undone = true;
    }
    const reason = {
      code: caught.code,
      message:
        task.phase === 'rotate'
          ? `The credential rotation failed: ${caught.message}. ${undone ? 'It was undone: the' : 'The'} published credentials work${undone ? ' and are the only ones' : ', and the rotation is retired at its deadline'}`
          : `Retiring the previous credentials failed: ${caught.message}. The published credentials work; the rotation stays open until it is finished or its deadline passes`,
    };
    if (addon?.currentOperationId === task.operationId) {
      await this.deps.store.updateAddonForOperation(
        addon,
        task.operationId,
        { status: 'running', ...(undone ? { credentialRotation: null } : {}) },
        { release: true },
      );
    }
    await recordOperationFailure(this.deps.store, task.projectId, task.operationId, reason);
    return { failed: true, reason };
  }
}
