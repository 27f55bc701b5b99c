import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '#shared/errors.ts';
import type { ConnectionSecret } from '#shared/ports/secret-store.ts';
import { FileGroupDocuments } from '#shared/providers/local/file-group-documents.ts';
import { FileSecretStore } from '#shared/providers/local/file-secret-store.ts';
import { parseExternalConnectionString } from '#shared/services/external-connection.ts';
import { type SecretGroupServices, secretGroupServices } from '#shared/services/secret-group-services.ts';
import type { AddonStore } from '#shared/store/addon-store.ts';
import { startTestStore, TEST_TABLE } from '../support/dynamo.ts';
import { addonRecord, operation } from '../support/fixtures.ts';

/**
 * The secret-group services on dynalite and the local file stores: validation naming each field,
 * the document derived from the sources, the hook on a connection-detail write, the sweep that
 * repairs what a crash between the two left, and external services kept out of every record.
 */
const PROJECT = 'proj-groups';
let harness: Awaited<ReturnType<typeof startTestStore>>;
let dir: string;
let services: SecretGroupServices;
let raw: FileSecretStore;
let documents: FileGroupDocuments;
const hookErrors: unknown[] = [];

const secretOf = (password: string, host = '127.0.0.1'): ConnectionSecret => ({
  engine: 'postgresql',
  host,
  port: 5432,
  database: 'orders',
  username: 'orders',
  password,
  uri: host ? `postgresql://orders:${password}@${host}:5432/orders` : '',
  tls: false,
});

const runningAddon = async (store: AddonStore, projectId = PROJECT) => {
  const addon = addonRecord({
    projectId,
    status: 'running',
    name: `db-${Math.random().toString(36).slice(2, 8)}`,
  });
  await store.createAddon(addon, operation({ addonId: addon.id, projectId }));
  await raw.put({ projectId, addonId: addon.id }, secretOf('first'));
  return addon;
};

beforeAll(async () => {
  harness = await startTestStore();
  dir = await mkdtemp(join(tmpdir(), 'secret-groups-'));
  raw = new FileSecretStore(join(dir, 'secrets'));
  documents = new FileGroupDocuments(join(dir, 'groups'));
  services = secretGroupServices({
    client: DynamoDBDocumentClient.from(harness.dynamoClient, {
      marshallOptions: { removeUndefinedValues: true },
    }),
    tableName: TEST_TABLE,
    addons: harness.store,
    secrets: raw,
    documents,
    onHookError: (error) => hookErrors.push(error),
  });
}, 60_000);

