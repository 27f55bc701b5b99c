import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BSON, type MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineDriver, InstanceContext } from '#infra/local/engines/driver.ts';
import { checkNoOtherUsers, customerRoles, settleCustomer } from '#infra/local/engines/mongodb/accounts.ts';
import { findServerBinary, majorOf, mongodOffer } from '#infra/local/engines/mongodb/binaries.ts';
import { helloMessage, probeMongod, readHello } from '#infra/local/engines/mongodb/connect.ts';
import {
  classifyMongodStart,
  MongodDriver,
  nameIssues,
  serverArgs,
} from '#infra/local/engines/mongodb/driver.ts';
import { mongodbUri } from '#shared/engines/mongodb/index.ts';
import type { InstanceSpec } from '#shared/ports/engine-provider.ts';

/** The parts of the local MongoDB driver that need no mongod (none is installed on these machines). */

/** An OP_MSG reply carrying `doc`, as mongod sends it. */
const opMsg = (doc: Record<string, unknown>, opCode = 2013): Buffer => {
  const body = Buffer.from(BSON.serialize(doc));
  const head = Buffer.alloc(21);
  head.writeInt32LE(21 + body.length, 0);
  head.writeInt32LE(7, 4);
  head.writeInt32LE(1, 8);
  head.writeInt32LE(opCode, 12);
  return Buffer.concat([head, body]);
};

const probeAgainst = async (answer: Buffer | undefined): Promise<{ verdict: string; sent: Buffer }> => {
  let sent = Buffer.alloc(0);
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      sent = Buffer.concat([sent, chunk]);
      if (answer) socket.write(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const ctx = { record: { host: '127.0.0.1', port } } as unknown as InstanceContext;
  try {
    return { verdict: await probeMongod(ctx, 300), sent };
  } finally {
    server.close();
  }
};

describe('the mongod readiness probe', () => {
  it('sends a hello OP_MSG on admin, without credentials', () => {
    const message = helloMessage(BSON, 5);
    expect(message.readInt32LE(0)).toBe(message.length);
    expect(message.readInt32LE(12)).toBe(2013);
    expect(BSON.deserialize(message.subarray(21))).toEqual({ hello: 1, $db: 'admin' });
  });

  it('is ready on ok: 1, starting on an error reply, down on anything else', async () => {
    expect((await probeAgainst(opMsg({ isWritablePrimary: true, ok: 1 }))).verdict).toBe('ready');
    expect((await probeAgainst(opMsg({ ok: 0, code: 91, codeName: 'ShutdownInProgress' }))).verdict).toBe(
      'starting',
    );
    expect((await probeAgainst(opMsg({ ok: 1 }, 1))).verdict).toBe('down');
    expect((await probeAgainst(Buffer.from('-ERR not mongo\r\n'))).verdict).toBe('down');
    expect((await probeAgainst(undefined)).verdict).toBe('starting');
  });

  it('waits for the whole reply', () => {
    const reply = opMsg({ ok: 1 });
    expect(readHello(BSON, reply.subarray(0, 3))).toBeUndefined();
    expect(readHello(BSON, reply.subarray(0, reply.length - 1))).toBeUndefined();
    expect(readHello(BSON, reply)).toBe('ready');
  });

  it('is down when nothing listens', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const ctx = { record: { host: '127.0.0.1', port } } as unknown as InstanceContext;
    expect(await probeMongod(ctx, 300)).toBe('down');
  });
});

describe('the mongod command and its failures', () => {
  const ctx = {
    dataDir: '/data/x',
    record: { host: '127.0.0.1', port: 27999 },
  } as unknown as InstanceContext;

  it('runs with access control, on the loopback address, without a socket in /tmp', () => {
    const args = serverArgs(ctx);
    expect(args).toEqual(expect.arrayContaining(['--auth', '--nounixsocket']));
    expect(args.join(' ')).toContain('--dbpath /data/x --port 27999 --bind_ip 127.0.0.1');
    expect(args).not.toContain('--replSet');
  });

  it('tells a taken port from a server still exiting and from lasting failures', () => {
    expect(
      classifyMongodStart(
        '{"t":{},"s":"E","c":"NETWORK","msg":"Error setting up listener","attr":{"error":{"code":9001,"codeName":"SocketException","errmsg":"Address already in use"}}}',
      ),
    ).toBe('port-in-use');
    expect(classifyMongodStart('"codeName":"DBPathInUse","errmsg":"Unable to lock the lock file"')).toBe(
      'transient',
    );
    expect(classifyMongodStart('"msg":"Fatal assertion","attr":{"msgid":28595}')).toBe('fatal');
  });

  it('signals a clean shutdown with SIGTERM and offers no local snapshots', () => {
    const driver: EngineDriver = new MongodDriver();
    expect(driver.signals).toEqual({ graceful: 'SIGTERM', immediate: 'SIGKILL' });
    expect(driver.snapshots).toBeUndefined();
  });

  it("refuses mongod's own databases, the platform's user and names a URI cannot carry", () => {
    const spec = (database: string, username: string) => ({ database, username }) as InstanceSpec;
    expect(nameIssues(spec('orders', 'orders_user'))).toEqual([]);
    expect(nameIssues(spec('admin', 'addons_platform')).map((issue) => issue.path)).toEqual([
      'username',
      'database',
    ]);
    expect(nameIssues(spec('a.b', 'x@y')).map((issue) => issue.path)).toEqual(['username', 'database']);
  });
});

