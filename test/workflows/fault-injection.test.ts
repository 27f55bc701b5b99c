import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkflowTaskHandler } from '#functions/workflow/tasks.ts';
import { localLambdaContext } from '#infra/local/lambda-context.ts';
import { resumeOperations } from '#infra/local/resume.ts';
import { ensureBucket, type S3Emulator, startS3 } from '#infra/local/s3-emulator.ts';
import { LOCAL_SUBSTITUTIONS, LocalWorkflowRunner, loadDefinition } from '#infra/local/workflow-runner.ts';
import { ENGINES, offerOnTarget } from '#shared/catalog/engines.ts';
import { ENGINE_NOTES } from '#shared/engines/notes.ts';
import { EngineRegistry } from '#shared/engines/registry.ts';
import { ProviderError } from '#shared/errors.ts';
import type {
  RestoreState,
  SnapshotProvider,
  SnapshotState,
  UpgradeSpec,
  UpgradeState,
} from '#shared/ports/engine-provider.ts';
import type { ReplicaProvider } from '#shared/ports/replica-provider.ts';
import { WORKFLOWS, type WorkflowRun, type WorkflowStarter } from '#shared/ports/workflow-starter.ts';
import { BackupArtifacts } from '#shared/providers/backup-artifacts.ts';
import { BackupExporter } from '#shared/providers/backup-export.ts';
import { FileSecretStore } from '#shared/providers/local/file-secret-store.ts';
import { JobSpecSchema } from '#shared/schemas/job.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import { ExportService } from '#shared/services/export-service.ts';
import { NetworkingService } from '#shared/services/networking.ts';
import { PitrService } from '#shared/services/pitr-service.ts';
import { ReplicasService } from '#shared/services/replicas.ts';
import { ScalingService } from '#shared/services/scaling.ts';
import { UpgradeService } from '#shared/services/upgrade-service.ts';
import type { BackupStore } from '#shared/store/backup-store.ts';
import { engineAdapters, snapshotDeleters } from '../support/backups.ts';
import { startTestStore } from '../support/dynamo.ts';
import { createRequest, scheduleRecord } from '../support/fixtures.ts';
import { ScriptedProvider } from '../support/scripted-provider.ts';
import {
  aslWorkflows,
  type FaultCase,
  type FaultKind,
  FaultPlan,
  faultCases,
  taskStatesOf,
} from './support/asl-faults.ts';

/**
 * Fault injection on the local target, generated from the ASL files: for every workflow, every
 * branch and every Task state, (a) a failure at that state and (b) a platform crash right after
 * that state's effect followed by a restart (the platform's own resume). Each run must end with
 * the operation completed or failed, the addon unlocked, and nothing left behind: no instance,
 * secret, snapshot or S3 object that no addon or completed backup owns.
 */

const RUN_TASK = 'arn:aws:states:::ecs:runTask.sync';
const LAMBDA = LOCAL_SUBSTITUTIONS.WorkflowTaskFunctionArn as string;
const BUCKET = 'fault-backups';
/** The user's bucket exports copy into. */
const EXPORT_BUCKET = 'fault-exports';
const FAKE_DUMP_SHA256 = createHash('sha256').update('PGDMP fake dump').digest('hex');

/**
 * Snapshots as a set that createSnapshot adds to and deleteSnapshot removes from; a restore
 * changes the data when describeRestore first reports it done, unless it was discarded first.
 */