afterAll(async () => {
  await harness?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a secret group', () => {
  it('publishes the chosen keys under their aliases with the plain variables, in a 0600 file', async () => {
    const addon = await runningAddon(harness.store);
    const group = await services.secretGroups.create(PROJECT, {
      name: 'web',
      links: [
        {
          addonId: addon.id,
          keys: [
            { key: 'uri', alias: 'DATABASE_URL' },
            { key: 'port', alias: 'DB_PORT' },
            { key: 'tls', alias: 'DB_TLS' },
          ],
        },
      ],
      variables: { NODE_ENV: 'production' },
    });
    expect(group).toMatchObject({
      documentVersion: 1,
      documentLocation: join(dir, 'groups', PROJECT, `${group.id}.json`),
    });
    const expected = {
      DATABASE_URL: 'postgresql://orders:first@127.0.0.1:5432/orders',
      DB_PORT: '5432',
      DB_TLS: 'false',
      NODE_ENV: 'production',
    };
    expect((await services.secretGroups.document(PROJECT, group.id)).values).toEqual(expected);
    expect(JSON.parse(await readFile(group.documentLocation, 'utf8'))).toEqual(expected);
    expect((await stat(group.documentLocation)).mode & 0o777).toBe(0o600);
  });

  it("is published again through the hook when a linked addon's details are written, and only then", async () => {
    const addon = await runningAddon(harness.store);
    const group = await services.secretGroups.create(PROJECT, {
      name: 'hooked',
      links: [{ addonId: addon.id, keys: [{ key: 'password', alias: 'DB_PASSWORD' }] }],
      variables: {},
    });
    await services.secrets.put({ projectId: PROJECT, addonId: addon.id }, secretOf('second'));
    const after = await services.secretGroups.document(PROJECT, group.id);
    expect(after).toMatchObject({ documentVersion: 2, values: { DB_PASSWORD: 'second' } });
    // The same details again: nothing to publish.
    await services.secrets.put({ projectId: PROJECT, addonId: addon.id }, secretOf('second'));
    expect((await services.secretGroups.get(PROJECT, group.id)).documentVersion).toBe(2);
    expect(hookErrors).toEqual([]);
  });

  it('is repaired by the sweep after a crash between the details write and the re-publish', async () => {
    const addon = await runningAddon(harness.store);
    const group = await services.secretGroups.create(PROJECT, {
      name: 'crashed',
      links: [{ addonId: addon.id, keys: [{ key: 'password', alias: 'DB_PASSWORD' }] }],
      variables: {},
    });
    // The raw store: the details change, the hook never runs (the process died in between).
    await raw.put({ projectId: PROJECT, addonId: addon.id }, secretOf('after-crash'));
    expect((await documents.get({ projectId: PROJECT, groupId: group.id }))?.DB_PASSWORD).toBe('first');
    const swept = await services.publisher.sweep();
    expect(swept.published).toContain(group.id);
    expect(swept.failed).toEqual([]);
    expect((await documents.get({ projectId: PROJECT, groupId: group.id }))?.DB_PASSWORD).toBe('after-crash');
    expect((await services.publisher.sweep()).published).not.toContain(group.id);
  });

  it('leaves out the keys of an addon whose details are not ready, and adds them once written', async () => {
    const addon = addonRecord({ projectId: PROJECT, name: 'provisioning' });
    await harness.store.createAddon(addon, operation({ addonId: addon.id, projectId: PROJECT }));
    await services.secrets.put({ projectId: PROJECT, addonId: addon.id }, secretOf('x', ''));
    const group = await services.secretGroups.create(PROJECT, {
      name: 'early',
      links: [{ addonId: addon.id, keys: [{ key: 'host', alias: 'DB_HOST' }] }],
      variables: { A: 'b' },
    });
    expect((await services.secretGroups.document(PROJECT, group.id)).values).toEqual({ A: 'b' });
    await services.secrets.put({ projectId: PROJECT, addonId: addon.id }, secretOf('x'));
    expect((await services.secretGroups.document(PROJECT, group.id)).values).toEqual({
      A: 'b',
      DB_HOST: '127.0.0.1',
    });
  });

  it("refuses an alias used twice, an unknown addon and another project's addon, naming each field", async () => {
    const mine = await runningAddon(harness.store);
    const theirs = await runningAddon(harness.store, 'proj-other');
    const attempt = services.secretGroups.create(PROJECT, {
      name: 'bad',
      links: [
        {
          addonId: mine.id,
          keys: [
            { key: 'uri', alias: 'URL' },
            { key: 'host', alias: 'URL' },
          ],
        },
        { addonId: theirs.id, keys: [{ key: 'uri', alias: 'OTHER' }] },
        { addonId: 'adn-0000000000missing', keys: [{ key: 'uri', alias: 'MISSING' }] },
      ],
      variables: { OTHER: 'x' },
    });
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    const issues = await attempt.catch((error: ValidationError) => error.issues.map((issue) => issue.path));
    expect(issues).toEqual([
      'body.links.0.keys.1.alias',
      'body.variables.OTHER',
      'body.links.1.addonId',
      'body.links.2.addonId',
    ]);
  });

  it('refuses the delete of a linked source unless asked to unlink, then publishes without it', async () => {
    const addon = await runningAddon(harness.store);
    const group = await services.secretGroups.create(PROJECT, {
      name: 'linked',
      links: [{ addonId: addon.id, keys: [{ key: 'uri', alias: 'DATABASE_URL' }] }],
      variables: { KEEP: 'yes' },
    });
    const refused = services.secretGroups.releaseSource(PROJECT, addon.id, false, 'unlinkGroups');
    await expect(refused).rejects.toBeInstanceOf(ConflictError);
    await expect(refused).rejects.toThrow(group.id);
    await services.secretGroups.releaseSource(PROJECT, addon.id, true, 'unlinkGroups');
    expect((await services.secretGroups.get(PROJECT, group.id)).links).toEqual([]);
    expect((await services.secretGroups.document(PROJECT, group.id)).values).toEqual({ KEEP: 'yes' });
  });

  it('is deleted with its document, and an interrupted delete is finished by the sweep', async () => {
    const group = await services.secretGroups.create(PROJECT, {
      name: 'gone',
      links: [],
      variables: { A: '1' },
    });
    await services.secretGroups.delete(PROJECT, group.id);
    await expect(stat(group.documentLocation)).rejects.toThrow(/ENOENT/);
    const half = await services.secretGroups.create(PROJECT, {
      name: 'half',
      links: [],
      variables: { A: '1' },
    });
    const record = await services.store.getGroup(PROJECT, half.id);
    await services.store.updateGroup(record, { deletingAt: new Date().toISOString() });
    expect((await services.publisher.sweep()).deleted).toContain(half.id);
    await expect(services.store.getGroup(PROJECT, half.id)).rejects.toThrow(/not found/);
    await expect(stat(half.documentLocation)).rejects.toThrow(/ENOENT/);
  });
});

