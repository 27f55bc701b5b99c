import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findServerBinary } from '#infra/local/engines/mongodb/binaries.ts';
import { removePlatformData } from '../support/data-dir.ts';
import { client } from '../support/http.ts';
import { backUpAndWait, operationEnded } from '../support/operations.ts';
import {
  type PlatformProcess,
  restartUntilRunning,
  startPlatformProcess,
} from '../support/platform-process.ts';

/**
 * MongoDB addons on the local target. The machine's mongod is user-installed (MongoDB is not
 * packaged for Debian 12): without one, the catalog says MongoDB is unavailable and how to install
 * it, and a create is a 422 saying the same (tested everywhere, with ADDONS_MONGOD naming a file
 * that does not exist). With one, the whole lifecycle runs against the real mongod.
 */
const TOKEN = 'e2e-mongodb-token-0123456789';
const PROJECT = 'mongodb-e2e';
const mongod = await findServerBinary();

interface MongoType {
  engine: string;
  versions: Array<{ version: string }>;
  capabilities: Record<string, boolean>;
  notes: string[];
}

describe('MongoDB on a machine without mongod', () => {
  let dataDir: string;
  let platform: PlatformProcess | undefined;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-nomongod-'));
    platform = await startPlatformProcess({
      ADDONS_DATA_DIR: dataDir,
      ADDONS_TOKEN: TOKEN,
      ADDONS_MONGOD: join(dataDir, 'no-such-mongod'),
    });
    api = client(platform.url, TOKEN);
  }, 120_000);

  afterAll(async () => {
    if (platform?.child.exitCode === null) await platform.interrupt();
    await removePlatformData(dataDir);
  });

  it('lists MongoDB as unavailable locally, with a note saying how to install mongod', async () => {
    const list = await api('GET', '/v1/addon-types');
    expect(list.status).toBe(200);
    const type = list.body.items.find((entry: MongoType) => entry.engine === 'mongodb') as MongoType;
    expect(type.capabilities).toMatchObject({ provision: false, dumpBackup: false, snapshotBackup: false });
    const notes = type.notes.join(' ');
    expect(notes).toMatch(/no mongod was found/);
    expect(notes).toMatch(/ADDONS_MONGOD/);
    expect(notes).toMatch(/mongodump, mongorestore/);
  });

  it('answers a create with a 422 that says how to install mongod', async () => {
    const response = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'docs', engine: 'mongodb' },
    });
    expect(response.status).toBe(422);
    expect(response.body.detail ?? response.body.message ?? JSON.stringify(response.body)).toMatch(
      /not packaged for Debian 12.*ADDONS_MONGOD/s,
    );
    expect(response.body.errors.map((issue: { path: string }) => issue.path)).toContain('body.engine');
    // Nothing was created.
    const addons = await api('GET', `/v1/projects/${PROJECT}/addons`);
    expect(addons.body.items).toEqual([]);
  });
});

if (!mongod) {
  console.info(
    'MongoDB lifecycle e2e skipped: no mongod on this machine (install MongoDB Community Server and put mongod on PATH, or set ADDONS_MONGOD).',
  );
}

