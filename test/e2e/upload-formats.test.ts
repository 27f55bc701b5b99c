import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { localPlatformForFile } from '../support/local-platform.ts';
import { type MariaDbCredentials, mariadbRows } from '../support/mariadb-cli.ts';
import { operationEnded } from '../support/operations.ts';
import { pgFingerprint, pgQuery } from '../support/pg-fingerprint.ts';

/**
 * Uploads as users make them, with the system's own tools: pg_dump in custom and plain format,
 * compressed by the gzip and zstd command-line tools or not at all, a MySQL dump, a multipart
 * upload (the platform uploads files above 1 MiB in 5 MiB parts here), and files that are
 * corrupted, truncated or of the other engine. The format is detected from the contents and
 * recorded on the import; a bad file leaves the addon's data exactly as it was.
 */
const TOKEN = 'e2e-upload-formats-token-0123456789';
const PROJECT = 'uploads';
const PART = 5 * 1024 ** 2;
const addonPath = (addonId: string) => `/v1/projects/${PROJECT}/addons/${addonId}`;

const api = localPlatformForFile('upload-formats', TOKEN, {
  ADDONS_MULTIPART_THRESHOLD_BYTES: String(1024 ** 2),
  ADDONS_UPLOAD_PART_BYTES: String(PART),
});