class SnapshotShelf implements SnapshotProvider {
  readonly taken = new Set<string>();
  /** Restore ids begun, and the ones whose data the addon now has. */
  readonly running = new Set<string>();
  readonly applied = new Set<string>();
  async createSnapshot(_resourceId: string, snapshotId: string) {
    this.taken.add(snapshotId);
  }
  async describeSnapshot(snapshotId: string): Promise<SnapshotState> {
    return this.taken.has(snapshotId) ? { status: 'available', sizeBytes: 4096 } : { status: 'absent' };
  }
  async deleteSnapshot(snapshotId: string) {
    this.taken.delete(snapshotId);
  }
  async restoreSnapshot(_resourceId: string, snapshotId: string, restoreId: string) {
    if (!this.taken.has(snapshotId)) throw new ProviderError(`Snapshot ${snapshotId} does not exist`);
    if (!this.applied.has(restoreId)) this.running.add(restoreId);
  }
  async describeRestore(_resourceId: string, _snapshotId: string, restoreId: string): Promise<RestoreState> {
    if (this.running.delete(restoreId)) this.applied.add(restoreId);
    return this.applied.has(restoreId)
      ? { status: 'available' }
      : { status: 'failed', reason: 'not started' };
  }
  async discardRestore(_resourceId: string, _snapshotId: string, restoreId: string) {
    this.running.delete(restoreId);
    return this.applied.has(restoreId) ? ('completed' as const) : ('discarded' as const);
  }
  /** Point-in-time recovery: any second of the last week, restored like a snapshot. */
  async describeRestorableWindow() {
    const now = Date.now();
    return {
      earliestRestorableTime: new Date(now - 7 * 86_400_000).toISOString(),
      latestRestorableTime: new Date(now).toISOString(),
    };
  }
  async restoreToPointInTime(_resourceId: string, _source: string, _time: string, restoreId: string) {
    if (!this.applied.has(restoreId)) this.running.add(restoreId);
  }
}

let store: Awaited<ReturnType<typeof startTestStore>>;
let s3: S3Emulator;
let dir: string;
let backupStore: BackupStore;
let artifacts: BackupArtifacts;
let counter = 0;

