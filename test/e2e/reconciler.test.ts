import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynamo } from '#infra/local/emulators.ts';
import { BACKUP_BUCKET, TABLE_NAME } from '#infra/local/platform.ts';
import { keys } from '#shared/store/table.ts';
import { newId } from '#shared/util/ids.ts';
import { client, pollUntil } from '../support/http.ts';
import { operationEnded } from '../support/operations.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * Nothing stuck, nothing leaked, on the local target over HTTP: aborting a dump that is
 * running, and the scheduler tick's reconciler repairing what a crash could leave (an
 * operation that never got its workflow, an engine directory and a secret of no addon).
 */
const TOKEN = 'e2e-reconciler-token-0123456789';
const PROJECT = 'rc';
const ENV = {
  ADDONS_TOKEN: TOKEN,
  ADDONS_SCHEDULER_TICK_MS: '300',
  ADDONS_START_GRACE_SECONDS: '1',
  ADDONS_LEFTOVER_MIN_AGE_SECONDS: '3600',
};
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;
let addonId: string;
let uri: string;

const waitForOperation = (operationId: string) => operationEnded(api, PROJECT, operationId);

const start = async () => {
  platform = await startPlatformProcess({ ...ENV, ADDONS_DATA_DIR: dataDir });
  api = client(platform.url, TOKEN);
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-reconciler-'));
  await start();
  const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
    body: { name: 'inventory', engine: 'postgresql' },
  });
  addonId = created.body.addon.id;
  expect((await waitForOperation(created.body.operation.id)).status).toBe('completed');
  uri = (await api('GET', `/v1/projects/${PROJECT}/addons/${addonId}/credentials`)).body.uri;
}, 120_000);

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await rm(dataDir, { recursive: true, force: true });
});

/** Every file of the backup bucket (objects and multipart uploads) that names `backupId`. */
const s3FilesOf = async (backupId: string): Promise<string[]> => {
  const root = join(dataDir, 's3', BACKUP_BUCKET);
  const files = (await readdir(root, { recursive: true }).catch(() => [] as string[])).map((name) =>
    join(root, name),
  );
  const found: string[] = [];
  for (const file of files) {
    if (file.includes(backupId)) found.push(file);
    else if (file.endsWith('/key') && (await readFile(file, 'utf8').catch(() => '')).includes(backupId))
      found.push(file);
  }
  return found;
};

describe('aborting a running dump backup', () => {
  it('answers at once, frees the addon for a new backup, and leaves no object in S3', async () => {
    // Prepare: a session holds a lock that pg_dump waits for, so the dump is surely running.
    const base = `/v1/projects/${PROJECT}/addons/${addonId}`;
    const holder = new pg.Client({ connectionString: uri });
    holder.on('error', () => undefined); // the platform stopping ends it
    await holder.connect();
    await holder.query('CREATE TABLE IF NOT EXISTS blocker (id int)');
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE blocker IN ACCESS EXCLUSIVE MODE');
    const created = await api('POST', `${base}/backups`, { body: { type: 'dump' } });
    expect(created.status).toBe(202);
    const backupId: string = created.body.backup.id;
    await pollUntil(
      async () =>
        (
          await holder.query(
            "SELECT count(*)::int AS waiting FROM pg_locks WHERE NOT granted AND relation = 'blocker'::regclass",
          )
        ).rows[0]?.waiting as number,
      (waiting) => waiting > 0,
      { what: 'pg_dump waiting on the lock', timeoutMs: 60_000 },
    );

    // Act
    const aborted = await api('POST', `${base}/backups/${backupId}/abort`);

    // Assess
    // The body says why, should the abort be refused (a 409 names the backup's status).
    expect({ status: aborted.status, body: aborted.body }).toMatchObject({ status: 200 });
    expect(aborted.body).toMatchObject({ id: backupId, status: 'aborted' });
    expect((await api('GET', base)).body).toMatchObject({ status: 'running', currentOperationId: null });
    expect(
      (await api('GET', `/v1/projects/${PROJECT}/operations/${created.body.operation.id}`)).body.status,
    ).toBe('aborted');
    const next = await api('POST', `${base}/backups`, { body: { type: 'dump' } });
    expect(next.status).toBe(202);
    await holder.query('ROLLBACK');
    await holder.end();
    expect((await waitForOperation(next.body.operation.id)).status).toBe('completed');
    await pollUntil(
      () => s3FilesOf(backupId),
      (files) => files.length === 0,
      { what: `no S3 object or upload of aborted backup ${backupId}`, timeoutMs: 30_000 },
    );
    expect((await s3FilesOf(next.body.backup.id)).length).toBeGreaterThan(0);
  }, 180_000);
});

