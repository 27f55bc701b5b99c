import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingToolError, ProviderError, TransientError } from '#shared/errors.ts';
import { jobUri } from '#shared/jobs/mongodb/connection.ts';
import {
  dumpArgs,
  MongoDumpTool,
  parseMongoVersion,
  type RestoreSession,
  restoreArgs,
} from '#shared/jobs/mongodb/dump-tool.ts';
import {
  type CollectionInfo,
  MARKER_COLLECTION,
  type RestoreMarker,
  type RestoreTarget,
  rollForward,
  STAGING_PREFIX,
} from '#shared/jobs/mongodb/staging.ts';
import { CONFIG_VARIABLE, resolveMongoTool, toolConfig } from '#shared/jobs/mongodb/tools.ts';
import type { Credentials } from '#shared/schemas/addon.ts';

/**
 * The MongoDB dump tool without a server (none is installed here): the commands it builds, how
 * the password reaches the tools, how failures are read, and the staged restore's plan against an
 * in-memory database. The tools themselves are fakes that report what they were given.
 */

const local: Credentials = {
  engine: 'mongodb',
  host: '127.0.0.1',
  port: 27017,
  database: 'orders',
  username: 'orders_user',
  password: 's3cr\'et "pw" $HOME',
  uri: '',
  tls: false,
};

let bin: string;
const savedBinDir = process.env.ADDONS_MONGODB_BIN_DIR;

/** A fake tool: `--version` answers like the real one; otherwise it prints its arguments and its --config file. */
const fakeTool = async (name: string) => {
  const path = join(bin, name);
  await writeFile(
    path,
    `#!/bin/bash
if [ "$1" = "--version" ]; then echo "${name} version: 100.10.0"; exit 0; fi
for arg in "$@"; do
  case "$arg" in --config=*) echo "CONFIG:"; cat "\${arg#--config=}";; *) echo "ARG:$arg";; esac
done
`,
  );
  await chmod(path, 0o755);
};

beforeAll(async () => {
  bin = await mkdtemp(join(tmpdir(), 'addons-fake-mongo-tools-'));
  await fakeTool('mongodump');
  await fakeTool('mongorestore');
  process.env.ADDONS_MONGODB_BIN_DIR = bin;
});
afterAll(async () => {
  if (savedBinDir === undefined) delete process.env.ADDONS_MONGODB_BIN_DIR;
  else process.env.ADDONS_MONGODB_BIN_DIR = savedBinDir;
  await rm(bin, { recursive: true, force: true });
});