beforeAll(async () => {
  store = await startTestStore();
  dir = await mkdtemp(join(tmpdir(), 'addons-faults-'));
  s3 = await startS3(dir);
  await ensureBucket(s3.client, BUCKET);
  await ensureBucket(s3.client, EXPORT_BUCKET);
  backupStore = store.backups;
  artifacts = new BackupArtifacts({ client: s3.client, bucket: BUCKET });
});
afterAll(async () => {
  await s3?.stop();
  await store?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The job spec a RunTask invocation carries (its container's JOB_SPEC). */
const jobSpecIn = (input: unknown) => {
  const environment = (
    input as {
      Overrides: { ContainerOverrides: Array<{ Environment: Array<{ Name: string; Value: string }> }> };
    }
  ).Overrides.ContainerOverrides[0]?.Environment;
  return JobSpecSchema.parse(JSON.parse(environment?.find((e) => e.Name === 'JOB_SPEC')?.Value ?? '{}'));
};
const isLoginJob = (input: unknown) => jobSpecIn(input).kind === 'login';

/** Which Task state of `workflow` this invocation is: the ASL Parameters name it. */
const stateOf = (workflow: string, resource: string, input: Record<string, unknown>): string => {
  const states = Object.entries(loadDefinition(workflow, LOCAL_SUBSTITUTIONS).States).filter(([, state]) => {
    if (state.Type !== 'Task' || state.Resource !== resource) return false;
    const { Parameters } = state as { Parameters?: Record<string, unknown> };
    // A workflow's jobs: the login job's parameters come from its logins step (`$.logins.job`...).
    if (resource !== LAMBDA) return /logins\./i.test(String(Parameters?.['Cluster.$'])) === isLoginJob(input);
    return (
      Parameters?.action === input.action && 'skipCleanup' in (Parameters ?? {}) === 'skipCleanup' in input
    );
  });
  if (states.length !== 1)
    throw new Error(`${workflow}: ${states.length} states match ${JSON.stringify(input)}`);
  return (states[0] as [string, unknown])[0];
};

/** One platform on one data directory, that can crash and start again. */
const startWorld = (plan: FaultPlan) => {
  const projectId = `proj-f${++counter}`;
  const provider = new ScriptedProvider();
  // Scaling and upgrades in memory: a resize is applied once asked (as locally), an upgrade by its
  // first describe; a discard after that keeps it, as RDS does.
  const upgraded = new Set<string>();
  Object.assign(provider, {
    // Logins changed by the login job (as on RDS): a physical restore's and a fork's login steps run.
    loginJob: async () => ({ owner: 'app' }),
    resize: async () => undefined,
    // Networking applied once asked, as locally (no describeNetworking).
    configureNetworking: async () => ({}),
    upgradeInstance: async () => undefined,
    describeUpgrade: async (_id: string, spec: UpgradeSpec): Promise<UpgradeState> => {
      upgraded.add(spec.upgradeId);
      return { status: 'available' };
    },
    discardUpgrade: async (_id: string, spec: UpgradeSpec) =>
      upgraded.has(spec.upgradeId) ? ('completed' as const) : ('discarded' as const),
  });
  const snapshots = new SnapshotShelf();
  const secrets = new FileSecretStore(join(dir, 'secrets'));
  const secretsDir = join(dir, 'secrets', projectId);
  /** The schedules the provider runs (an in-process cron locally): removed before their record. */
  const running = new Set<string>();
  const jobs = {
    cluster: 'local',
    taskDefinition: 'jobs',
    container: 'job',
    subnets: [],
    securityGroups: [],
  };
  /** Replicas in memory: the count each instance has. */
  const replicaCounts = new Map<string, number>();
  const replicas: ReplicaProvider = {
    setReplicaCount: async (id, count) => void replicaCounts.set(id, count),
    describeReplicas: async (id, count) =>
      (replicaCounts.get(id) ?? 0) === count
        ? {
            status: 'available',
            endpoints: Array.from({ length: count }, (_, i) => ({ host: 'h', port: 7000 + i })),
          }
        : { status: 'applying', ready: 0, wanted: count },
  };
  const task = createWorkflowTaskHandler({
    store: store.store,
    engines: engineAdapters({ provider, snapshots, replicas }),
    replicas: { target: 'local' },
    secrets,
    logger: new Logger({ logLevel: 'SILENT' }),
    backups: {
      store: store.store,
      backups: backupStore,
      artifacts,
      // The provider too: an upgrade's own steps run with the backup steps' dependencies.
      engines: engineAdapters({ provider, snapshots }),
      jobs,
      target: 'local',
    },
    exports: {
      store: store.store,
      backups: backupStore,
      exporter: new BackupExporter({ client: s3.client }),
    },
    retirement: {
      store: store.store,
      backups: backupStore,
      schedules: { remove: async (schedule) => void running.delete(schedule.id) },
      graceDays: 7,
    },
  });
  /** What the dump job does to S3; a restore or login job changes nothing these checks see. */
  const runJob = async (input: unknown) => {
    const spec = jobSpecIn(input);
    if (spec.kind === 'dump') {
      const put = (Key: string, Body: string) =>
        s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body }));
      await put(spec.artifact.key, 'PGDMP fake dump');
      await put(
        spec.resultKey,
        // The dump's real SHA-256: an export checks its copy against it.
        JSON.stringify({ sizeBytes: 15, sha256: FAKE_DUMP_SHA256, compression: spec.compression }),
      );
    }
    return {};
  };
  let runner: LocalWorkflowRunner;
  const guarded =
    (resource: string, fn: (input: unknown) => Promise<unknown>) =>
    async (input: unknown): Promise<unknown> => {
      const { workflow } = plan.fault;
      const state = plan.armed ? stateOf(workflow, resource, input as Record<string, unknown>) : undefined;
      if (state) plan.before(workflow, state);
      const result = await fn(input);
      if (state && plan.crashAfter(workflow, state)) {
        // SIGKILL right after the effect: the execution never learns the state ran.
        void runner.shutdown();
        return new Promise(() => undefined);
      }
      return result;
    };
  const newRunner = () =>
    new LocalWorkflowRunner({
      functions: {
        [LAMBDA]: guarded(LAMBDA, (input) => task(input, localLambdaContext('workflow-tasks'))),
        [RUN_TASK]: guarded(RUN_TASK, runJob),
      },
      waitMs: 0,
      retryMs: 0,
    });
  runner = newRunner();
  const workflows: WorkflowStarter = {
    start: (run: WorkflowRun) => runner.start(run),
    stop: (workflow, operationId, reason) => runner.stop(workflow, operationId, reason),
  };
  const addons = new AddonService({
    store: store.store,
    workflows,
    target: 'local',
    finalBackups: { backups: backupStore, artifacts },
    forks: { backups: backupStore },
  });
  const backups = new BackupService({
    store: store.store,
    backups: backupStore,
    workflows,
    artifacts,
    snapshotDeleters: snapshotDeleters(snapshots),
    target: 'local',
  });
  const exports = new ExportService({ store: store.store, backups: backupStore, workflows, target: 'local' });
  return {
    projectId,
    provider,
    replicas,
    replicaCounts,
    exports,
    snapshots,
    secretsDir,
    schedules: running,
    addons,
    backups,
    workflows,
    idle: () => runner.idle(),
    /** The addon a fork (provision-addon's dump and snapshot branches) is made from: it stays. */
    forkSource: undefined as { id: string; resourceId: string } | undefined,
    /** The platform starts again on the same state and resumes what was in flight. */
    restart: async () => {
      await runner.shutdown();
      runner = newRunner();
      await resumeOperations({ store: store.store, workflows, log: () => undefined });
      await runner.idle();
    },
  };
};
type World = ReturnType<typeof startWorld>;