describe.skipIf(!mongod)('MongoDB addons on the local target (the machine has a mongod)', () => {
  let dataDir: string;
  let platform: PlatformProcess | undefined;
  let api: ReturnType<typeof client>;
  let addonId: string;
  let credentials: { host: string; port: number; username: string; database: string; uri: string };
  const base = () => `/v1/projects/${PROJECT}/addons/${addonId}`;
  const env = () => ({ ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN });

  /** A client with the URI of the connection details, as an application would use it. */
  const withDb = async <T>(work: (db: ReturnType<MongoClient['db']>) => Promise<T>): Promise<T> => {
    const mongo = new MongoClient(credentials.uri, { serverSelectionTimeoutMS: 10_000 });
    try {
      await mongo.connect();
      return await work(mongo.db());
    } finally {
      await mongo.close();
    }
  };
  /** Every collection with its documents (sorted by _id) and index names. */
  const contents = () =>
    withDb(async (db) => {
      const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
      const out: Record<string, { docs: unknown[]; indexes: string[] }> = {};
      for (const name of names) {
        const collection = db.collection(name);
        out[name] = {
          docs: await collection.find({}).sort({ _id: 1 }).toArray(),
          indexes: (await collection.indexes()).map((index) => String(index.name)).sort(),
        };
      }
      return out;
    });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-mongodb-'));
    platform = await startPlatformProcess(env());
    api = client(platform.url, TOKEN);
  }, 120_000);

  afterAll(async () => {
    if (platform?.child.exitCode === null) await platform.interrupt();
    await removePlatformData(dataDir);
  });

  it('offers MongoDB with the version of the installed mongod, dumps but no snapshots', async () => {
    const type = (await api('GET', '/v1/addon-types')).body.items.find(
      (entry: MongoType) => entry.engine === 'mongodb',
    ) as MongoType;
    expect(type.capabilities).toMatchObject({ provision: true, dumpBackup: true, snapshotBackup: false });
    expect(type.versions).toHaveLength(1);
    expect(type.notes.join(' ')).toMatch(/Snapshot backups are not offered locally/);
  });

  it('creates an addon reachable with the URI of its connection details', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'docs', engine: 'mongodb' },
    });
    expect(created.status).toBe(202);
    addonId = created.body.addon.id;
    expect(await operationEnded(api, PROJECT, created.body.operation.id)).toMatchObject({
      status: 'completed',
      error: null,
    });
    credentials = (await api('GET', `${base()}/credentials`)).body;
    expect(credentials.host).toBe('127.0.0.1');
    expect(credentials.uri).toMatch(
      new RegExp(
        `^mongodb://[^@]+@127\\.0\\.0\\.1:${credentials.port}/${credentials.database}\\?authSource=${credentials.database}$`,
      ),
    );
    await withDb(async (db) => {
      await db.collection('orders').insertMany([
        { _id: 1 as never, item: 'pen', qty: 3, tags: ['office'] },
        { _id: 2 as never, item: 'ink', qty: 1, nested: { color: 'blue', sizes: [1, 2] } },
      ]);
      await db.collection('orders').createIndex({ item: 1 }, { name: 'by_item' });
      await db.collection('people').insertOne({ _id: 'ada' as never, born: new Date('1815-12-10') });
    });
  });

  it("refuses the addon's user anything outside its database", async () => {
    await withDb(async (db) => {
      const admin = db.client.db('admin');
      await expect(admin.command({ usersInfo: { forAllDBs: true } })).rejects.toThrow(/not authorized/i);
      await expect(admin.command({ shutdown: 1 })).rejects.toThrow(/not authorized/i);
      await expect(db.client.db('other').collection('x').insertOne({ a: 1 })).rejects.toThrow(
        /not authorized/i,
      );
    });
  });

  it('refuses a snapshot backup locally: a 422 naming the type', async () => {
    const response = await api('POST', `${base()}/backups`, { body: { type: 'snapshot' } });
    expect(response.status).toBe(422);
    expect(response.body.errors.map((issue: { path: string }) => issue.path)).toContain('body.type');
  });

  it('dumps, and restoring the dump brings back every collection, document and index of that moment', async () => {
    const atBackup = await contents();
    const { backupId, operation } = await backUpAndWait(api, PROJECT, base(), { type: 'dump' });
    expect(operation.error).toBeNull();
    expect((await api('GET', `${base()}/backups/${backupId}`)).body).toMatchObject({
      status: 'completed',
      type: 'dump',
      engine: 'mongodb',
    });

    await withDb(async (db) => {
      await db.collection('orders').updateOne({ _id: 1 as never }, { $set: { qty: 99 } });
      await db.collection('orders').dropIndex('by_item');
      await db.collection('people').drop();
      await db.collection('after_backup').insertOne({ gone: true });
    });
    expect(await contents()).not.toEqual(atBackup);

    const response = await api('POST', `${base()}/backups/${backupId}/restore`);
    expect(response.status).toBe(202);
    expect(await operationEnded(api, PROJECT, response.body.operation.id)).toMatchObject({
      status: 'completed',
      error: null,
    });
    expect(await contents()).toEqual(atBackup);
  });

  it('keeps every document across a platform restart, and its connection details', async () => {
    const before = await contents();
    ({ platform, api } = await restartUntilRunning(platform, env(), TOKEN, base()));
    expect((await api('GET', `${base()}/credentials`)).body.port).toBe(credentials.port);
    expect(await contents()).toEqual(before);
  }, 120_000);

  it('deletes the addon: nothing answers on its port any more', async () => {
    const deleted = await api('DELETE', base());
    expect(deleted.status).toBe(202);
    expect((await operationEnded(api, PROJECT, deleted.body.operation.id)).status).toBe('completed');
    const mongo = new MongoClient(credentials.uri, { serverSelectionTimeoutMS: 1_000 });
    await expect(mongo.connect()).rejects.toThrow();
    await mongo.close();
  });
});
