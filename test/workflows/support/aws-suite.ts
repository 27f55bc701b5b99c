import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { UnsupportedError } from '#shared/errors.ts';
import { SecretsManagerStore } from '#shared/providers/aws/secrets-manager-store.ts';
import { TAG_KEYS } from '#shared/providers/aws/tags.ts';
import { type JobSpec, JobSpecSchema } from '#shared/schemas/job.ts';
import { CredentialRotationService } from '#shared/services/credential-rotation.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import type { AwsCall, CallEnvironment } from '../../infra/support/iam.ts';
import { SYNTH_TIMEOUT_MS } from '../../infra/support/stack.ts';
import { createRequest } from '../../support/fixtures.ts';
import { type AwsWorkflowWorld, startAwsWorkflowWorld } from './aws-workflows.ts';

/**
 * The frame of a test file that runs the deployed workflows against the AWS world: one world for
 * the file, the AWS calls of every test kept in `recorded` (for the role checks at the end), the
 * fakes reset after each test, and the addon operations driven through the services and waited for.
 * `namePrefix` names the file's addons (`<prefix>-1`, ...); `defaults` go into every create request.
 */
export const awsWorkflowSuite = (
  project: string,
  { namePrefix, defaults = {} }: { namePrefix: string; defaults?: Record<string, unknown> },
) => {
  let started: AwsWorkflowWorld | undefined;
  let counter = 0;
  const recorded: AwsCall[] = [];
  const world = (): AwsWorkflowWorld => {
    if (!started) throw new Error('the AWS workflow world starts in beforeAll');
    return started;
  };
  /** Keep what was sent for the IAM checks at the end, and start a fresh log. */
  const flushCalls = () => {
    recorded.push(...world().fake.calls);
    world().fake.calls.length = 0;
  };

  beforeAll(async () => {
    started = await startAwsWorkflowWorld();
  }, SYNTH_TIMEOUT_MS);
  afterEach(() => {
    flushCalls();
    world().fake.reset();
    world().runTaskCalls.length = 0;
    world().jobs.behaviour = async () => ({});
  });
  afterAll(async () => {
    await started?.stop();
  });

  const provision = async (overrides: Record<string, unknown> = {}) => {
    const { addon, operation } = await world().service.create(
      project,
      createRequest({ name: `${namePrefix}-${++counter}`, ...defaults, ...overrides }),
    );
    await world().workflows.idle();
    return {
      addon: await world().store.getAddon(project, addon.id),
      operation: await world().store.getOperation(project, operation.id),
    };
  };

  /** A provisioned addon, its calls flushed so a test sees only its own. */
  const running = async (): Promise<AddonRecord> => {
    const { addon } = await provision();
    expect(addon.status).toBe('running');
    flushCalls();
    return addon;
  };

  const backUp = async (addon: AddonRecord, type: 'dump' | 'snapshot') => {
    const request =
      type === 'dump' ? ({ type, compression: 'zstd', pinned: false } as const) : { type, pinned: false };
    const { backup, operation } = await world().backupService.create(project, addon.id, request);
    await world().workflows.idle();
    return {
      backup: await world().backupStore.getBackup(project, backup.id),
      operation: await world().store.getOperation(project, operation.id),
      addon: await world().store.getAddon(project, addon.id),
    };
  };

  const restore = async (addon: AddonRecord, backupId: string) => {
    const { operation } = await world().backupService.restore(project, addon.id, backupId);
    await world().workflows.idle();
    return {
      operation: await world().store.getOperation(project, operation.id),
      addon: await world().store.getAddon(project, addon.id),
    };
  };

  const deleteAddon = async (addonId: string) => {
    const { operation } = await world().service.delete(project, addonId);
    await world().workflows.idle();
    return world().store.getOperation(project, operation.id);
  };

  /** What the Fargate dump job does to S3 when it succeeds, writing `body` as the dump. */
  const dumpJob =
    (body?: string) =>
    async (parameters: Record<string, unknown>): Promise<unknown> => {
      const spec = jobSpecOf(parameters);
      if (spec.kind !== 'dump') throw new Error('not a dump');
      world().fake.putDump(spec.artifact.bucket, spec.artifact.key, spec.resultKey, body);
      return { StopCode: 'EssentialContainerExited', Containers: [{ ExitCode: 0 }] };
    };

  const secretName = (addonId: string) => `${world().env.SECRET_NAME_PREFIX}${project}/${addonId}`;

  /** The connection details the workflow stored for an addon, parsed. */
  const secretOf = (addonId: string) => JSON.parse(String(world().fake.secrets.get(secretName(addonId))));

  /**
   * What the role checks need of the deployment: the KMS keys of the table, the secrets, the bucket
   * and the storage, as the workflow function's environment names them.
   */
  const callEnvironment = (): CallEnvironment => ({
    tableKeyArn: world().env.SECRETS_KMS_KEY_ID,
    secretsKeyArn: world().env.SECRETS_KMS_KEY_ID,
    bucketKeyArn: world().env.STORAGE_KMS_KEY_ID,
    storageKeyArn: world().env.STORAGE_KMS_KEY_ID,
  });

  /** A deleted addon left nothing of its own: no record, no security group, no secret. */
  const expectAddonGone = async (addon: Pick<AddonRecord, 'id' | 'resourceId'>) => {
    expect(await world().store.findAddon(project, addon.id)).toBeUndefined();
    expect(addonGroups().some((group) => group.name === addon.resourceId)).toBe(false);
    expect(world().fake.secrets.has(secretName(addon.id))).toBe(false);
  };

  /** The addons' own security groups in the fake EC2 (not the stack's or the projects' client groups). */
  const addonGroups = () =>
    [...world().fake.groups.values()].filter((group) => group.name.startsWith('addon-'));

  /** The tags every snapshot of an addon carries: the deployment's, and the addon it was taken of. */
  const snapshotTags = (addon: Pick<AddonRecord, 'resourceId'>) => [
    { Key: TAG_KEYS.deployment, Value: world().env.DEPLOYMENT_NAME },
    { Key: TAG_KEYS.source, Value: addon.resourceId },
  ];

  /**
   * A create the engine cannot honour is a 422 naming the field (`issue`), refused before any
   * workflow starts: no AWS call at all.
   */
  const expectRefusedBeforeStart = async (
    overrides: Record<string, unknown>,
    issue: { path: string; message: unknown },
  ) => {
    const refused = await world()
      .service.create(project, createRequest({ ...defaults, ...overrides }))
      .catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(UnsupportedError);
    expect((refused as UnsupportedError).issues).toContainEqual(issue);
    await world().workflows.idle();
    expect(world().fake.calls).toEqual([]);
  };

  /**
   * The credentials function's rotation service on this world (its workflows, a Secrets Manager
   * store on the fakes), at `now`.
   */
  const rotations = (now: () => Date) =>
    new CredentialRotationService({
      store: world().store,
      secrets: new SecretsManagerStore({
        client: new SecretsManagerClient({
          region: 'eu-west-1',
          credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
        }),
        prefix: world().env.SECRET_NAME_PREFIX,
      }),
      target: 'aws',
      workflows: world().workflows,
      now,
    });

  return {
    world,
    recorded,
    rotations,
    flushCalls,
    provision,
    running,
    backUp,
    restore,
    deleteAddon,
    dumpJob,
    secretName,
    expectRefusedBeforeStart,
    expectAddonGone,
    callEnvironment,
    snapshotTags,
    addonGroups,
    secretOf,
  };
};

/** The job spec a `ecs:runTask.sync` call hands the Fargate job (its JOB_SPEC variable). */
export const jobSpecOf = (parameters: Record<string, unknown> | undefined): JobSpec => {
  const overrides = parameters?.Overrides as {
    ContainerOverrides: Array<{ Environment: Array<{ Name: string; Value: string }> }>;
  };
  const raw = overrides.ContainerOverrides[0]?.Environment.find((entry) => entry.Name === 'JOB_SPEC')?.Value;
  return JobSpecSchema.parse(JSON.parse(String(raw)));
};