const provisioned = async (world: World, overrides: Record<string, unknown> = {}) => {
  const { addon } = await world.addons.create(
    world.projectId,
    createRequest({ name: `f-${counter}`, ...overrides }),
  );
  await world.idle();
  expect((await store.store.getAddon(world.projectId, addon.id)).status).toBe('running');
  return addon.id;
};

/** A daily schedule, in the store and running, as the schedules API leaves one. */
const scheduled = async (world: World, addonId: string) => {
  const schedule = scheduleRecord({ projectId: world.projectId, addonId });
  await backupStore.putSchedule(schedule);
  world.schedules.add(schedule.id);
};

const backupRequest = (variant: FaultCase['variant']) =>
  variant === 'snapshot'
    ? ({ type: 'snapshot', pinned: false } as const)
    : ({ type: 'dump', compression: 'zstd', pinned: false } as const);

/**
 * An upgrade of a PostgreSQL 14 addon to 15. Its backup is a snapshot where the engine has them
 * (the `snapshot` branch); the `dump` branch is taken by engines without, which the catalog
 * stands in for while the upgrade starts.
 */
const startUpgrade = async (world: World, plan: FaultPlan): Promise<string> => {
  const addonId = await provisioned(world, { version: '14' });
  const upgrades = new UpgradeService({
    store: store.store,
    backups: backupStore,
    artifacts,
    workflows: world.workflows,
    target: 'local',
  });
  const entry = ENGINES.postgresql;
  const original = {
    versions: [...entry.versions.local],
    defaultVersion: entry.defaultVersion.local,
    capabilities: { ...entry.capabilities.local },
    notes: [...ENGINE_NOTES.postgresql.local],
  };
  if (plan.fault.variant === 'dump') {
    offerOnTarget('postgresql', 'local', {
      ...original,
      capabilities: { ...original.capabilities, snapshotBackup: false },
    });
  }
  try {
    plan.armed = true;
    return (await upgrades.upgrade(world.projectId, addonId, '15')).operation.id;
  } finally {
    offerOnTarget('postgresql', 'local', original);
  }
};

