import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isListening, pollUntil } from '../support/http.ts';
import { localPlatformForFile } from '../support/local-platform.ts';
import { type MariaDbCredentials, mariadbRows } from '../support/mariadb-cli.ts';
import { backUpAndWait, operationEnded } from '../support/operations.ts';
import { pgFingerprint, pgQuery } from '../support/pg-fingerprint.ts';

/**
 * Imports as a user does them over HTTP: create an import, PUT the file to the presigned URL
 * with fetch, start it, wait for the operation, and find the file's data in the addon. The files
 * are real: a dump backup's download from another PostgreSQL addon, an RDB file saved by a
 * scratch redis-server (the addon's ACL user may not SYNC, so `redis-cli --rdb` cannot read it).
 */
const TOKEN = 'e2e-imports-token-0123456789';
const PROJECT = 'imports';
const addonPath = (addonId: string) => `/v1/projects/${PROJECT}/addons/${addonId}`;

const api = localPlatformForFile('imports', TOKEN);

const createAddon = async (name: string, engine: string) => {
  const created = await api('POST', `/v1/projects/${PROJECT}/addons`, { body: { name, engine } });
  expect(created.status).toBe(202);
  const operation = await operationEnded(api, PROJECT, created.body.operation.id);
  expect(operation.status).toBe('completed');
  const addonId = created.body.addon.id as string;
  const credentials = (await api('GET', `${addonPath(addonId)}/credentials`)).body;
  return { addonId, credentials };
};

/** Create an import of `file` into the addon and upload it to the presigned URL; returns the import. */
const upload = async (addonId: string, file: Buffer, extra: Record<string, unknown> = {}) => {
  const created = await api('POST', `${addonPath(addonId)}/imports`, {
    body: { kind: 'upload', sizeBytes: file.length, ...extra },
  });
  expect(created.status).toBe(201);
  expect(created.body.import).toMatchObject({ status: 'awaiting-upload', sizeBytes: file.length });
  expect(created.body.uploadHeaders).toEqual({ 'content-length': String(file.length) });
  const put = await fetch(created.body.uploadUrl, { method: 'PUT', body: file });
  expect(put.status).toBe(200);
  return created.body.import as { id: string };
};

/** Start the import and wait for its operation; returns the ended operation. */
const startAndWait = async (addonId: string, importId: string, body: Record<string, unknown> = {}) => {
  const started = await api('POST', `${addonPath(addonId)}/imports/${importId}/start`, { body });
  expect(started.status).toBe(202);
  expect(started.body.import.status).toBe('importing');
  expect(started.body.operation).toMatchObject({ type: 'restore', importId });
  const operation = await operationEnded(api, PROJECT, started.body.operation.id);
  expect((await api('GET', addonPath(addonId))).body).toMatchObject({
    status: 'running',
    currentOperationId: null,
  });
  return operation;
};