describe('the MongoDB tools and their commands', () => {
  it('finds the tools in ADDONS_MONGODB_BIN_DIR and records their version', async () => {
    const tool = await resolveMongoTool('mongodump');
    expect(tool.path).toBe(join(bin, 'mongodump'));
    expect(tool.version).toBe('mongodump version: 100.10.0');
  });

  it('names the MongoDB Database Tools when they are missing', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'addons-no-tools-'));
    const savedPath = process.env.PATH;
    process.env.PATH = empty;
    try {
      const error = await resolveMongoTool('mongorestore', empty).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(MissingToolError);
      expect((error as Error).message).toMatch(
        /MongoDB Database Tools \(mongodump, mongorestore\) is not installed.*ADDONS_MONGODB_BIN_DIR/,
      );
    } finally {
      process.env.PATH = savedPath;
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('dumps one database as an archive on stdout, connected through a config pipe: no password in any argument', async () => {
    const command = await new MongoDumpTool().dumpCommand(local);
    expect(command.toolVersion).toBe('mongodump version: 100.10.0');
    expect(command.tool.name).toBe('mongodump');
    expect(command.args.join(' ')).not.toContain(local.password);
    expect(command.args.slice(-2)).toEqual(dumpArgs('orders'));
    expect(dumpArgs('orders')).toEqual(['--db=orders', '--archive']);

    // Run it: the fake tool gets the arguments and reads the URI from the --config it was given.
    const run = spawnSync(command.tool.path, command.args, { env: command.env, encoding: 'utf8' });
    expect(run.status).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines.filter((line) => line.startsWith('ARG:'))).toEqual(['ARG:--db=orders', 'ARG:--archive']);
    expect(run.stdout).toContain(`CONFIG:\n${toolConfig(jobUri(local, { withDatabase: false }))}`);
    expect(command.env[CONFIG_VARIABLE]).toBe(toolConfig(jobUri(local, { withDatabase: false })));
  });

  it('writes the config as YAML whose uri is the whole URI, escaped', () => {
    const uri = jobUri(local, { withDatabase: false });
    expect(uri).toBe(
      `mongodb://orders_user:${encodeURIComponent(local.password)}@127.0.0.1:27017/?authSource=orders`,
    );
    const yaml = toolConfig('mongodb://a:"b"@h/?x=1');
    expect(yaml).toBe('uri: "mongodb://a:\\"b\\"@h/?x=1"\n');
  });

  it('on DocumentDB: TLS with the configured CA bundle', () => {
    const docdb = { ...local, host: 'c.docdb.amazonaws.com', tls: true };
    const uri = new URL(
      jobUri(docdb, { withDatabase: false, env: { ADDONS_MONGODB_TLS_CA_FILE: '/etc/ssl/certs/rds.pem' } }),
    );
    expect(uri.pathname).toBe('/');
    expect(uri.searchParams.get('tlsCAFile')).toBe('/etc/ssl/certs/rds.pem');
    expect(uri.searchParams.get('authSource')).toBe('admin');
    expect(uri.searchParams.get('retryWrites')).toBe('false');
  });

  it('restores into the staging namespace of the database, stopping at the first error', () => {
    expect(restoreArgs('orders')).toEqual([
      '--archive',
      '--drop',
      '--stopOnError',
      '--nsExclude=admin.*',
      '--nsExclude=config.*',
      '--nsExclude=local.*',
      '--nsFrom=$db$.$collection$',
      `--nsTo=orders.${STAGING_PREFIX}$collection$`,
    ]);
  });

  it('reads server versions as the catalog names them', () => {
    expect(parseMongoVersion('7.0.14')).toEqual({ version: '7.0.14', major: '7.0' });
    expect(parseMongoVersion('5.0.0')).toEqual({ version: '5.0.0', major: '5.0' });
    expect(() => parseMongoVersion('unknown')).toThrow(ProviderError);
  });

  it('classifies failures: unreachable servers are transient, refused credentials are final', () => {
    const tool = new MongoDumpTool();
    const classify = (message: string, phase: 'dump' | 'restore' = 'dump') => {
      const error = tool.classifyFailure(message, phase);
      return error instanceof TransientError ? 'transient' : (error as ProviderError).code;
    };
    expect(
      classify(
        "mongodump exited with code 1: Failed: can't create session: failed to connect to mongodb://127.0.0.1:1/: server selection error: context deadline exceeded",
      ),
    ).toBe('transient');
    expect(classify('error: (NotWritablePrimary) not primary', 'restore')).toBe('transient');
    expect(
      classify(
        'Failed: can\'t create session: could not connect to server: connection() error occurred during connection handshake: auth error: sasl conversation error: unable to authenticate using mechanism "SCRAM-SHA-256": (AuthenticationFailed) Authentication failed.',
      ),
    ).toBe('ConnectionFailed');
    expect(classify('Failed: orders.x: error reading collection: BSON', 'dump')).toBe('DumpFailed');
    expect(classify('Failed: orders.x: error restoring: E11000 duplicate key', 'restore')).toBe(
      'RestoreFailed',
    );
  });
});

/** An in-memory database: collections by name, and the marker. */
class FakeDatabase implements RestoreTarget {
  collections = new Map<string, CollectionInfo & { docs: string }>();
  marker: RestoreMarker | undefined;
  /** Fail the rename of this collection once (a crash in the middle of the commit). */
  failRenameOf: string | undefined;

  add(name: string, docs: string, type = 'collection', options?: Record<string, unknown>) {
    this.collections.set(name, { name, type, docs, ...(options ? { options } : {}) });
  }
  contents() {
    return Object.fromEntries([...this.collections].map(([name, c]) => [name, c.docs]).sort());
  }
  async list() {
    return [...this.collections.values()].map(({ name, type, options }) => ({ name, type, options }));
  }
  async rename(from: string, to: string) {
    if (this.failRenameOf === from) {
      this.failRenameOf = undefined;
      throw new Error('connection lost');
    }
    const source = this.collections.get(from);
    if (!source) throw new Error(`no ${from}`);
    this.collections.delete(from);
    this.collections.set(to, { ...source, name: to });
  }
  async drop(name: string) {
    this.collections.delete(name);
  }
  async createView(name: string, options: Record<string, unknown>) {
    this.add(name, `view on ${String(options.viewOn)}`, 'view', options);
  }
  async readMarker() {
    return this.marker;
  }
  async writeMarker(marker: RestoreMarker) {
    this.marker = marker;
    this.add(MARKER_COLLECTION, 'marker');
  }
  async dropMarker() {
    this.marker = undefined;
    this.collections.delete(MARKER_COLLECTION);
  }
}

const toolWith = (db: FakeDatabase) =>
  new MongoDumpTool(async (): Promise<RestoreSession> => ({ target: db, close: async () => undefined }));
const SERVER = { version: '7.0.14', major: '7.0', databaseBytes: 0 };
const OPTIONS = { applicationName: 'test', restoreId: 'op-1', lockTimeoutMs: 1000 };

/** The live database before the restore, and what mongorestore staged from the archive. */
const liveAndStaged = () => {
  const db = new FakeDatabase();
  db.add('orders', 'orders now');
  db.add('people', 'people now');
  db.add('after_backup', 'created after the backup');
  db.add('system.views', 'mongod metadata');
  db.add(`${STAGING_PREFIX}orders`, 'orders then');
  db.add(`${STAGING_PREFIX}people`, 'people then');
  db.add(`${STAGING_PREFIX}big_orders`, '', 'view', { viewOn: 'orders', pipeline: [] });
  return db;
};

