import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAddonsHandler } from '#functions/api/addons.ts';
import { dynamoDbIdempotency } from '#shared/api/idempotency.ts';
import { routes } from '#shared/api/routes.ts';
import { ConflictError } from '#shared/errors.ts';
import { AddonService } from '#shared/services/addon-service.ts';
import { BackupService } from '#shared/services/backup-service.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import type { BackupRecord } from '#shared/store/backup-store.ts';
import { newId } from '#shared/util/ids.ts';
import { snapshotDeleters, unreachableArtifacts } from '../support/backups.ts';
import { testCursors } from '../support/cursors.ts';
import { startTestStore, TEST_TABLE } from '../support/dynamo.ts';
import { apiEvent, context, json } from '../support/events.ts';
import { addonRecord, backupRecord, operation } from '../support/fixtures.ts';
import { RecordingStarter } from '../support/recording-starter.ts';

/** The API's checks of a fork request (`source` on POST .../addons), before any workflow runs. */
let env: Awaited<ReturnType<typeof startTestStore>>;
let starter: RecordingStarter;
let handler: ReturnType<typeof createAddonsHandler>;
const logger = new Logger({ logLevel: 'SILENT' });
const PROJECT = 'proj-forks';
let names = 0;
const uniqueName = (prefix: string) => `${prefix}-${++names}`;

beforeAll(async () => {
  env = await startTestStore();
});
afterAll(async () => env.stop());
beforeEach(() => {
  starter = new RecordingStarter();
  handler = createAddonsHandler({
    logger,
    service: new AddonService({
      store: env.store,
      workflows: starter,
      target: 'aws',
      forks: { backups: env.backups },
    }),
    idempotency: dynamoDbIdempotency({ client: env.dynamoClient, tableName: TEST_TABLE }),
    cursors: testCursors(),
  });
});

const create = (body: unknown, projectId = PROJECT) =>
  handler(apiEvent(routes.createAddon, { pathParameters: { projectId }, body }), context());

const expectProblem = async (body: unknown, status: number, path: string, projectId = PROJECT) => {
  const response = await create({ name: uniqueName('fork'), ...(body as object) }, projectId);
  expect(response.headers?.['content-type']).toBe('application/problem+json');
  const problem = json(response) as { status: number; detail: string; errors: Array<{ path: string }> };
  expect(response.statusCode, JSON.stringify(problem)).toBe(status);
  expect(problem.errors).toEqual([expect.objectContaining({ path })]);
  return problem;
};

/** A running source addon with backups: a completed snapshot, a completed dump, a running one. */
const sourceWithBackups = async (overrides: Partial<AddonRecord> = {}) => {
  const source = addonRecord({
    projectId: PROJECT,
    name: uniqueName('src'),
    version: '15',
    plan: 'small',
    storageGiB: 50,
    status: 'running',
    ...overrides,
  });
  await env.store.createAddon(source, operation({ addonId: source.id, projectId: PROJECT }));
  const backup = async (fields: Partial<BackupRecord>) => {
    const record = backupRecord({
      addonId: source.id,
      projectId: PROJECT,
      engine: source.engine,
      engineVersion: source.version,
      ...fields,
    });
    await env.backups.putBackup(record);
    return record;
  };
  const snapshot = await backup({ type: 'snapshot', completedAt: '2026-01-01T00:00:00.000Z' });
  const dump = await backup({
    type: 'dump',
    compression: 'zstd',
    snapshotId: null,
    artifact: { bucket: 'b', key: 'k' },
    sha256: 'a'.repeat(64),
    completedAt: '2026-01-02T00:00:00.000Z',
  });
  const running = await backup({ type: 'snapshot', status: 'in-progress', completedAt: null });
  return { source, snapshot, dump, running };
};