/** Set up what the workflow needs (unarmed), then start it with the fault armed. */
const startFaulted = async (world: World, plan: FaultPlan): Promise<string> => {
  const { workflow, variant } = plan.fault;
  if (workflow === 'provision-addon') {
    // The seed branches: a fork of a running addon's completed backup of that type.
    let source: { addonId: string; backupId: string } | undefined;
    if (variant !== 'default') {
      const addonId = await provisioned(world);
      const taken = await world.backups.create(world.projectId, addonId, backupRequest(variant));
      await world.idle();
      expect((await backupStore.getBackup(world.projectId, taken.backup.id)).status).toBe('completed');
      const { resourceId } = await store.store.getAddon(world.projectId, addonId);
      world.forkSource = { id: addonId, resourceId };
      source = { addonId, backupId: taken.backup.id };
    }
    plan.armed = true;
    const request = createRequest({ name: `fork-${counter}`, ...(source ? { source } : {}) });
    return (await world.addons.create(world.projectId, request)).operation.id;
  }
  if (workflow === 'upgrade-addon') return startUpgrade(world, plan);
  const addonId = await provisioned(world);
  if (workflow === 'scale-addon') {
    plan.armed = true;
    const scaling = new ScalingService({ store: store.store, workflows: world.workflows, target: 'local' });
    return (await scaling.update(world.projectId, addonId, { plan: 'small' })).operation.id;
  }
  if (workflow === 'update-networking') {
    plan.armed = true;
    // The local API runs networking changes itself; given a starter, the service hands them to the
    // workflow (as on AWS), whose steps are the same on every target.
    const networking = new NetworkingService({
      store: store.store,
      workflows: world.workflows,
      target: 'local',
    });
    return (await networking.update(world.projectId, addonId, { networking: { tls: true } })).operation.id;
  }
  if (workflow === 'delete-addon') {
    await scheduled(world, addonId);
    plan.armed = true;
    // The delete's branches are its final backup's types.
    const options = variant === 'default' || variant === 'point-in-time' ? {} : { finalBackup: variant };
    return (await world.addons.delete(world.projectId, addonId, options)).operation.id;
  }
  if (workflow === 'update-replicas') {
    plan.armed = true;
    const service = new ReplicasService({
      store: store.store,
      engines: engineAdapters({ replicas: world.replicas }),
      workflows: world.workflows,
      target: 'local',
    });
    return (await service.update(world.projectId, addonId, 2)).operation.id;
  }
  if (workflow === 'backup-addon') {
    plan.armed = true;
    return (await world.backups.create(world.projectId, addonId, backupRequest(variant))).operation.id;
  }
  if (variant === 'point-in-time') {
    // The API's check uses the AWS catalog (pitr on); the workflow is the same on every target.
    const pitr = new PitrService({
      store: store.store,
      workflows: world.workflows,
      windows: EngineRegistry.everyEngine('restorable windows', () => world.snapshots),
      target: 'aws',
    });
    plan.armed = true;
    const time = new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return (await pitr.restore(world.projectId, addonId, time)).operation.id;
  }
  const taken = await world.backups.create(world.projectId, addonId, backupRequest(variant));
  await world.idle();
  expect((await backupStore.getBackup(world.projectId, taken.backup.id)).status).toBe('completed');
  plan.armed = true;
  if (workflow === 'export-backup') {
    const request = { bucket: EXPORT_BUCKET };
    return (await world.exports.start(world.projectId, addonId, taken.backup.id, request)).operation.id;
  }
  return (await world.backups.restore(world.projectId, addonId, taken.backup.id)).operation.id;
};

const objectsOf = async (projectId: string): Promise<string[]> => {
  const listed = await s3.client.send(
    new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `dumps/${projectId}/` }),
  );
  return (listed.Contents ?? []).map((object) => String(object.Key)).sort();
};

const secretsOf = async (world: World): Promise<string[]> =>
  (await readdir(world.secretsDir).catch(() => [] as string[])).map((name) => name.replace(/\.json$/, ''));

