import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceState, RestoreState } from '#shared/ports/engine-provider.ts';
import type { AddonRef, ConnectionSecret, SecretStore } from '#shared/ports/secret-store.ts';
import { BackupWorkflowTasks } from '#shared/services/backup-workflow-tasks.ts';
import { connectionUri } from '#shared/services/credentials.ts';
import { newId } from '#shared/util/ids.ts';
import {
  engineAdapters,
  refusingProvider,
  refusingSnapshots,
  unreachableArtifacts,
} from '../support/backups.ts';
import { startTestStore } from '../support/dynamo.ts';
import { addonRecord, backupRecord, operation } from '../support/fixtures.ts';

/**
 * A restore that moves the addon to a new endpoint (ElastiCache restores into a new replication
 * group): the restore workflow rewrites the connection details and the addon's endpoint, and the
 * operation says so. One that does not move it (RDS renames) changes neither.
 */
const PROJECT = 'proj-move';
let env: Awaited<ReturnType<typeof startTestStore>>;
beforeAll(async () => {
  env = await startTestStore();
});
afterAll(async () => {
  await env.stop();
});

class MemorySecrets implements SecretStore {
  readonly secrets = new Map<string, ConnectionSecret>();
  async put(ref: AddonRef, secret: ConnectionSecret) {
    this.secrets.set(`${ref.projectId}/${ref.addonId}`, structuredClone(secret));
  }
  async get(ref: AddonRef) {
    return this.secrets.get(`${ref.projectId}/${ref.addonId}`);
  }
  async delete(ref: AddonRef) {
    this.secrets.delete(`${ref.projectId}/${ref.addonId}`);
  }
}

const OLD = { host: 'master.addon-old.abc123.euw1.cache.amazonaws.com', port: 6379 };
const OLD_TIME = '2026-11-30T10:00:00.000Z';
const NEW = { host: 'master.addon-new.abc123.euw1.cache.amazonaws.com', port: 6379 };

/** A Redis addon in the middle of a snapshot restore, its connection details naming OLD. */
const restoring = async (secrets: MemorySecrets) => {
  const addon = addonRecord({
    projectId: PROJECT,
    name: `cache-${newId('x').slice(-8)}`,
    engine: 'redis',
    version: '7.1',
    tls: true,
    status: 'restoring',
    endpoint: OLD,
  });
  const op = operation({ addonId: addon.id, projectId: PROJECT, type: 'restore', status: 'in-progress' });
  await env.store.createAddon({ ...addon, currentOperationId: op.id }, op);
  const backup = backupRecord({
    addonId: addon.id,
    projectId: PROJECT,
    engine: 'redis',
    engineVersion: '7.1',
  });
  await env.backups.putBackup(backup);
  const plain = {
    engine: 'redis' as const,
    ...OLD,
    database: '0',
    username: 'app-user',
    password: 'p'.repeat(32),
    tls: true,
  };
  await secrets.put({ projectId: PROJECT, addonId: addon.id }, { ...plain, uri: connectionUri(plain) });
  return {
    addon,
    op,
    backup,
    ref: { projectId: PROJECT, addonId: addon.id, operationId: op.id, backupId: backup.id },
  };
};

const tasksWith = (
  secrets: MemorySecrets,
  restore: RestoreState,
  options: { discard?: 'discarded' | 'completed'; instance?: InstanceState } = {},
) =>
  new BackupWorkflowTasks({
    target: 'aws',
    store: env.store,
    backups: env.backups,
    artifacts: unreachableArtifacts(),
    engines: engineAdapters({
      provider: options.instance
        ? { ...refusingProvider('no'), describeInstance: async () => options.instance as InstanceState }
        : refusingProvider('no provider calls expected'),
      snapshots: refusingSnapshots('not in this test', {
        describeRestore: async () => restore,
        discardRestore: async () => options.discard ?? 'discarded',
      }),
    }),
    jobs: { cluster: 'c', taskDefinition: 't', container: 'job', subnets: [], securityGroups: [] },
    secrets,
  });

