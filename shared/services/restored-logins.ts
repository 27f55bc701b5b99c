import * as z from 'zod/mini';
import { ProviderError } from '../errors.ts';
import type { EngineProvider } from '../ports/engine-provider.ts';
import type { ConnectionSecret, SecretStore } from '../ports/secret-store.ts';
import type { JobSpec } from '../schemas/job.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import { recordPlatformLogin } from './platform-login.ts';
import { endRotationByRestore, RESETTING_LOGINS } from './restore-endpoint.ts';
import type { RotationTaskDeps } from './rotation-tasks.ts';
import { WaitFields } from './workflow-tasks.ts';

/**
 * The logins of a physical copy: a snapshot or point-in-time restore, or a fork seeded from one,
 * brings back the logins of the copy's time. A credential rotation since may have changed them,
 * and a fork's copy holds its source's (the source's second login, with the source's password).
 * Afterwards the published login must be the one that works, and the only one.
 *
 * Where the provider changes logins itself (the local target: `retainOnlyLogin`), it does so at
 * once when the restore is judged done, a fork's seed restore alike (restore-endpoint.ts
 * `settleLogins`). Where logins change only by SQL inside
 * the instance (RDS: EngineProvider.loginJob), nothing that works can be assumed of the copy's
 * logins, so two steps: the master user gets the published password through the provider (RDS's
 * ModifyDBInstance, the one way in that needs no login; applied asynchronously and waited for),
 * then the login job retains the published login (`masterReset`: it makes the platform's admin
 * role on the master user if the copy lacks it or has it with another password). Always, not
 * only after a rotation: a copy's logins cannot be read from outside it.
 */

const Ref = { projectId: z.string(), addonId: z.string(), operationId: z.string() };

/** The restore workflow's steps once a physical copy is in (restore-addon.asl.json). */
export const RestoredLoginTaskSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('resetRestoredLogins'), ...Ref }),
  z.object({
    action: z.literal('describeRestoredLogins'),
    ...Ref,
    ...WaitFields,
  }),
]);
export type RestoredLoginTask = z.infer<typeof RestoredLoginTaskSchema>;

/** What the rotation's steps need (the stores, the engines, the job's RunTask parameters). */
export type CopiedLoginDeps = RotationTaskDeps;

/** What the workflow does next: run the login job (its RunTask parameters), or nothing. */
export type CopiedLogins = { way: 'job'; job: unknown } | { way: 'none' };

type OperationRef = { projectId: string; addonId: string; operationId: string };

/**
 * The login job that leaves `published` as the only login of a copy whose master user `owner`
 * has just been given its password (the platform's admin login recorded first).
 */
export const copiedLoginJob = async (
  deps: CopiedLoginDeps,
  task: OperationRef,
  addon: AddonRecord,
  owner: string,
  published: ConnectionSecret,
): Promise<CopiedLogins> => {
  if (!deps.launch) {
    throw new ProviderError(
      'This deployment cannot run the login job a copy of the data needs',
      'Misconfigured',
    );
  }
  await recordPlatformLogin(deps.secrets, task, published);
  const spec: JobSpec = {
    kind: 'login',
    operationId: task.operationId,
    projectId: task.projectId,
    addonId: task.addonId,
    engine: addon.engine,
    action: 'retain',
    owner,
    masterReset: true,
  };
  return { way: 'job', job: deps.launch(spec, addon) };
};

const publishedOf = async (secrets: SecretStore, task: OperationRef): Promise<ConnectionSecret> => {
  const secret = await secrets.get(task);
  if (!secret?.password) {
    throw new ProviderError(`Addon ${task.addonId} has no published credentials`, 'NoCredentials');
  }
  return secret;
};

/** The provider's login job and master password reset; none where it changes logins itself. */
const withLoginJob = (provider: EngineProvider, engine: string) => {
  if (!provider.loginJob) return undefined;
  if (!provider.setAdminPassword) {
    throw new ProviderError(
      `${engine} instances cannot have their master password set here, so a copy's logins cannot be put right`,
      'Unsupported',
    );
  }
  return {
    loginJob: provider.loginJob.bind(provider),
    setAdminPassword: provider.setAdminPassword.bind(provider),
  };
};

/**
 * One check of a master password change, which RDS applies asynchronously (the instance reports
 * `creating` until it has; the local target applies it at once): bounded by `maxAttempts`.
 */
export const passwordResetCheck = async (
  provider: EngineProvider,
  resourceId: string,
  wait: { attempts: number; maxAttempts: number },
  what: string,
) => {
  const state = await provider.describeInstance(resourceId);
  const attempts = wait.attempts + 1;
  if (state.status === 'failed') throw new ProviderError(state.reason, 'InstanceFailed');
  if (state.status === 'creating' && attempts >= wait.maxAttempts) {
    throw new ProviderError(
      `${what} was still being applied after ${attempts} checks; giving up`,
      'PasswordResetTimeout',
    );
  }
  return { status: state.status, attempts };
};

/** resetRestoredLogins, then describeRestoredLogins until the reset applied; the workflow runs the job. */
export class RestoredLoginTasks {
  constructor(private readonly deps: CopiedLoginDeps) {}

  run(task: RestoredLoginTask): Promise<unknown> {
    switch (task.action) {
      case 'resetRestoredLogins':
        return this.reset(task);
      case 'describeRestoredLogins':
        return this.describe(task);
      default: {
        const exhaustive: never = task;
        throw new Error(`Unknown restored-login task ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  /**
   * The master user gets the published password (the reset begins), any open rotation ends (the
   * restored logins are not its), and the login job that follows is prepared. Engines without
   * a login job: nothing (their logins were settled when the restore was judged done).
   */
  private async reset(
    task: Extract<RestoredLoginTask, { action: 'resetRestoredLogins' }>,
  ): Promise<CopiedLogins> {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const way = withLoginJob(this.deps.engines.of(addon.engine).provider, addon.engine);
    if (!way) return { way: 'none' };
    const published = await publishedOf(this.deps.secrets, task);
    const { owner } = await way.loginJob(addon.resourceId);
    await way.setAdminPassword(addon.resourceId, owner, published.password);
    await endRotationByRestore(this.deps.store, task, addon);
    return copiedLoginJob(this.deps, task, addon, owner, published);
  }

  /** One check of the master password reset; an instance gone meanwhile fails at once. */
  private async describe(task: Extract<RestoredLoginTask, { action: 'describeRestoredLogins' }>) {
    const addon = await this.deps.store.getAddon(task.projectId, task.addonId);
    const provider = this.deps.engines.of(addon.engine).provider;
    const check = await passwordResetCheck(
      provider,
      addon.resourceId,
      task,
      "The restored instance's master password",
    );
    if (check.status === 'absent' || check.status === 'deleting') {
      throw new ProviderError(`The restored instance is ${check.status}`, 'InstanceVanished');
    }
    return check;
  }
}

/**
 * A restore whose copy was swapped in, failing afterwards while its logins were put right: the
 * data is restored (a swap is not undone), but the published credentials may not work on it. The
 * operation fails saying so, rather than completing. Null for any other failure.
 */
export const restoredButLoginsFailed = async (
  store: AddonStore,
  task: OperationRef,
  caught: { code: string; message: string },
): Promise<{ code: string; message: string } | null> => {
  const operation = await store.getOperation(task.projectId, task.operationId);
  if (operation.progress?.step !== RESETTING_LOGINS) return null;
  return {
    code: caught.code,
    message: `The data was restored, but making the published credentials work on it failed: ${caught.message}. Restore again to retry`,
  };
};
