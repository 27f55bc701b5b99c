import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCapability } from '#shared/catalog/engines.ts';
import { removePlatformData } from '../support/data-dir.ts';
import { type Credentials, createAndWait, credentialsOf, withPassword } from '../support/forks.ts';
import { client } from '../support/http.ts';
import { pgFingerprint, pgQuery } from '../support/pg-fingerprint.ts';
import { firstWindow, PITR_TEST_ENV, pointInTimeNow, toSecond, windowReaching } from '../support/pitr.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * A fork from a point in time over HTTP on the local target (real PostgreSQL, WAL archived into
 * the S3 emulator): `POST .../addons` with `source: {addonId, pointInTime}` creates a new addon
 * with every table exactly as the source had it at that second (per-table checksums), what was
 * written after it absent, its own password; the source keeps running untouched. A time outside
 * the source's window is a 422 naming `body.source.pointInTime`.
 *
 * It runs where the local catalog offers `pitr` for PostgreSQL (WAL archiving needs pg_waldump).
 */
const LOCAL_PITR = hasCapability('postgresql', 'local', 'pitr');

const TOKEN = 'e2e-pitr-forks-token-0123456789';
const PROJECT = 'pitrfk';
const addons = `/v1/projects/${PROJECT}/addons`;
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;

describe.skipIf(!LOCAL_PITR)('PostgreSQL forks from a point in time on the local target', () => {
  let source: { id: string };
  let sourceCredentials: Credentials;
  const sql = (text: string) => pgQuery(sourceCredentials.uri, text);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-pitr-forks-'));
    platform = await startPlatformProcess({
      ADDONS_DATA_DIR: dataDir,
      ADDONS_TOKEN: TOKEN,
      ...PITR_TEST_ENV,
    });
    api = client(platform.url, TOKEN);
    source = await createAndWait(api, PROJECT, { name: 'ledger', engine: 'postgresql' });
    sourceCredentials = await credentialsOf(api, PROJECT, source.id);
    await sql('CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)');
    await sql(
      'CREATE TABLE entries (id bigserial PRIMARY KEY, account int REFERENCES accounts, amount numeric)',
    );
  }, 300_000);

  afterAll(async () => {
    if (platform?.child.exitCode === null) await platform.interrupt();
    if (dataDir) await removePlatformData(dataDir);
  });

  it('forks the source as it was at a second between two writes: every table as then, its own password', async () => {
    await firstWindow(api, `${addons}/${source.id}`, sourceCredentials.uri);
    // The first batch, written once the source is restorable.
    await sql("INSERT INTO accounts SELECT g, 'owner ' || g, g * 10.5 FROM generate_series(1, 3000) g");
    await sql(
      'INSERT INTO entries (account, amount) SELECT 1 + g % 3000, g FROM generate_series(1, 10000) g',
    );
    const atTime = await pgFingerprint(sourceCredentials.uri);
    const time = await pointInTimeNow();
    // The second batch, strictly after the point in time: the fork must not have it.
    await sql('UPDATE accounts SET balance = 0 WHERE id % 3 = 0');
    await sql('INSERT INTO entries (account, amount) SELECT 1, -g FROM generate_series(1, 500) g');
    await sql('CREATE TABLE after_time (id int)');
    await sql('INSERT INTO after_time VALUES (1)');
    const sourceNow = await pgFingerprint(sourceCredentials.uri);
    expect(sourceNow.accounts).not.toBe(atTime.accounts);
    await windowReaching(api, `${addons}/${source.id}`, time);

    const fork = await createAndWait(api, PROJECT, {
      name: 'ledger-at-time',
      engine: 'postgresql',
      source: { addonId: source.id, pointInTime: time },
    });
    expect(fork).toMatchObject({
      engine: 'postgresql',
      version: '15',
      source: {
        addonId: source.id,
        addonName: 'ledger',
        backupId: null,
        backupType: null,
        pointInTime: time,
        database: 'ledger',
      },
    });

    const credentials = await credentialsOf(api, PROJECT, fork.id);
    expect(credentials.database).toBe('ledger');
    expect(credentials.port).not.toBe(sourceCredentials.port);
    expect(credentials.password).not.toBe(sourceCredentials.password);
    // Every table as at the point in time: the first batch there, the second not.
    expect(await pgFingerprint(credentials.uri)).toEqual(atTime);
    expect(await pgQuery(credentials.uri, 'SELECT count(*)::int AS n FROM entries WHERE amount < 0')).toEqual(
      [{ n: 0 }],
    );
    // The source's password does not open the fork.
    await expect(pgQuery(withPassword(credentials, sourceCredentials.password), 'SELECT 1')).rejects.toThrow(
      /password authentication failed/,
    );
    // The source kept running, untouched, and its password still opens it.
    expect((await api('GET', `${addons}/${source.id}`)).body).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
    expect(await pgFingerprint(sourceCredentials.uri)).toEqual(sourceNow);
  }, 600_000);

  it('answers 422 naming body.source.pointInTime and the window for a time outside it', async () => {
    const window = await firstWindow(api, `${addons}/${source.id}`, sourceCredentials.uri);
    const outside = async (pointInTime: string) => {
      const response = await api('POST', addons, {
        body: { name: 'ledger-outside', engine: 'postgresql', source: { addonId: source.id, pointInTime } },
      });
      expect(response.status, JSON.stringify(response.body)).toBe(422);
      expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(response.body.errors).toEqual([expect.objectContaining({ path: 'body.source.pointInTime' })]);
      return response.body;
    };
    const before = await outside(toSecond(Date.parse(window.earliestRestorableTime) - 86_400_000));
    expect(before.detail).toContain('outside the restorable window');
    expect(before.errors[0].message).toContain(`must be between ${window.earliestRestorableTime} and `);
    await outside(toSecond(Date.now() + 3_600_000));
    // Nothing was created.
    const names = (await api('GET', `${addons}?limit=100`)).body.items.map(
      (each: { name: string }) => each.name,
    );
    expect(names).not.toContain('ledger-outside');
  });
});
