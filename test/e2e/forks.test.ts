import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removePlatformData } from '../support/data-dir.ts';
import {
  type Credentials,
  createAndWait as createAddonAndWait,
  credentialsOf as credentialsOfAddon,
  withPassword,
} from '../support/forks.ts';
import { client } from '../support/http.ts';
import { type MariaDbCredentials, mariadbRows } from '../support/mariadb-cli.ts';
import { backUpAndWait, operationEnded } from '../support/operations.ts';
import { pgFingerprint, pgQuery } from '../support/pg-fingerprint.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * Forks over HTTP on the local target, with real PostgreSQL and MariaDB servers: a new addon
 * created from another addon's dump or snapshot backup has every table exactly as at backup time
 * (per-table checksums), none of what was written to the source afterwards, its own password (the
 * source's does not open it) and the source's database name; the source keeps running untouched.
 */
const TOKEN = 'e2e-forks-token-0123456789';
const PROJECT = 'fk';
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;

const addons = `/v1/projects/${PROJECT}/addons`;
const waitForOperation = (operationId: string) => operationEnded(api, PROJECT, operationId, 300_000);
const credentialsOf = (addonId: string) => credentialsOfAddon(api, PROJECT, addonId);
const createAndWait = (body: Record<string, unknown>) => createAddonAndWait(api, PROJECT, body);

const backUp = async (addonId: string, body: Record<string, unknown>) => {
  const { backupId, operation } = await backUpAndWait(api, PROJECT, `${addons}/${addonId}`, body);
  expect(operation.error).toBeNull();
  return backupId;
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-forks-'));
  platform = await startPlatformProcess({ ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN });
  api = client(platform.url, TOKEN);
}, 120_000);

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await removePlatformData(dataDir);
});