describe('finding mongod and what the local catalog offers', () => {
  let dir: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'addons-fake-mongod-'));
  });
  afterAll(async () => {
    process.env = saved;
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the major of `mongod --version`', () => {
    expect(majorOf('db version v7.0.14\nBuild Info: {\n    "version": "7.0.14"')).toBe('7.0');
    expect(majorOf('db version v8.0.4')).toBe('8.0');
    expect(majorOf('mongod: command not found')).toBeUndefined();
  });

  it('takes ADDONS_MONGOD alone when set, else ADDONS_MONGODB_BIN_DIR, else PATH', async () => {
    const fake = join(dir, 'mongod');
    await writeFile(fake, '#!/bin/sh\necho "db version v8.0.4"\n');
    await chmod(fake, 0o755);
    expect(await findServerBinary({ ADDONS_MONGOD: fake })).toBe(fake);
    expect(await findServerBinary({ ADDONS_MONGOD: join(dir, 'missing'), PATH: dir })).toBeUndefined();
    expect(await findServerBinary({ ADDONS_MONGODB_BIN_DIR: dir })).toBe(fake);
  });

  it('offers MongoDB with the found mongod major: dumps yes, snapshots no, with notes saying why', async () => {
    const fake = join(dir, 'mongod');
    // Restored after: the unit files share their worker's process (vitest.config.ts).
    const saved = process.env.ADDONS_MONGOD;
    process.env.ADDONS_MONGOD = fake;
    try {
      const offer = await mongodOffer();
      expect(offer.versions).toEqual(['8.0']);
      expect(offer.defaultVersion).toBe('8.0');
      expect(offer.capabilities).toMatchObject({ provision: true, dumpBackup: true, snapshotBackup: false });
      expect(offer.notes.join(' ')).toMatch(/fsyncLock/);
    } finally {
      if (saved === undefined) delete process.env.ADDONS_MONGOD;
      else process.env.ADDONS_MONGOD = saved;
    }
  });
});

describe('MongoDB connection URIs', () => {
  const secret = {
    engine: 'mongodb' as const,
    host: '127.0.0.1',
    port: 27017,
    database: 'orders',
    username: 'orders_user',
    password: 'p@ss/word',
    tls: false,
  };

  it('locally: the user authenticates against the addon database', () => {
    expect(mongodbUri(secret)).toBe(
      'mongodb://orders_user:p%40ss%2Fword@127.0.0.1:27017/orders?authSource=orders',
    );
  });

  it('on DocumentDB: TLS, replica set rs0, reads from replicas, no retryable writes, users in admin', () => {
    const uri = new URL(mongodbUri({ ...secret, host: 'c.cluster-x.docdb.amazonaws.com', tls: true }));
    expect(uri.pathname).toBe('/orders');
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      tls: 'true',
      replicaSet: 'rs0',
      readPreference: 'secondaryPreferred',
      retryWrites: 'false',
      authSource: 'admin',
    });
  });
});

describe("the addon's users", () => {
  /** A client that records the commands sent to each database and answers from `answers`. */
  const fakeClient = (answers: (db: string, command: Record<string, unknown>) => Record<string, unknown>) => {
    const sent: Array<{ db: string; command: Record<string, unknown> }> = [];
    const client = {
      db: (db: string) => ({
        command: async (command: Record<string, unknown>) => {
          sent.push({ db, command });
          return answers(db, command);
        },
      }),
    } as unknown as MongoClient;
    return { client, sent };
  };

  it('creates the customer in its own database with readWrite and dbAdmin there only', async () => {
    const { client, sent } = fakeClient(() => ({ users: [], ok: 1 }));
    await settleCustomer(client, { username: 'u', database: 'orders', password: 'pw' });
    expect(sent.at(-1)).toEqual({
      db: 'orders',
      command: {
        createUser: 'u',
        pwd: 'pw',
        roles: [
          { role: 'readWrite', db: 'orders' },
          { role: 'dbAdmin', db: 'orders' },
        ],
      },
    });
  });

  it('resets an existing customer to exactly those roles, and fails when it is missing without a password', async () => {
    const existing = fakeClient(() => ({ users: [{ user: 'u', db: 'orders' }], ok: 1 }));
    await settleCustomer(existing.client, { username: 'u', database: 'orders' });
    expect(existing.sent.at(-1)?.command).toEqual({ updateUser: 'u', roles: customerRoles('orders') });
    const missing = fakeClient(() => ({ users: [], ok: 1 }));
    await expect(settleCustomer(missing.client, { username: 'u', database: 'orders' })).rejects.toThrow(
      /missing from database 'orders'/,
    );
  });

  it('refuses an instance with a user the platform did not create', async () => {
    const allowed = [
      { user: 'addons_platform', db: 'admin' },
      { user: 'u', db: 'orders' },
    ];
    const clean = fakeClient(() => ({ users: allowed, ok: 1 }));
    await checkNoOtherUsers(clean.client, allowed);
    expect(clean.sent[0]).toEqual({ db: 'admin', command: { usersInfo: { forAllDBs: true } } });
    const intruded = fakeClient(() => ({ users: [...allowed, { user: 'eve', db: 'admin' }], ok: 1 }));
    await expect(checkNoOtherUsers(intruded.client, allowed)).rejects.toThrow(/did not create: eve@admin/);
  });
});