describe('POST .../addons with source (fork)', () => {
  it('creates a fork of a backup: engine, version, plan and storage are the source’s, and the addon says where it came from', async () => {
    const { source, snapshot } = await sourceWithBackups();
    const response = await create({
      name: 'fork-snap',
      engine: 'postgresql',
      source: { addonId: source.id, backupId: snapshot.id },
    });
    expect(response.statusCode, response.body).toBe(202);
    const { addon, operation: op } = json(response);
    expect(addon).toMatchObject({
      engine: 'postgresql',
      version: '15',
      plan: 'small',
      storageGiB: 50,
      status: 'creating',
      source: {
        addonId: source.id,
        addonName: source.name,
        backupId: snapshot.id,
        backupType: 'snapshot',
        pointInTime: null,
        database: source.name.replace(/-/g, '_'),
      },
    });
    expect(op).toMatchObject({ type: 'create', status: 'pending' });
    expect(starter.started).toEqual([expect.objectContaining({ workflow: 'provision-addon' })]);
  });

  it('takes the newest completed backup for latest: true', async () => {
    const { source, dump } = await sourceWithBackups();
    const response = await create({
      name: 'fork-latest',
      engine: 'postgresql',
      source: { addonId: source.id, latest: true },
    });
    expect(response.statusCode, response.body).toBe(202);
    expect(json(response).addon.source).toMatchObject({ backupId: dump.id, backupType: 'dump' });
  });

  it('forks a deleted addon from what its kept backups remember', async () => {
    const addonId = newId('adn');
    const kept = backupRecord({
      addonId,
      projectId: PROJECT,
      addonName: 'gone-db',
      addonDeleted: true,
      engineVersion: '16',
      type: 'dump',
      compression: 'gzip',
      snapshotId: null,
      artifact: { bucket: 'b', key: 'k' },
    });
    await env.backups.putBackup(kept);
    const response = await create({
      name: 'fork-gone',
      engine: 'postgresql',
      source: { addonId, backupId: kept.id },
    });
    expect(response.statusCode, response.body).toBe(202);
    expect(json(response).addon).toMatchObject({
      version: '16',
      source: { addonId, addonName: 'gone-db', database: 'gone_db', backupType: 'dump' },
    });
  });

  it('refuses another engine, naming body.engine', async () => {
    const { source, dump } = await sourceWithBackups();
    await expectProblem(
      { engine: 'mysql', source: { addonId: source.id, backupId: dump.id } },
      422,
      'body.engine',
    );
  });

  it('refuses an unknown backup, another addon’s backup and one not completed, naming body.source.backupId', async () => {
    const { source, running } = await sourceWithBackups();
    const other = await sourceWithBackups();
    const pg = { engine: 'postgresql' };
    await expectProblem(
      { ...pg, source: { addonId: source.id, backupId: 'bkp-unknown' } },
      422,
      'body.source.backupId',
    );
    await expectProblem(
      { ...pg, source: { addonId: source.id, backupId: other.dump.id } },
      422,
      'body.source.backupId',
    );
    const problem = await expectProblem(
      { ...pg, source: { addonId: source.id, backupId: running.id } },
      422,
      'body.source.backupId',
    );
    expect(problem.detail).toMatch(/in-progress/);
  });

  it('answers an addon of another project exactly like one that does not exist', async () => {
    const { source, dump } = await sourceWithBackups();
    const foreign = await expectProblem(
      { engine: 'postgresql', source: { addonId: source.id, backupId: dump.id } },
      422,
      'body.source.addonId',
      'proj-elsewhere',
    );
    const unknown = await expectProblem(
      { engine: 'postgresql', source: { addonId: 'adn-unknown', backupId: dump.id } },
      422,
      'body.source.addonId',
      'proj-elsewhere',
    );
    expect(foreign.detail.replace(source.id, 'X')).toBe(unknown.detail.replace('adn-unknown', 'X'));
  });

  it('refuses an older major, and a newer one from a physical copy, naming body.version; a dump may go newer', async () => {
    const { source, snapshot, dump } = await sourceWithBackups();
    const pg = { engine: 'postgresql' };
    await expectProblem(
      { ...pg, version: '14', source: { addonId: source.id, backupId: dump.id } },
      422,
      'body.version',
    );
    await expectProblem(
      { ...pg, version: '16', source: { addonId: source.id, backupId: snapshot.id } },
      422,
      'body.version',
    );
    const newer = await create({
      name: 'fork-newer',
      ...pg,
      version: '16',
      source: { addonId: source.id, backupId: dump.id },
    });
    expect(newer.statusCode, newer.body).toBe(202);
    expect(json(newer).addon.version).toBe('16');
  });

  it('refuses less storage than the source for a physical copy, naming body.storageGiB', async () => {
    const { source, snapshot } = await sourceWithBackups();
    await expectProblem(
      { engine: 'postgresql', storageGiB: 20, source: { addonId: source.id, backupId: snapshot.id } },
      422,
      'body.storageGiB',
    );
  });

  it('needs exactly one of backupId, latest and pointInTime (400 naming body.source)', async () => {
    const { source, dump } = await sourceWithBackups();
    await expectProblem({ engine: 'postgresql', source: { addonId: source.id } }, 400, 'body.source');
    await expectProblem(
      { engine: 'postgresql', source: { addonId: source.id, backupId: dump.id, latest: true } },
      400,
      'body.source',
    );
  });

  it('refuses a point in time where the engine has no pitr, naming body.source.pointInTime', async () => {
    // MySQL has point-in-time recovery on AWS (RDS) but not locally (binary logs are not archived).
    const local = createAddonsHandler({
      logger,
      service: new AddonService({
        store: env.store,
        workflows: starter,
        target: 'local',
        forks: { backups: env.backups },
      }),
      idempotency: dynamoDbIdempotency({ client: env.dynamoClient, tableName: TEST_TABLE }),
      cursors: testCursors(),
    });
    const { source } = await sourceWithBackups({ engine: 'mysql', version: '10.11' });
    const response = await local(
      apiEvent(routes.createAddon, {
        pathParameters: { projectId: PROJECT },
        body: {
          name: uniqueName('fork'),
          engine: 'mysql',
          source: { addonId: source.id, pointInTime: '2026-01-01T00:00:00Z' },
        },
      }),
      context(),
    );
    expect(response.statusCode, JSON.stringify(json(response))).toBe(422);
    expect(json(response).errors).toEqual([expect.objectContaining({ path: 'body.source.pointInTime' })]);
    expect(json(response).detail).toMatch(/Point-in-time recovery is not available for MySQL/);
  });

  it('refuses to fork an engine without the fork capability', async () => {
    const { source, snapshot } = await sourceWithBackups({ engine: 'redis', version: '7.1', plan: 'nano' });
    const problem = await expectProblem(
      { engine: 'redis', source: { addonId: source.id, backupId: snapshot.id } },
      422,
      'body.source.addonId',
    );
    expect(problem.detail).toMatch(/cannot be forked/);
  });

  it('is refused where the deployment has no fork support', async () => {
    const bare = createAddonsHandler({
      logger,
      service: new AddonService({ store: env.store, workflows: starter, target: 'aws' }),
      idempotency: dynamoDbIdempotency({ client: env.dynamoClient, tableName: TEST_TABLE }),
      cursors: testCursors(),
    });
    const response = await bare(
      apiEvent(routes.createAddon, {
        pathParameters: { projectId: PROJECT },
        body: { name: 'nofork', engine: 'postgresql', source: { addonId: 'adn-x', latest: true } },
      }),
      context(),
    );
    expect(response.statusCode).toBe(422);
    expect(json(response).errors).toEqual([expect.objectContaining({ path: 'body.source' })]);
  });
});