describe('the reconciler on the scheduler tick', () => {
  it('releases an addon held by an operation that was never recorded, and removes old leftovers only', async () => {
    // Prepare: with the platform stopped, write what a crash leaves: the addon locked by an API
    // function that died between taking the lock and writing its operation (the startup resume
    // lists operations, so it cannot see this one), an engine directory and a secret file of an
    // addon that is gone.
    await pollUntil(
      () => api('GET', `/v1/projects/${PROJECT}/addons/${addonId}`),
      (response) => response.body.currentOperationId === null,
      { what: 'the addon free', timeoutMs: 60_000 },
    );
    await platform?.interrupt();
    const dynamo = await startDynamo(dataDir, TABLE_NAME);
    const documents = DynamoDBDocumentClient.from(dynamo.client, {
      marshallOptions: { removeUndefinedValues: true },
    });
    const neverRecorded = newId('op');
    await documents.send(
      new UpdateCommand({
        TableName: TABLE_NAME,
        Key: keys.addon(PROJECT, addonId),
        UpdateExpression: 'SET currentOperationId = :op, #status = :status, updatedAt = :at',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':op': neverRecorded,
          ':status': 'updating',
          ':at': new Date(Date.now() - 60_000).toISOString(),
        },
      }),
    );
    await dynamo.stop();
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    const leftoverDir = join(dataDir, 'engines', `addon-${newId('adn').slice(4)}`);
    const youngDir = join(dataDir, 'engines', `addon-${newId('adn').slice(4)}`);
    const leftoverSecret = join(dataDir, 'secrets', PROJECT, `${newId('adn')}.json`);
    for (const dir of [leftoverDir, youngDir]) {
      await mkdir(join(dir, 'data'), { recursive: true });
      await writeFile(join(dir, 'data', 'PG_VERSION'), '15\n');
    }
    await writeFile(leftoverSecret, '{}', { mode: 0o600 });
    await utimes(leftoverDir, twoHoursAgo, twoHoursAgo);
    await utimes(leftoverSecret, twoHoursAgo, twoHoursAgo);
    const liveDir = join(dataDir, 'engines', `addon-${addonId.slice(4)}`);

    // Act
    await start();

    // Assess
    await pollUntil(
      () => api('GET', `/v1/projects/${PROJECT}/addons/${addonId}`),
      (response) => response.body.currentOperationId === null,
      { what: 'the orphan lock released by the reconciler', timeoutMs: 60_000 },
    );
    expect((await api('GET', `/v1/projects/${PROJECT}/addons/${addonId}`)).body).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
    const gone = (path: string) =>
      stat(path).then(
        () => false,
        () => true,
      );
    await pollUntil(
      async () => (await gone(leftoverDir)) && (await gone(leftoverSecret)),
      (done) => done,
      { what: 'the leftover engine directory and secret removed', timeoutMs: 30_000 },
    );
    expect(await gone(youngDir)).toBe(false);
    expect(await gone(liveDir)).toBe(false);
    const backup = await api('POST', `/v1/projects/${PROJECT}/addons/${addonId}/backups`, {
      body: { type: 'snapshot' },
    });
    expect(backup.status).toBe(202);
    expect((await waitForOperation(backup.body.operation.id)).status).toBe('completed');
  }, 180_000);
});