/**
 * Terminal, unlocked, and every resource left is owned by an addon or a completed backup (a
 * completed final backup's data by its record, which outlives the addon for the grace period).
 * When the compensation itself kept failing, what it could not remove is named in the reason
 * instead (the reconciler removes it later).
 */
const assertSettled = async (world: World, operationId: string, fault: FaultCase) => {
  const operation = await store.store.getOperation(world.projectId, operationId);
  expect(['completed', 'failed']).toContain(operation.status);
  const addon = await store.store.findAddon(world.projectId, operation.addonId);
  const outcome = `${operation.type} ${operation.status}`;
  const backups = await backupStore.listAllBackupsOfAddon(world.projectId, operation.addonId);
  const final =
    operation.type === 'delete' ? backups.find((each) => each.id === operation.backupId) : undefined;
  if (operation.type === 'delete' && operation.backupId) expect(final?.source).toBe('final');
  // A delete whose final backup failed never touched the addon: it is running, schedules and all.
  const keptRunning = outcome === 'delete failed' && final?.status === 'failed';
  if (outcome === 'delete completed') {
    expect(addon).toBeUndefined();
    expect(world.schedules.size).toBe(0);
    expect(await backupStore.listSchedules(world.projectId, operation.addonId)).toEqual([]);
    expect(backups.every((backup) => backup.addonDeleted)).toBe(true);
    if (operation.backupId) expect(final?.status).toBe('completed');
  } else {
    expect(addon?.currentOperationId).toBeNull();
    const expected: Record<string, string> = {
      'create completed': 'running',
      'create failed': 'failed',
      'delete failed': keptRunning ? 'running' : 'failed',
    };
    expect(addon?.status).toBe(expected[outcome] ?? 'running');
  }
  if (keptRunning) {
    expect(operation.error?.message).toMatch(/^The final backup failed, so the addon was not deleted/);
    expect(world.schedules.size).toBe(1);
    expect(await backupStore.listSchedules(world.projectId, operation.addonId)).toHaveLength(1);
    expect(backups.some((backup) => backup.addonDeleted)).toBe(false);
  }

  if (fault.cleanupFails) {
    expect(operation.status).toBe('failed');
    const cleanup = fault.failing.at(-1);
    expect(operation.error?.message).toContain(`(cleaning up also failed: Injected failure at ${cleanup}; `);
    return operation;
  }
  // A fork's source keeps running, with its backup: it is not the fork's to remove.
  const source = world.forkSource;
  if (source) expect(world.provider.instances.has(source.resourceId)).toBe(true);
  const instances = [...world.provider.instances.keys()].filter((id) => id !== source?.resourceId);
  const secrets = (await secretsOf(world)).filter((name) => name.split('.')[0] !== source?.id);
  if (!addon || outcome === 'create failed') {
    expect(instances).toEqual([]);
    expect(secrets).toEqual([]);
  } else if (outcome !== 'delete failed' || keptRunning) {
    expect(instances).toEqual([addon.resourceId]);
    // Beside its connection details, the platform's admin login once a login job needed it.
    expect(secrets.filter((name) => name !== `${addon.id}.platform-login`)).toEqual([addon.id]);
  }

  const sourceBackups = source ? await backupStore.listAllBackupsOfAddon(world.projectId, source.id) : [];
  const completed = [...backups, ...sourceBackups].filter((backup) => backup.status === 'completed');
  expect(backups.filter((backup) => !['completed', 'failed'].includes(backup.status))).toEqual([]);
  const owned = completed.flatMap((backup) =>
    backup.artifact ? [backup.artifact.key, artifacts.resultKeyOf(backup.artifact)] : [],
  );
  expect(await objectsOf(world.projectId)).toEqual(owned.sort());
  expect([...world.snapshots.taken].sort()).toEqual(
    completed.flatMap((backup) => (backup.snapshotId ? [backup.snapshotId] : [])).sort(),
  );
  if (operation.type === 'backup') {
    const backup = backups.find((each) => each.id === operation.backupId);
    expect(backup?.status).toBe(operation.status);
  }
  if (operation.type === 'restore' && (fault.variant === 'snapshot' || fault.variant === 'point-in-time')) {
    // Completed: the addon has the snapshot's data; failed: exactly what it had before, unless the
    // copy was in and what failed came after, while its logins were put right: the reason says so.
    const restoredAnyway = /^The data was restored, but /.test(operation.error?.message ?? '');
    expect(world.snapshots.applied.has(operation.id)).toBe(
      operation.status === 'completed' || restoredAnyway,
    );
    expect(world.snapshots.running.size).toBe(0);
  }
  return operation;
};