describe('imports into PostgreSQL addons', () => {
  const sql = pgQuery;
  const fingerprint = pgFingerprint;

  let source: { addonId: string; credentials: { uri: string } };
  let target: { addonId: string; credentials: { uri: string } };
  let dumpFile: Buffer;
  let atDump: Record<string, string>;

  it('downloads a dump backup of addon A', async () => {
    source = await createAddon('import-source', 'postgresql');
    const uri = source.credentials.uri;
    await sql(uri, 'CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)');
    await sql(uri, "INSERT INTO accounts SELECT g, 'owner ' || g, g * 1.5 FROM generate_series(1, 3000) g");
    await sql(uri, 'CREATE TABLE notes (id serial PRIMARY KEY, body text)');
    await sql(uri, "INSERT INTO notes (body) SELECT repeat('n', g % 40) FROM generate_series(1, 2000) g");
    atDump = await fingerprint(uri);
    const { backupId, operation } = await backUpAndWait(api, PROJECT, addonPath(source.addonId), {
      type: 'dump',
      compression: 'zstd',
    });
    expect(operation.error).toBeNull();
    const link = await api('POST', `${addonPath(source.addonId)}/backups/${backupId}/download`);
    expect(link.status).toBe(200);
    dumpFile = Buffer.from(await (await fetch(link.body.url)).arrayBuffer());
    expect(createHash('sha256').update(dumpFile).digest('hex')).toBe(link.body.sha256);
  }, 180_000);

  it('refuses a wrong SHA-256 without changing addon B, and a retry with the right one loads A’s data', async () => {
    target = await createAddon('import-target', 'postgresql');
    const uri = target.credentials.uri;
    await sql(uri, 'CREATE TABLE mine (id int)');
    await sql(uri, 'INSERT INTO mine VALUES (42)');
    const before = await fingerprint(uri);
    const created = await upload(target.addonId, dumpFile);

    const wrong = await startAndWait(target.addonId, created.id, { sha256: 'a'.repeat(64) });
    expect(wrong.status).toBe('failed');
    expect(wrong.error.message).toMatch(/SHA-256/);
    expect(await fingerprint(uri)).toEqual(before);
    const failed = (await api('GET', `${addonPath(target.addonId)}/imports/${created.id}`)).body;
    expect(failed).toMatchObject({
      status: 'failed',
      compression: 'zstd',
      error: wrong.error,
    });

    const sha256 = createHash('sha256').update(dumpFile).digest('hex');
    const right = await startAndWait(target.addonId, created.id, { sha256 });
    expect(right).toMatchObject({ status: 'completed', error: null });
    // The dump replaces the addon's data: A's tables, and B's own table is gone.
    expect(await fingerprint(uri)).toEqual(atDump);
    const listed = (await api('GET', `${addonPath(target.addonId)}/imports`)).body.items;
    expect(listed).toEqual([expect.objectContaining({ id: created.id, status: 'completed', sha256 })]);
    // A completed import cannot run again.
    const again = await api('POST', `${addonPath(target.addonId)}/imports/${created.id}/start`, { body: {} });
    expect(again.status).toBe(409);
  }, 240_000);

  it('refuses, naming the field, a file that is not what the import declared', async () => {
    const binary = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 8, 1, 2]);
    const plain = await upload(target.addonId, binary);
    const start = await api('POST', `${addonPath(target.addonId)}/imports/${plain.id}/start`, { body: {} });
    expect(start.status).toBe(422);
    expect(start.body.errors.map((issue: { path: string }) => issue.path)).toEqual(['upload']);

    const declared = await upload(target.addonId, dumpFile, { compression: 'gzip' });
    const mismatch = await api('POST', `${addonPath(target.addonId)}/imports/${declared.id}/start`, {
      body: {},
    });
    expect(mismatch.status).toBe(422);
    expect(mismatch.body.errors.map((issue: { path: string }) => issue.path)).toEqual(['compression']);

    const nothing = await api('POST', `${addonPath(target.addonId)}/imports`, {
      body: { kind: 'upload', sizeBytes: 10 },
    });
    const early = await api('POST', `${addonPath(target.addonId)}/imports/${nothing.body.import.id}/start`, {
      body: {},
    });
    expect(early.status).toBe(409);
  }, 60_000);
});

