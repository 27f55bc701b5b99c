import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, UnsupportedError } from '#shared/errors.ts';
import type { ArtifactRef } from '#shared/providers/backup-artifacts.ts';
import { ExportService } from '#shared/services/export-service.ts';
import { ExportTasks } from '#shared/services/export-tasks.ts';
import { startTestStore } from '../support/dynamo.ts';
import { backupRecord, dumpBackupRecord } from '../support/fixtures.ts';
import { RecordingStarter } from '../support/recording-starter.ts';

/**
 * Export requests and the export workflow's steps, with a recording workflow starter and a fake
 * exporter: what is refused before an operation exists, where the copy goes, and how the copy's
 * SHA-256 decides the outcome.
 */
const PROJECT = 'proj-e';
let env: Awaited<ReturnType<typeof startTestStore>>;
let starter: RecordingStarter;
let service: ExportService;

beforeAll(async () => {
  env = await startTestStore();
});
afterAll(async () => env.stop());
beforeEach(() => {
  starter = new RecordingStarter();
  service = new ExportService({
    store: env.store,
    backups: env.backups,
    workflows: starter,
    target: 'local',
  });
});

const dump = async (overrides: Parameters<typeof dumpBackupRecord>[0]) => {
  const backup = dumpBackupRecord({ projectId: PROJECT, addonName: 'orders', sizeBytes: 10, ...overrides });
  await env.backups.putBackup(backup);
  return backup;
};

class FakeExporter {
  copies: Array<{ source: ArtifactRef; target: ArtifactRef }> = [];
  constructor(private readonly copyBody: { sha256?: string; readBack: string }) {}
  async copy(source: ArtifactRef, target: ArtifactRef) {
    this.copies.push({ source, target });
    return this.copyBody.sha256 ? { sha256: this.copyBody.sha256 } : {};
  }
  async readBackSha256() {
    return { sha256: this.copyBody.readBack, sizeBytes: 10 };
  }
}

describe('ExportService', () => {
  it('starts the export-backup workflow with an operation naming the target under the project id', async () => {
    const backup = await dump({ addonId: 'addon-1' });
    const { operation } = await service.start(PROJECT, 'addon-1', backup.id, {
      bucket: 'my-exports',
      prefix: 'a/b/',
    });
    expect(operation).toMatchObject({
      type: 'export',
      status: 'pending',
      backupId: backup.id,
      export: { bucket: 'my-exports', key: `${PROJECT}/a/b/orders/${backup.id}.dump.zst`, sha256: null },
    });
    expect(starter.started).toEqual([
      {
        workflow: 'export-backup',
        input: { projectId: PROJECT, addonId: 'addon-1', operationId: operation.id, backupId: backup.id },
      },
    ]);
    expect(await env.store.getOperation(PROJECT, operation.id)).toMatchObject({ type: 'export' });
  });

  it('refuses a snapshot without a downloadable copy (422 backupId), an unfinished backup (409), another addon’s (404)', async () => {
    const snapshot = backupRecord({ projectId: PROJECT, addonId: 'addon-2' });
    await env.backups.putBackup(snapshot);
    const refused = service.start(PROJECT, 'addon-2', snapshot.id, { bucket: 'my-exports' });
    await expect(refused).rejects.toBeInstanceOf(UnsupportedError);
    await expect(refused).rejects.toMatchObject({ issues: [{ path: 'backupId' }] });
    const running = await dump({ addonId: 'addon-2', status: 'in-progress', sha256: null });
    await expect(service.start(PROJECT, 'addon-2', running.id, { bucket: 'b-1' })).rejects.toBeInstanceOf(
      ConflictError,
    );
    const other = await dump({ addonId: 'addon-3' });
    await expect(service.start(PROJECT, 'addon-2', other.id, { bucket: 'b-1' })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    expect(starter.started).toEqual([]);
  });

  it('fails the operation when the workflow cannot start', async () => {
    const backup = await dump({ addonId: 'addon-4' });
    starter.fail = true;
    await expect(service.start(PROJECT, 'addon-4', backup.id, { bucket: 'my-exports' })).rejects.toThrow(
      'StartExecution refused',
    );
    const [failed] = (await env.store.listOperations(PROJECT, 'addon-4', { limit: 50 })).items.filter(
      (each) => each.backupId === backup.id,
    );
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'ExportStartFailed' } });
  });
});

describe('ExportTasks', () => {
  const started = async (addonId: string) => {
    const backup = await dump({ addonId });
    const { operation } = await service.start(PROJECT, addonId, backup.id, { bucket: 'my-exports' });
    return { backup, ref: { projectId: PROJECT, addonId, operationId: operation.id, backupId: backup.id } };
  };

  it('completes with S3’s checksum when it matches, and a second run changes nothing', async () => {
    const { backup, ref } = await started('addon-5');
    const exporter = new FakeExporter({ sha256: backup.sha256 as string, readBack: 'unused' });
    const tasks = new ExportTasks({ store: env.store, backups: env.backups, exporter });
    await tasks.run({ action: 'exportBackup', ...ref });
    const done = await env.store.getOperation(PROJECT, ref.operationId);
    expect(done).toMatchObject({
      status: 'completed',
      export: { sha256: backup.sha256, sizeBytes: 10, verifiedBy: 's3-checksum' },
    });
    expect(exporter.copies).toEqual([
      { source: backup.artifact, target: { bucket: 'my-exports', key: done.export?.key } },
    ]);
    await tasks.run({ action: 'exportBackup', ...ref });
    expect(exporter.copies).toHaveLength(1);
  });

  it('reads the copy back when S3 gives no checksum; a different SHA-256 fails the export', async () => {
    const { ref } = await started('addon-6');
    const exporter = new FakeExporter({ readBack: 'b'.repeat(64) });
    const tasks = new ExportTasks({ store: env.store, backups: env.backups, exporter });
    const failure = await tasks.run({ action: 'exportBackup', ...ref }).catch((error: Error) => error);
    expect(failure).toMatchObject({
      code: 'ChecksumMismatch',
      message: expect.stringMatching(/export again/),
    });
    await tasks.run({
      action: 'failExport',
      ...ref,
      error: { Error: 'ProviderError', Cause: (failure as Error).message },
      skipCleanup: false,
    });
    expect(await env.store.getOperation(PROJECT, ref.operationId)).toMatchObject({
      status: 'failed',
      error: { message: expect.stringMatching(/has SHA-256 b{64}, the backup a{64}/) },
    });
  });
});