const run = async (fault: FaultCase, kind: FaultKind) => {
  const plan = new FaultPlan(fault, kind);
  const world = startWorld(plan);
  const operationId = await startFaulted(world, plan);
  await world.idle();
  if (kind === 'crash') await world.restart();
  expect(plan.triggered, `the run never reached ${fault.state}: ${plan.visits.join(' > ')}`).toBe(true);
  return assertSettled(world, operationId, fault);
};

// The rotate-credentials workflow never runs locally: local engines take a login at once, and the
// API runs the rotation itself (credential-rotation.ts); aws-redis-rotation.test.ts covers its faults.
const CASES = faultCases().filter((fault) => fault.workflow !== 'rotate-credentials');
const name = (fault: FaultCase) =>
  `${fault.workflow}${fault.variant === 'default' ? '' : ` (${fault.variant})`} at ${fault.state}`;

describe('the fault plan', () => {
  it('covers every Task state of every ASL file, and only those', () => {
    expect(aslWorkflows()).toEqual([...WORKFLOWS].sort());
    for (const workflow of aslWorkflows()) {
      const states = taskStatesOf(workflow);
      expect(states.length).toBeGreaterThan(0);
      if (workflow === 'rotate-credentials') continue;
      expect([...new Set(CASES.filter((c) => c.workflow === workflow).map((c) => c.state))].sort()).toEqual(
        [...states].sort(),
      );
    }
  });
});

/** The restore's steps that put a physical copy's logins right (restored-logins.ts). */
const LOGIN_STEPS = ['ResetRestoredLogins', 'DescribeRestoredLogins', 'RunRestoredLoginJob'];

describe('a failure at any Task state ends the operation with nothing locked or left behind', () => {
  it.each(CASES.map((fault) => [name(fault), fault] as const))('%s', async (_name, fault) => {
    const operation = await run(fault, 'fail');
    if (operation.type === 'delete' && operation.backupId) {
      // The ASL says which compensation handles the failure: the final backup's leaves the addon running.
      const final = await backupStore.getBackup(operation.projectId, operation.backupId);
      expect(final.status === 'failed').toBe(fault.finalBackupFails);
    }
    // A restore that had already swapped the data in, or an upgrade the engine had already applied
    // (it cannot be undone), is reported completed: the data and the version say so.
    if (fault.workflow === 'upgrade-addon' && operation.status === 'completed') {
      const addon = await store.store.getAddon(operation.projectId, operation.addonId);
      expect(addon.version).toBe('15');
    } else if (fault.workflow !== 'restore-addon') expect(operation.status).toBe('failed');
    // Once the copy is in, a failure putting its logins right fails the restore, saying the data is restored.
    if (LOGIN_STEPS.includes(fault.state)) {
      expect(operation.error?.message).toMatch(
        /^The data was restored, but making the published credentials work on it failed: Injected failure/,
      );
    }
  });
});

describe('a crash right after any Task state, then a restart, ends the operation with nothing locked or left behind', () => {
  it.each(CASES.map((fault) => [name(fault), fault] as const))('%s', async (_name, fault) => {
    await run(fault, 'crash');
  });
});