describe('a restore that moves the addon to a new endpoint', () => {
  it('rewrites host, port and URI (user and password kept), the addon endpoint, and says so on the operation', async () => {
    const secrets = new MemorySecrets();
    const { addon, op, ref } = await restoring(secrets);
    const before = await secrets.get(ref);
    const tasks = tasksWith(secrets, { status: 'available', endpoint: NEW });

    const result = await tasks.run({ action: 'describeRestore', ...ref, attempts: 0, maxAttempts: 5 });
    await tasks.run({ action: 'completeRestore', ...ref });

    expect(result).toEqual({ status: 'available', attempts: 1 });
    const after = await secrets.get(ref);
    expect(after).toEqual({
      ...before,
      host: NEW.host,
      uri: `rediss://app-user:${'p'.repeat(32)}@${NEW.host}:6379/0`,
    });
    expect((await env.store.getAddon(PROJECT, addon.id)).endpoint).toEqual(NEW);
    expect(await env.store.getOperation(PROJECT, op.id)).toMatchObject({
      status: 'completed',
      message: expect.stringContaining(`new endpoint (${NEW.host}:6379): its connection details changed`),
    });
  });

  it('is idempotent: a retried describeRestore changes nothing more', async () => {
    const secrets = new MemorySecrets();
    const { ref } = await restoring(secrets);
    const tasks = tasksWith(secrets, { status: 'available', endpoint: NEW });
    await tasks.run({ action: 'describeRestore', ...ref, attempts: 0, maxAttempts: 5 });
    const once = await secrets.get(ref);
    await tasks.run({ action: 'describeRestore', ...ref, attempts: 1, maxAttempts: 5 });
    expect(await secrets.get(ref)).toEqual(once);
  });

  it('leaves the connection details and the operation alone when the restore did not move the addon', async () => {
    const secrets = new MemorySecrets();
    const { addon, op, ref } = await restoring(secrets);
    const before = await secrets.get(ref);
    const tasks = tasksWith(secrets, { status: 'available' });

    await tasks.run({ action: 'describeRestore', ...ref, attempts: 0, maxAttempts: 5 });
    await tasks.run({ action: 'completeRestore', ...ref });

    expect(await secrets.get(ref)).toEqual(before);
    expect((await env.store.getAddon(PROJECT, addon.id)).endpoint).toEqual(OLD);
    expect((await env.store.getOperation(PROJECT, op.id)).message).toBeUndefined();
  });

  it('follows the addon when the workflow gave up but the restore had completed the switch', async () => {
    const secrets = new MemorySecrets();
    const { addon, op, ref } = await restoring(secrets);
    const tasks = tasksWith(
      secrets,
      { status: 'restoring' },
      { discard: 'completed', instance: { status: 'available', endpoint: NEW } },
    );

    await tasks.run({
      action: 'failRestore',
      ...ref,
      error: { Error: 'RestoreWaitTimeout' },
      skipCleanup: false,
    });

    expect((await secrets.get(ref))?.host).toBe(NEW.host);
    expect((await env.store.getAddon(PROJECT, addon.id)).endpoint).toEqual(NEW);
    expect(await env.store.getOperation(PROJECT, op.id)).toMatchObject({
      status: 'completed',
      message: expect.stringContaining('connection details changed'),
    });
  });
});

describe('a restore on an engine that rotates credentials', () => {
  it('re-asserts the published login and ends an open rotation, saying so on the operation', async () => {
    const secrets = new MemorySecrets();
    const { addon, op, ref } = await restoring(secrets);
    const rotation = { previousUsername: 'app-user', rotatedAt: OLD_TIME, deadline: OLD_TIME };
    await env.store.updateAddonForOperation(addon, op.id, { credentialRotation: rotation });
    const retained: Array<{ username: string; password: string }> = [];
    const tasks = new BackupWorkflowTasks({
      target: 'local',
      store: env.store,
      backups: env.backups,
      artifacts: unreachableArtifacts(),
      engines: engineAdapters({
        provider: {
          ...refusingProvider('only retainOnlyLogin expected'),
          retainOnlyLogin: async (_resourceId, login) => {
            retained.push(login);
          },
        },
        snapshots: refusingSnapshots('not in this test', {
          describeRestore: async () => ({ status: 'available' }),
        }),
      }),
      jobs: { cluster: 'c', taskDefinition: 't', container: 'job', subnets: [], securityGroups: [] },
      secrets,
    });

    await tasks.run({ action: 'describeRestore', ...ref, attempts: 0, maxAttempts: 5 });
    await tasks.run({ action: 'completeRestore', ...ref });

    expect(retained).toEqual([{ username: 'app-user', password: 'p'.repeat(32) }]);
    const after = await env.store.getAddon(PROJECT, addon.id);
    expect(after.credentialRotation).toBeNull();
    expect(after.status).toBe('running');
    expect(await env.store.getOperation(PROJECT, op.id)).toMatchObject({
      status: 'completed',
      message: expect.stringContaining('ended the open credential rotation'),
    });
  });
});