describe('imports into Redis addons', () => {
  const cli = (uri: string, ...command: string[]) => {
    const run = spawnSync('redis-cli', ['-u', uri, '--no-auth-warning', ...command], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`redis-cli exited ${run.status}: ${run.stderr}`);
    return run.stdout.trim();
  };
  const keysOf = (uri: string) =>
    Object.fromEntries(
      cli(uri, '--scan')
        .split('\n')
        .filter(Boolean)
        .sort()
        .map((key) => [key, `${cli(uri, 'TYPE', key)}:${cli(uri, 'DUMP', key).length}`]),
    );

  const freePort = () =>
    new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });

  let scratchDir: string;
  let scratch: ChildProcess | undefined;
  let scratchUri: string;
  let rdb: Buffer;

  afterAll(async () => {
    scratch?.kill('SIGKILL');
    if (scratchDir) await rm(scratchDir, { recursive: true, force: true });
  });

  it('saves an RDB file with a scratch redis-server', async () => {
    scratchDir = await mkdtemp(join(tmpdir(), 'addons-e2e-rdb-'));
    const port = await freePort();
    scratch = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', scratchDir, '--save', ''],
      {
        stdio: 'ignore',
      },
    );
    await pollUntil(() => isListening('127.0.0.1', port), Boolean, { what: 'the scratch redis-server' });
    scratchUri = `redis://127.0.0.1:${port}/0`;
    cli(scratchUri, 'SET', 'greeting', 'hello from the file');
    cli(scratchUri, 'RPUSH', 'queue', 'a', 'b', 'c');
    cli(scratchUri, 'HSET', 'user:1', 'name', 'Ada');
    cli(scratchUri, 'ZADD', 'scores', '1', 'one', '2', 'two');
    expect(cli(scratchUri, 'SAVE')).toBe('OK');
    rdb = await readFile(join(scratchDir, 'dump.rdb'));
    expect(rdb.toString('latin1', 0, 5)).toBe('REDIS');
  });

  it('replaces addon B’s keys with the file’s', async () => {
    const target = await createAddon('import-cache', 'redis');
    const uri = target.credentials.uri as string;
    cli(uri, 'SET', 'only-in-b', 'x');
    const created = await upload(target.addonId, rdb);
    const operation = await startAndWait(target.addonId, created.id);
    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(keysOf(uri)).toEqual(keysOf(scratchUri));
    expect(cli(uri, 'GET', 'greeting')).toBe('hello from the file');
    expect(cli(uri, 'LRANGE', 'queue', '0', '-1')).toBe('a\nb\nc');
    // The addon's own user still connects: the restore kept its credentials.
    expect(cli(uri, 'ACL', 'WHOAMI')).toBe(target.credentials.username);
  }, 180_000);

  it('refuses an RDB of a newer format than the server reads, leaving the data as it was', async () => {
    const target = await createAddon('import-newer', 'redis');
    const uri = target.credentials.uri as string;
    cli(uri, 'SET', 'kept', 'yes');
    const newer = Buffer.from(rdb);
    newer.write('0099', 5, 'latin1');
    const created = await upload(target.addonId, newer);
    const operation = await startAndWait(target.addonId, created.id);
    expect(operation.status).toBe('failed');
    expect(operation.error.message).toMatch(/format 99/);
    expect(keysOf(uri)).toEqual({ kept: expect.stringMatching(/^string:/) });

    const junk = await upload(target.addonId, Buffer.from('not an rdb file at all'));
    const refused = await api('POST', `${addonPath(target.addonId)}/imports/${junk.id}/start`, { body: {} });
    expect(refused.status).toBe(422);
    expect(refused.body.errors.map((issue: { path: string }) => issue.path)).toEqual(['upload']);
    const compressed = await api('POST', `${addonPath(target.addonId)}/imports`, {
      body: { kind: 'upload', sizeBytes: 10, compression: 'zstd' },
    });
    expect(compressed.status).toBe(422);
    expect(compressed.body.errors.map((issue: { path: string }) => issue.path)).toEqual(['body.compression']);
  }, 180_000);
});

describe('imports into MySQL addons', () => {
  type Credentials = MariaDbCredentials;
  const mariadb = (credentials: Credentials, statements: string) => mariadbRows(credentials, statements);
  /** CHECKSUM TABLE of every base table. */
  const fingerprint = (credentials: Credentials) => {
    const tables = mariadb(
      credentials,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
    ).map(([name]) => name as string);
    return Object.fromEntries(
      tables.map((table) => [table, mariadb(credentials, `CHECKSUM TABLE \`${table}\` EXTENDED`)[0]?.[1]]),
    );
  };

  it('loads a gzip dump downloaded from addon A into addon B, replacing B’s tables', async () => {
    const source = await createAddon('import-orders', 'mysql');
    const a = source.credentials as Credentials;
    mariadb(
      a,
      `CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(40), qty INT);
       INSERT INTO orders SELECT seq, CONCAT('item ', seq), seq % 7 FROM seq_1_to_2000;`,
    );
    const atDump = fingerprint(a);
    const { backupId, operation } = await backUpAndWait(api, PROJECT, addonPath(source.addonId), {
      type: 'dump',
      compression: 'gzip',
    });
    expect(operation.error).toBeNull();
    const link = await api('POST', `${addonPath(source.addonId)}/backups/${backupId}/download`);
    const file = Buffer.from(await (await fetch(link.body.url)).arrayBuffer());

    const target = await createAddon('import-orders-copy', 'mysql');
    const b = target.credentials as Credentials;
    mariadb(b, 'CREATE TABLE stale (id INT); INSERT INTO stale VALUES (1);');
    const created = await upload(target.addonId, file);
    const done = await startAndWait(target.addonId, created.id, { sha256: link.body.sha256 });
    expect(done).toMatchObject({ status: 'completed', error: null });
    expect(fingerprint(b)).toEqual(atDump);
    expect((await api('GET', `${addonPath(target.addonId)}/imports/${created.id}`)).body).toMatchObject({
      status: 'completed',
      compression: 'gzip',
    });
  }, 300_000);
});