describe('PostgreSQL forks on the local target', () => {
  let source: { id: string };
  let sourceCredentials: Credentials;
  let atBackup: Record<string, string>;
  let dumpId: string;
  let snapshotId: string;

  beforeAll(async () => {
    source = await createAndWait({ name: 'ledger', engine: 'postgresql' });
    sourceCredentials = await credentialsOf(source.id);
    const sql = (text: string) => pgQuery(sourceCredentials.uri, text);
    await sql('CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)');
    await sql("INSERT INTO accounts SELECT g, 'owner ' || g, g * 10.5 FROM generate_series(1, 3000) g");
    await sql(
      'CREATE TABLE entries (id bigserial PRIMARY KEY, account int REFERENCES accounts, amount numeric)',
    );
    await sql(
      'INSERT INTO entries (account, amount) SELECT 1 + g % 3000, g FROM generate_series(1, 10000) g',
    );
    atBackup = await pgFingerprint(sourceCredentials.uri);
    dumpId = await backUp(source.id, { type: 'dump', compression: 'zstd' });
    snapshotId = await backUp(source.id, { type: 'snapshot' });
    // Written after both backups: no fork may have it.
    await sql('UPDATE accounts SET balance = 0 WHERE id % 3 = 0');
    await sql('CREATE TABLE after_backup (id int)');
    await sql('INSERT INTO after_backup VALUES (1)');
  }, 300_000);

  const expectFork = async (fork: { id: string }, backupId: string, backupType: string) => {
    expect(fork).toMatchObject({
      engine: 'postgresql',
      version: '15',
      source: {
        addonId: source.id,
        addonName: 'ledger',
        backupId,
        backupType,
        pointInTime: null,
        database: 'ledger',
      },
    });
    const credentials = await credentialsOf(fork.id);
    expect(credentials.database).toBe('ledger');
    expect(credentials.password).not.toBe(sourceCredentials.password);
    expect(credentials.port).not.toBe(sourceCredentials.port);
    expect(await pgFingerprint(credentials.uri)).toEqual(atBackup);
    // The source's password does not open the fork.
    await expect(pgQuery(withPassword(credentials, sourceCredentials.password), 'SELECT 1')).rejects.toThrow(
      /password authentication failed/,
    );
    // The source is untouched: running, with what was written after the backup.
    expect((await api('GET', `${addons}/${source.id}`)).body).toMatchObject({ status: 'running' });
    const now = await pgFingerprint(sourceCredentials.uri);
    expect(Object.keys(now)).toContain('after_backup');
    expect(now.accounts).not.toBe(atBackup.accounts);
  };

  it('forks from a dump backup: every table as at backup time, its own password, the source database name', async () => {
    const fork = await createAndWait({
      name: 'ledger-dump-fork',
      engine: 'postgresql',
      source: { addonId: source.id, backupId: dumpId },
    });
    await expectFork(fork, dumpId, 'dump');
  }, 300_000);

  it('forks from a snapshot backup: the physical copy gets the fork its own password', async () => {
    const fork = await createAndWait({
      name: 'ledger-snap-fork',
      engine: 'postgresql',
      source: { addonId: source.id, backupId: snapshotId },
    });
    await expectFork(fork, snapshotId, 'snapshot');
    // The source's password still opens the source.
    expect(await pgQuery(sourceCredentials.uri, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
  }, 300_000);

  it('forks from the latest completed backup', async () => {
    const fork = await createAndWait({
      name: 'ledger-latest',
      engine: 'postgresql',
      source: { addonId: source.id, latest: true },
    });
    await expectFork(fork, snapshotId, 'snapshot');
  }, 300_000);

  it('refuses bad sources with a problem naming the field', async () => {
    const refused = async (
      body: Record<string, unknown>,
      status: number,
      path: string,
      project = PROJECT,
    ) => {
      const response = await api('POST', `/v1/projects/${project}/addons`, {
        body: { name: 'bad-fork', ...body },
      });
      expect(response.status, JSON.stringify(response.body)).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(response.body.errors, JSON.stringify(response.body)).toEqual([
        expect.objectContaining({ path }),
      ]);
      return response.body;
    };
    const pg = { engine: 'postgresql' };
    await refused({ engine: 'mysql', source: { addonId: source.id, backupId: dumpId } }, 422, 'body.engine');
    await refused(
      { ...pg, source: { addonId: source.id, backupId: 'bkp-doesnotexist' } },
      422,
      'body.source.backupId',
    );
    await refused(
      { ...pg, source: { addonId: 'adn-doesnotexist', latest: true } },
      422,
      'body.source.addonId',
    );
    await refused(
      { ...pg, source: { addonId: source.id, backupId: dumpId, latest: true } },
      400,
      'body.source',
    );
    await refused(
      { ...pg, source: { addonId: source.id, pointInTime: '2000-01-01T00:00:00Z' } },
      422,
      'body.source.pointInTime',
    );
    await refused(
      { ...pg, version: '14', source: { addonId: source.id, backupId: dumpId } },
      422,
      'body.version',
    );
    // Another project's addon is answered exactly like one that does not exist.
    const foreign = await refused(
      { ...pg, source: { addonId: source.id, latest: true } },
      422,
      'body.source.addonId',
      'other',
    );
    const unknown = await refused(
      { ...pg, source: { addonId: 'adn-doesnotexist', latest: true } },
      422,
      'body.source.addonId',
      'other',
    );
    expect(foreign.detail.replace(source.id, 'X')).toBe(unknown.detail.replace('adn-doesnotexist', 'X'));
    // Nothing was created.
    const listed = (await api('GET', `${addons}?limit=100`)).body.items.map(
      (addon: { name: string }) => addon.name,
    );
    expect(listed).not.toContain('bad-fork');
  });

  it('forks a deleted addon from its backup while the backups are kept (grace period)', async () => {
    const deleted = await api('DELETE', `${addons}/${source.id}`);
    expect(deleted.status).toBe(202);
    expect(await waitForOperation(deleted.body.operation.id)).toMatchObject({ status: 'completed' });
    expect((await api('GET', `${addons}/${source.id}`)).status).toBe(404);
    for (const [name, backupId] of [
      ['ledger-afterlife-dump', dumpId],
      ['ledger-afterlife-snap', snapshotId],
    ] as const) {
      const fork = await createAndWait({
        name,
        engine: 'postgresql',
        source: { addonId: source.id, backupId },
      });
      expect(fork.source).toMatchObject({ addonId: source.id, addonName: 'ledger', database: 'ledger' });
      expect(await pgFingerprint((await credentialsOf(fork.id)).uri)).toEqual(atBackup);
    }
  }, 300_000);
});

describe('MySQL forks on the local target', () => {
  it('forks from a snapshot and from a dump: every table has its CHECKSUM TABLE of backup time', async () => {
    const source = await createAndWait({ name: 'shop', engine: 'mysql' });
    const sourceCredentials = await credentialsOf(source.id);
    const run = (credentials: MariaDbCredentials, statements: string) => mariadbRows(credentials, statements);
    run(
      sourceCredentials,
      `CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64), price DECIMAL(10,2));
       INSERT INTO items SELECT seq, CONCAT('item ', seq), seq * 1.25 FROM seq_1_to_2000;`,
    );
    const checksum = (credentials: MariaDbCredentials) =>
      run(credentials, 'CHECKSUM TABLE items EXTENDED')[0]?.[1];
    const atBackup = checksum(sourceCredentials);
    const snapshotId = await backUp(source.id, { type: 'snapshot' });
    const dumpId = await backUp(source.id, { type: 'dump' });
    run(sourceCredentials, 'UPDATE items SET price = 0 WHERE id % 2 = 0; CREATE TABLE later (id INT);');
    expect(checksum(sourceCredentials)).not.toBe(atBackup);

    for (const [name, backupId] of [
      ['shop-snap-fork', snapshotId],
      ['shop-dump-fork', dumpId],
    ] as const) {
      const fork = await createAndWait({ name, engine: 'mysql', source: { addonId: source.id, backupId } });
      const credentials = await credentialsOf(fork.id);
      expect(credentials.database).toBe(sourceCredentials.database);
      expect(credentials.password).not.toBe(sourceCredentials.password);
      expect(checksum(credentials)).toBe(atBackup);
      expect(run(credentials, 'SHOW TABLES').map(([table]) => table)).toEqual(['items']);
      expect(() => run({ ...credentials, password: sourceCredentials.password }, 'SELECT 1')).toThrow(
        /denied/,
      );
    }
    expect((await api('GET', `${addons}/${source.id}`)).body).toMatchObject({ status: 'running' });
  }, 600_000);
});