const run = (command: string, args: string[], input?: Buffer, env: NodeJS.ProcessEnv = {}): Buffer => {
  const result = spawnSync(command, args, { input, env: { ...process.env, ...env }, maxBuffer: 1024 ** 3 });
  if (result.status !== 0) throw new Error(`${command} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
};
const zstd = (file: Buffer) => run('zstd', ['-q', '-c'], file);

const createAddon = async (name: string, engine: string) => {
  const created = await api('POST', `/v1/projects/${PROJECT}/addons`, { body: { name, engine } });
  expect(created.status).toBe(202);
  const operation = await operationEnded(api, PROJECT, created.body.operation.id);
  expect(operation.status).toBe('completed');
  const addonId = created.body.addon.id as string;
  const credentials = (await api('GET', `${addonPath(addonId)}/credentials`)).body;
  return { addonId, credentials };
};

type Created = { import: { id: string }; uploadUrl?: string; multipart?: { parts: PartUrl[] } };
type PartUrl = { partNumber: number; sizeBytes: number; url: string };

/** Create the import and upload the file: one PUT, or every part, collecting their ETags. */
const upload = async (addonId: string, file: Buffer) => {
  const created = await api('POST', `${addonPath(addonId)}/imports`, {
    body: { kind: 'upload', sizeBytes: file.length },
  });
  expect(created.status).toBe(201);
  const body = created.body as Created;
  if (!body.multipart) {
    expect((await fetch(body.uploadUrl as string, { method: 'PUT', body: file })).status).toBe(200);
    return { id: body.import.id, parts: undefined };
  }
  const parts = [];
  let offset = 0;
  for (const part of body.multipart.parts) {
    const response = await fetch(part.url, {
      method: 'PUT',
      body: file.subarray(offset, offset + part.sizeBytes),
    });
    expect(response.status).toBe(200);
    parts.push({ partNumber: part.partNumber, etag: response.headers.get('etag') as string });
    offset += part.sizeBytes;
  }
  expect(offset).toBe(file.length);
  return { id: body.import.id, parts };
};

const importFile = async (addonId: string, file: Buffer) => {
  const { id, parts } = await upload(addonId, file);
  const started = await api('POST', `${addonPath(addonId)}/imports/${id}/start`, {
    body: parts ? { parts } : {},
  });
  expect(started.status).toBe(202);
  const operation = await operationEnded(api, PROJECT, started.body.operation.id, 240_000);
  const record = (await api('GET', `${addonPath(addonId)}/imports/${id}`)).body;
  return { operation, record, parts };
};

describe('uploads into PostgreSQL, detected by content', () => {
  let source: { addonId: string; credentials: { uri: string } };
  let target: { addonId: string; credentials: { uri: string } };
  let custom: Buffer;
  let plain: Buffer;
  let atDump: Record<string, string>;

  it('dumps addon A with the system pg_dump, custom and plain', async () => {
    source = await createAddon('formats-source', 'postgresql');
    const uri = source.credentials.uri;
    await pgQuery(uri, 'CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)');
    await pgQuery(
      uri,
      "INSERT INTO accounts SELECT g, 'owner ' || g, g * 1.5 FROM generate_series(1, 3000) g",
    );
    await pgQuery(uri, 'CREATE TABLE lines (id serial PRIMARY KEY, body text)');
    // About 12 MB as a plain script: the uncompressed upload below goes in parts.
    await pgQuery(
      uri,
      'INSERT INTO lines (body) SELECT repeat(md5(g::text), 3) FROM generate_series(1, 110000) g',
    );
    atDump = await pgFingerprint(uri);
    custom = run('pg_dump', ['--format=custom', `--dbname=${uri}`]);
    plain = run('pg_dump', ['--format=plain', '--no-owner', '--no-acl', `--dbname=${uri}`]);
    expect(custom.subarray(0, 5).toString()).toBe('PGDMP');
    expect(plain.length).toBeGreaterThan(2 * PART);
  }, 180_000);

  it.each([
    ['custom', 'gzip', () => gzipSync(custom), 'pg-custom'],
    ['custom', 'zstd', () => zstd(custom), 'pg-custom'],
    ['plain', 'gzip', () => gzipSync(plain), 'pg-plain'],
    ['plain', 'zstd', () => zstd(plain), 'pg-plain'],
  ])(
    'imports a %s dump compressed with %s, replacing the addon’s data',
    async (_format, compression, file, contents) => {
      target ??= await createAddon('formats-target', 'postgresql');
      const uri = target.credentials.uri;
      await pgQuery(
        uri,
        'DROP TABLE IF EXISTS mine; CREATE TABLE mine (id int); INSERT INTO mine VALUES (1)',
      );
      const { operation, record } = await importFile(target.addonId, file());
      expect(operation).toMatchObject({ status: 'completed', error: null });
      expect(record).toMatchObject({ status: 'completed', compression, contents });
      expect(await pgFingerprint(uri)).toEqual(atDump);
    },
    300_000,
  );

  it('imports an uncompressed plain dump uploaded in parts (S3 multipart)', async () => {
    const uri = target.credentials.uri;
    await pgQuery(uri, 'CREATE TABLE mine (id int)');
    const { operation, record, parts } = await importFile(target.addonId, plain);
    expect(parts?.length).toBe(Math.ceil(plain.length / PART));
    expect(parts?.length).toBeGreaterThanOrEqual(3);
    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(record).toMatchObject({ status: 'completed', compression: null, contents: 'pg-plain' });
    expect(await pgFingerprint(uri)).toEqual(atDump);
  }, 300_000);

  it('fails a corrupted and a truncated file with a reason, the data untouched', async () => {
    const uri = target.credentials.uri;
    await pgQuery(uri, 'CREATE TABLE mine (id int); INSERT INTO mine VALUES (7)');
    const before = await pgFingerprint(uri);

    // A custom-format archive with a stretch of its middle overwritten.
    const corrupted = Buffer.from(custom);
    corrupted.fill(0x00, Math.floor(corrupted.length / 2), Math.floor(corrupted.length / 2) + 4096);
    const broken = await importFile(target.addonId, zstd(corrupted));
    expect(broken.operation.status).toBe('failed');
    expect(broken.record).toMatchObject({ status: 'failed', contents: 'pg-custom' });
    expect(broken.operation.error.message).toMatch(/rolled back|not changed/);
    expect(await pgFingerprint(uri)).toEqual(before);

    // A gzip file cut in the middle (an interrupted download, say).
    const whole = gzipSync(plain);
    const truncated = await importFile(target.addonId, whole.subarray(0, Math.floor(whole.length / 2)));
    expect(truncated.operation.status).toBe('failed');
    expect(truncated.operation.error.message).toMatch(/gzip|unexpected end/i);
    expect(truncated.operation.error.message).toMatch(/rolled back|not changed/);
    expect(await pgFingerprint(uri)).toEqual(before);
  }, 300_000);

  it('completes a multipart upload the client asked for only with its parts and their ETags', async () => {
    const file = gzipSync(custom);
    const created = await api('POST', `${addonPath(target.addonId)}/imports`, {
      body: { kind: 'upload', sizeBytes: file.length, multipart: true },
    });
    expect(created.status).toBe(201);
    expect(created.body.uploadUrl).toBeUndefined();
    const parts = created.body.multipart.parts as PartUrl[];
    let offset = 0;
    const etags = [];
    for (const part of parts) {
      const response = await fetch(part.url, {
        method: 'PUT',
        body: file.subarray(offset, offset + part.sizeBytes),
      });
      etags.push({ partNumber: part.partNumber, etag: response.headers.get('etag') as string });
      offset += part.sizeBytes;
    }
    const start = `${addonPath(target.addonId)}/imports/${created.body.import.id}/start`;
    const without = await api('POST', start, { body: {} });
    expect(without.status).toBe(409);
    // A part the upload does not have (S3 also refuses wrong ETags; the local emulator does not check them).
    const wrong = await api('POST', start, {
      body: { parts: [...etags, { partNumber: etags.length + 1, etag: '"0000"' }] },
    });
    expect(wrong.status).toBe(422);
    expect(wrong.body.errors.map((issue: { path: string }) => issue.path)).toEqual(['body.parts']);
    const right = await api('POST', start, { body: { parts: etags } });
    expect(right.status).toBe(202);
    const operation = await operationEnded(api, PROJECT, right.body.operation.id, 240_000);
    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(await pgFingerprint(target.credentials.uri)).toEqual(atDump);
  }, 300_000);

  it('refuses up front, naming the upload, a random binary and a MySQL dump', async () => {
    const random = await upload(
      target.addonId,
      Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
    );
    const refused = await api('POST', `${addonPath(target.addonId)}/imports/${random.id}/start`, {
      body: {},
    });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([expect.objectContaining({ path: 'upload' })]);

    const mysqlDump = Buffer.from(
      '-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE `t` (`id` int) ENGINE=InnoDB;\n',
    );
    const wrong = await upload(target.addonId, gzipSync(mysqlDump));
    const other = await api('POST', `${addonPath(target.addonId)}/imports/${wrong.id}/start`, { body: {} });
    expect(other.status).toBe(422);
    expect(other.body.detail).toMatch(/MySQL dump/);
  }, 60_000);
});

describe('uploads into MySQL', () => {
  const checksums = (credentials: MariaDbCredentials) =>
    Object.fromEntries(
      mariadbRows(
        credentials,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
      ).map(([table]) => [table, mariadbRows(credentials, `CHECKSUM TABLE \`${table}\` EXTENDED`)[0]?.[1]]),
    );

  it('imports an uncompressed SQL dump made by the system dump tool', async () => {
    const source = await createAddon('formats-orders', 'mysql');
    const a = source.credentials as MariaDbCredentials;
    mariadbRows(
      a,
      `CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(40), qty INT);
       INSERT INTO orders SELECT seq, CONCAT('item ', seq), seq % 7 FROM seq_1_to_3000;`,
    );
    const atDump = checksums(a);
    const dump = run(
      'mysqldump',
      [
        `--host=${a.host}`,
        `--port=${a.port}`,
        `--user=${a.username}`,
        '--single-transaction',
        '--no-tablespaces',
        a.database,
      ],
      undefined,
      { MYSQL_PWD: a.password },
    );
    const target = await createAddon('formats-orders-copy', 'mysql');
    const b = target.credentials as MariaDbCredentials;
    mariadbRows(b, 'CREATE TABLE stale (id INT); INSERT INTO stale VALUES (1);');
    const { operation, record } = await importFile(target.addonId, dump);
    expect(operation).toMatchObject({ status: 'completed', error: null });
    expect(record).toMatchObject({ status: 'completed', compression: null, contents: 'mysql-sql' });
    expect(checksums(b)).toEqual(atDump);
  }, 300_000);
});