describe('an external service', () => {
  const URL_ = 'postgresql://report:Pa55-word@db.example.com:6543/reports?sslmode=require';

  it('keeps its connection string in the secret store only, and links like an addon', async () => {
    const service = await services.externalServices.register(PROJECT, {
      name: 'reporting',
      connectionString: URL_,
    });
    expect(service).toMatchObject({
      engine: 'postgresql',
      host: 'db.example.com',
      port: 6543,
      username: 'report',
      tls: true,
    });
    expect(JSON.stringify(service)).not.toContain('Pa55-word');
    expect(JSON.stringify(await services.store.getExternal(PROJECT, service.id))).not.toContain('Pa55-word');
    const group = await services.secretGroups.create(PROJECT, {
      name: 'external',
      links: [{ externalServiceId: service.id, keys: [{ key: 'uri', alias: 'REPORTING_URL' }] }],
      variables: {},
    });
    expect((await services.secretGroups.document(PROJECT, group.id)).values).toEqual({ REPORTING_URL: URL_ });
    await expect(services.externalServices.delete(PROJECT, service.id, false)).rejects.toBeInstanceOf(
      ConflictError,
    );
    await services.externalServices.delete(PROJECT, service.id, true);
    expect(await raw.get({ projectId: PROJECT, addonId: service.id })).toBeUndefined();
  });

  it.each([
    [
      'redis://:secret@cache.internal:6380/2',
      { engine: 'redis', port: 6380, database: '2', username: 'default', tls: false },
    ],
    ['rediss://cache.internal', { engine: 'redis', port: 6379, database: '0', tls: true }],
    ['mysql://app:pw@mysql.internal/shop', { engine: 'mysql', port: 3306, database: 'shop' }],
    [
      'mongodb://app:pw@a.internal:27017,b.internal:27017/app?replicaSet=rs0',
      { engine: 'mongodb', host: 'a.internal', database: 'app' },
    ],
    ['mongodb+srv://app:pw@cluster.example.net/', { engine: 'mongodb', database: 'admin', tls: true }],
  ])('parses %s', (connectionString, expected) => {
    expect(parseExternalConnectionString(connectionString)).toMatchObject({
      ...expected,
      uri: connectionString,
    });
  });

  it.each([
    'db.example.com:5432',
    'http://user:pw@host/db',
    'postgresql://user:pw@host:99999/db',
    'postgresql://user@host/db',
    'postgresql://user:pw@host/',
    'mysql://user:%zz@host/db',
  ])('refuses %s naming the field, never repeating it', (connectionString) => {
    let caught: unknown;
    try {
      parseExternalConnectionString(connectionString);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    const error = caught as ValidationError;
    expect(error.issues.map((issue) => issue.path)).toEqual(['body.connectionString']);
    expect(error.message).not.toContain(connectionString);
  });
});