describe('a backup seeding a fork', () => {
  it('is not deleted while the fork is created: the API refuses (409), retention skips it until the fork is done', async () => {
    const { source } = await sourceWithBackups();
    const expired = backupRecord({
      addonId: source.id,
      projectId: PROJECT,
      engineVersion: '15',
      expiresAt: '2000-01-01T00:00:00.000Z',
    });
    await env.backups.putBackup(expired);
    const created = await create({
      name: uniqueName('seeding'),
      engine: 'postgresql',
      source: { addonId: source.id, backupId: expired.id },
    });
    expect(created.statusCode, created.body).toBe(202);
    const deleted: string[] = [];
    const backups = new BackupService({
      store: env.store,
      backups: env.backups,
      workflows: starter,
      artifacts: unreachableArtifacts(),
      snapshotDeleters: snapshotDeleters({ deleteSnapshot: async (id) => void deleted.push(id) }),
      target: 'aws',
    });

    const refused = await backups.delete(PROJECT, source.id, expired.id).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConflictError);
    expect((refused as Error).message).toMatch(/is seeding fork/);
    expect((await backups.sweepExpired()).deleted).not.toContain(expired.id);
    expect(deleted).toEqual([]);

    // The fork is created: the backup is an ordinary expired one again.
    const fork = await env.store.getAddon(PROJECT, json(created).addon.id);
    await env.store.updateAddonForOperation(
      fork,
      fork.currentOperationId as string,
      { status: 'running' },
      { release: true },
    );
    expect((await backups.sweepExpired()).deleted).toContain(expired.id);
    expect(deleted).toEqual([expired.snapshotId]);
  });
});