describe('the staged restore plan', () => {
  it('clears what an uncommitted attempt staged before loading, and loads through the config pipe', async () => {
    const db = new FakeDatabase();
    db.add('orders', 'orders now');
    db.add(`${STAGING_PREFIX}orders`, 'half-loaded by a failed run');
    const plan = await toolWith(db).prepareRestore(local, SERVER, OPTIONS);
    expect(db.contents()).toEqual({ orders: 'orders now' });
    expect(plan.alreadyLoaded).toBeUndefined();
    expect(plan.toolVersion).toBe('mongorestore version: 100.10.0');
    expect(plan.loader.tool.name).toBe('mongorestore');
    expect(plan.loader.args.slice(3)).toEqual(restoreArgs('orders'));
    expect(plan.loader.args.join(' ')).not.toContain(local.password);
  });

  it('commits: every staged collection replaces its original, views are remade, the rest of the database goes', async () => {
    const db = new FakeDatabase();
    db.add('orders', 'orders now');
    const plan = await toolWith(db).prepareRestore(local, SERVER, OPTIONS);
    // What mongorestore would stage:
    for (const [name, collection] of liveAndStaged().collections) db.collections.set(name, collection);
    await plan.commit?.();
    expect(db.contents()).toEqual({
      big_orders: 'view on orders',
      orders: 'orders then',
      people: 'people then',
      'system.views': 'mongod metadata',
    });
    expect(db.marker).toBeUndefined();
  });

  it('discards: the staged collections go, the live ones stay as they were', async () => {
    const db = new FakeDatabase();
    const plan = await toolWith(db).prepareRestore(local, SERVER, OPTIONS);
    for (const [name, collection] of liveAndStaged().collections) db.collections.set(name, collection);
    await plan.discard?.();
    expect(db.contents()).toEqual({
      after_backup: 'created after the backup',
      orders: 'orders now',
      people: 'people now',
      'system.views': 'mongod metadata',
    });
  });

  it('an abort before the commit changes nothing', async () => {
    const db = new FakeDatabase();
    const plan = await toolWith(db).prepareRestore(local, SERVER, OPTIONS);
    for (const [name, collection] of liveAndStaged().collections) db.collections.set(name, collection);
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(plan.commit?.(controller.signal)).rejects.toThrow();
    expect(db.marker).toBeUndefined();
    expect(db.contents().orders).toBe('orders now');
  });

  it('a commit that died midway is finished by the next run of the same restore, without loading again', async () => {
    const db = new FakeDatabase();
    const first = await toolWith(db).prepareRestore(local, SERVER, OPTIONS);
    for (const [name, collection] of liveAndStaged().collections) db.collections.set(name, collection);
    db.failRenameOf = `${STAGING_PREFIX}people`;
    await expect(first.commit?.()).rejects.toThrow(/connection lost/);
    // Half switched: the marker says what the backup had.
    expect(db.marker?.collections.sort()).toEqual(['big_orders', 'orders', 'people']);
    await first.discard?.(); // a committed restore is not discarded
    expect(db.collections.has(`${STAGING_PREFIX}people`)).toBe(true);

    const again = await toolWith(db).prepareRestore(local, SERVER, OPTIONS);
    expect(again.alreadyLoaded).toBe(true);
    await again.commit?.();
    expect(db.contents()).toEqual({
      big_orders: 'view on orders',
      orders: 'orders then',
      people: 'people then',
      'system.views': 'mongod metadata',
    });
  });

  it('another restore finishes a committed one first, then stages anew', async () => {
    const db = liveAndStaged();
    await db.writeMarker({ restoreId: 'op-0', collections: ['orders', 'people', 'big_orders'] });
    const plan = await toolWith(db).prepareRestore(local, SERVER, { ...OPTIONS, restoreId: 'op-2' });
    expect(plan.alreadyLoaded).toBeUndefined();
    expect(db.contents().orders).toBe('orders then');
    expect(db.marker).toBeUndefined();
  });

  it('a view the loader pointed at a staged collection ends up on the final one', async () => {
    const db = new FakeDatabase();
    db.add(`${STAGING_PREFIX}orders`, 'orders then');
    db.add(`${STAGING_PREFIX}big_orders`, '', 'view', { viewOn: `${STAGING_PREFIX}orders`, pipeline: [] });
    await db.writeMarker({ restoreId: 'op-1', collections: ['orders', 'big_orders'] });
    await rollForward(db);
    expect(db.contents()).toEqual({ big_orders: 'view on orders', orders: 'orders then' });
  });

  it('rolling forward without a marker does nothing', async () => {
    const db = liveAndStaged();
    const before = db.contents();
    await rollForward(db);
    expect(db.contents()).toEqual(before);
  });
});
