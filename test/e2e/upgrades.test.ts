import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removePlatformData } from '../support/data-dir.ts';
import { client } from '../support/http.ts';
import { operationEnded } from '../support/operations.ts';
import { pgFingerprint, pgQuery } from '../support/pg-fingerprint.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * A major upgrade on the local target, over HTTP: a PostgreSQL 14 addon with data is upgraded to
 * 15 (a snapshot first, kept pinned; then a dump and restore into a new data directory of 15,
 * swapped in); the server then says 15, every table's checksum is what it was, and the backup
 * the operation names is listed. One addon, one platform.
 */
const TOKEN = 'e2e-upgrades-token-0123456789';
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;
let addonId: string;
const base = () => `/v1/projects/up/addons/${addonId}`;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-upgrades-'));
  platform = await startPlatformProcess({ ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN });
  api = client(platform.url, TOKEN);
}, 60_000);

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await removePlatformData(dataDir);
});

describe('PostgreSQL major upgrade (local)', () => {
  it('upgrades a 14 addon to 15 with its data, after a kept backup', async () => {
    const created = await api('POST', '/v1/projects/up/addons', {
      body: { name: 'ledger', engine: 'postgresql', version: '14' },
    });
    expect(created.status).toBe(202);
    addonId = created.body.addon.id;
    expect((await operationEnded(api, 'up', created.body.operation.id)).status).toBe('completed');
    const addon = (await api('GET', base())).body;
    expect(addon).toMatchObject({ version: '14', upgradeAvailable: true, upgradeTargets: ['15'] });

    const uri = (await api('GET', `${base()}/credentials`)).body.uri as string;
    expect((await pgQuery(uri, 'SHOW server_version'))[0].server_version).toMatch(/^14\./);
    await pgQuery(uri, 'CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)');
    await pgQuery(
      uri,
      "INSERT INTO accounts SELECT g, 'owner ' || g, g * 10.5 FROM generate_series(1, 3000) g",
    );
    await pgQuery(
      uri,
      'CREATE TABLE entries (id bigserial PRIMARY KEY, account int REFERENCES accounts, note jsonb)',
    );
    await pgQuery(
      uri,
      `INSERT INTO entries (account, note) SELECT 1 + g % 3000, jsonb_build_object('n', g) FROM generate_series(1, 10000) g`,
    );
    const before = await pgFingerprint(uri);
    expect(Object.keys(before)).toEqual(['accounts', 'entries']);

    // Refused: a downgrade, and a version the catalog does not list as a target.
    for (const version of ['13', '14', '16']) {
      const refused = await api('POST', `${base()}/upgrade`, { body: { version } });
      expect(refused.status).toBe(422);
      expect(refused.body.errors).toEqual([expect.objectContaining({ path: 'body.version' })]);
      expect(refused.body.detail ?? refused.body.title).toContain('15');
    }

    const accepted = await api('POST', `${base()}/upgrade`, { body: { version: '15' } });
    expect(accepted.status).toBe(202);
    expect(accepted.body.operation).toMatchObject({
      type: 'upgrade',
      upgrade: { fromVersion: '14', toVersion: '15' },
      backupId: accepted.body.backup.id,
    });
    expect(accepted.body.backup).toMatchObject({ pinned: true, source: 'upgrade', type: 'snapshot' });
    // One operation at a time.
    expect((await api('POST', `${base()}/upgrade`, { body: { version: '15' } })).status).toBe(409);

    const operation = await operationEnded(api, 'up', accepted.body.operation.id, 90_000);
    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect((await api('GET', base())).body).toMatchObject({
      status: 'running',
      version: '15',
      currentOperationId: null,
      upgradeAvailable: false,
      upgradeTargets: [],
    });
    // The same connection details reach the upgraded server, with the same data.
    const [{ version }] = await pgQuery(uri, 'SELECT version()');
    expect(version).toMatch(/^PostgreSQL 15\./);
    expect(await pgFingerprint(uri)).toEqual(before);

    const backups = (await api('GET', `${base()}/backups`)).body.items;
    expect(backups).toEqual([
      expect.objectContaining({
        id: accepted.body.backup.id,
        status: 'completed',
        pinned: true,
        source: 'upgrade',
        engineVersion: '14',
      }),
    ]);
  }, 150_000);
});
