import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCapability } from '#shared/catalog/engines.ts';
import { removePlatformData } from '../support/data-dir.ts';
import { client } from '../support/http.ts';
import { operationEnded } from '../support/operations.ts';
import { pgFingerprint, pgQuery } from '../support/pg-fingerprint.ts';
import {
  firstWindow,
  PITR_TEST_ENV,
  pointInTimeNow,
  type RestorableWindow,
  toSecond,
  windowReaching,
} from '../support/pitr.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * Point-in-time recovery of a local PostgreSQL addon over HTTP: the window GET shows, a restore in
 * place to a second between two known writes (the first present, the second absent, every table
 * as it was), and the API's 422 and 409.
 *
 * It runs where the local catalog offers `pitr` for PostgreSQL (WAL archiving, which needs
 * pg_waldump: `.ci/run` installs it).
 */
const LOCAL_PITR = hasCapability('postgresql', 'local', 'pitr');

const TOKEN = 'e2e-pitr-token-0123456789';
const PROJECT = 'pitr-e2e';
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;
let uri: string;
let addonId: string;
const base = () => `/v1/projects/${PROJECT}/addons/${addonId}`;
const sql = (text: string) => pgQuery(uri, text);
const waitForOperation = (operationId: string) => operationEnded(api, PROJECT, operationId, 300_000);
describe.skipIf(!LOCAL_PITR)('point-in-time recovery of a local PostgreSQL addon', () => {
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-pitr-'));
    platform = await startPlatformProcess({
      ADDONS_DATA_DIR: dataDir,
      ADDONS_TOKEN: TOKEN,
      ...PITR_TEST_ENV,
    });
    api = client(platform.url, TOKEN);
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'journal', engine: 'postgresql' },
    });
    addonId = created.body.addon.id;
    expect((await waitForOperation(created.body.operation.id)).status).toBe('completed');
    uri = (await api('GET', `${base()}/credentials`)).body.uri;
    await sql('CREATE TABLE events (id int PRIMARY KEY, note text)');
    await sql("INSERT INTO events SELECT g, 'seed ' || g FROM generate_series(1, 1000) g");
  }, 300_000);

  afterAll(async () => {
    if (platform?.child.exitCode === null) await platform.interrupt();
    if (dataDir) await removePlatformData(dataDir);
  });

  it('restores in place to a second between two writes: the first is there, the second is not', async () => {
    await firstWindow(api, base(), uri);
    await sql("INSERT INTO events VALUES (1001, 'first write')");
    const before = await pgFingerprint(uri);
    // The second after the first write's commit, and the second write strictly after it.
    const time = await pointInTimeNow();
    await sql("INSERT INTO events VALUES (1002, 'second write')");
    await sql('CREATE TABLE later (id int)');
    const window = await windowReaching(api, base(), time);
    expect(window.earliestRestorableTime <= time).toBe(true);

    const response = await api('POST', `${base()}/restore`, { body: { pointInTime: time } });
    expect(response.status).toBe(202);
    expect(response.body.operation).toMatchObject({ type: 'restore', pointInTime: time });
    const operation = await waitForOperation(response.body.operation.id);
    expect(operation).toMatchObject({ status: 'completed', error: null, pointInTime: time });
    expect((await api('GET', base())).body).toMatchObject({ status: 'running', currentOperationId: null });

    const notes = (await sql('SELECT note FROM events WHERE id > 1000 ORDER BY id')).map((row) => row.note);
    expect(notes).toEqual(['first write']);
    expect(await pgFingerprint(uri)).toEqual(before);
  }, 600_000);

  it('answers 422 naming body.pointInTime and the window for a time outside it, 409 while a restore runs', async () => {
    const window = (await api('GET', base())).body.restorableWindow as RestorableWindow;
    const early = toSecond(Date.parse(window.earliestRestorableTime) - 86_400_000);
    const outside = await api('POST', `${base()}/restore`, { body: { pointInTime: early } });
    expect(outside.status).toBe(422);
    expect(outside.body.detail).toContain(window.earliestRestorableTime);
    expect(outside.body.errors[0].path).toBe('body.pointInTime');

    const first = await api('POST', `${base()}/restore`, {
      body: { pointInTime: window.latestRestorableTime },
    });
    expect(first.status).toBe(202);
    const second = await api('POST', `${base()}/restore`, {
      body: { pointInTime: window.latestRestorableTime },
    });
    expect(second.status).toBe(409);
    expect((await waitForOperation(first.body.operation.id)).status).toBe('completed');
  }, 600_000);
});
