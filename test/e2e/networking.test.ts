import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { localPlatformForFile } from '../support/local-platform.ts';
import { backUpAndWait, operationEnded } from '../support/operations.ts';

/**
 * Networking of a local PostgreSQL addon through the API, with real clients: TLS required or
 * off (psql's sslmode=require; node-postgres verifying the server with the CA from the connection
 * details), public from an allow list (a client socket bound to 127.0.0.2 is admitted by
 * 127.0.0.2/32, one bound to 127.0.0.3 is refused), and private again (both refused).
 */
const TOKEN = 'e2e-networking-token-0123456789';
const PROJECT = 'networking';
const api = localPlatformForFile('networking', TOKEN);
const addonPath = (addonId: string) => `/v1/projects/${PROJECT}/addons/${addonId}`;

interface Credentials {
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
  uri: string;
  tls: boolean;
  caCertificate?: string;
  public?: { host: string; port: number; uri: string };
}

/** One query over node-postgres from `localAddress`; `ssl`: verify the server with `ca` (verify-ca), or plain. */
const query = async (
  credentials: Credentials,
  options: { localAddress?: string; ca?: string | false } = {},
): Promise<unknown> => {
  const { host, port, username: user, password, database } = credentials;
  const client = new pg.Client({
    host,
    port,
    user,
    password,
    database,
    connectionTimeoutMillis: 5_000,
    ...(options.ca
      ? { ssl: { ca: options.ca, rejectUnauthorized: true, checkServerIdentity: () => undefined } }
      : { ssl: false }),
    ...(options.localAddress
      ? {
          stream: () => {
            const socket = new net.Socket();
            const connect = socket.connect.bind(socket);
            // pg calls connect(port, host): bind the client's end to the chosen loopback address.
            socket.connect = ((p: number, h: string) =>
              connect({ port: p, host: h, localAddress: options.localAddress })) as never;
            return socket;
          },
        }
      : {}),
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query('SELECT 1 AS ok')).rows[0];
  } finally {
    await client.end().catch(() => undefined);
  }
};

const psql = (uri: string) =>
  spawnSync('psql', [uri, '-tAc', 'SELECT 1'], {
    encoding: 'utf8',
    env: { ...process.env, PGCONNECT_TIMEOUT: '5' },
  });

const patch = (addonId: string, body: unknown) => api('PATCH', addonPath(addonId), { body });
const credentialsOf = async (addonId: string): Promise<Credentials> => {
  const response = await api('GET', `${addonPath(addonId)}/credentials`);
  expect(response.status).toBe(200);
  return response.body;
};
const changed = async (addonId: string, networking: Record<string, unknown>) => {
  const response = await patch(addonId, { networking });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  expect(response.body.operation).toMatchObject({ type: 'update-networking', status: 'completed' });
  return response.body.addon;
};

describe('networking of a local PostgreSQL addon', () => {
  let addonId: string;

  it('creates an addon with TLS required: sslmode=require connects, plain is refused, the CA verifies the server', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'net-pg', engine: 'postgresql', tls: true },
    });
    expect(created.status).toBe(202);
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    addonId = created.body.addon.id;
    const credentials = await credentialsOf(addonId);
    expect(credentials).toMatchObject({ tls: true });
    expect(credentials.uri).toContain('sslmode=require');
    expect(credentials.caCertificate).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(credentials.public).toBeUndefined();
    expect(psql(credentials.uri).stdout.trim()).toBe('1');
    await expect(query(credentials, { ca: credentials.caCertificate })).resolves.toEqual({ ok: 1 });
    await expect(query(credentials)).rejects.toThrow(/no encryption|pg_hba/);
    // Another CA does not verify it.
    const other = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        '/dev/null',
        '-subj',
        '/CN=other',
        '-days',
        '1',
      ],
      { encoding: 'utf8' },
    ).stdout;
    await expect(query(credentials, { ca: other })).rejects.toThrow(/certificate/);
  });

  it.each([
    [
      'public without TLS',
      { networking: { tls: false, public: true, allow: ['127.0.0.2/32'] } },
      422,
      'body.networking.tls',
    ],
    ['an empty allow list', { networking: { public: true, allow: [] } }, 400, 'body.networking.allow'],
    [
      'a prefix longer than 32',
      { networking: { public: true, allow: ['10.0.0.0/33'] } },
      400,
      'body.networking.allow.0',
    ],
    [
      'an allow rule that is not a CIDR',
      { networking: { public: true, allow: ['abc'] } },
      400,
      'body.networking.allow.0',
    ],
    [
      'a CIDR with host bits',
      { networking: { public: true, allow: ['10.0.0.1/24'] } },
      400,
      'body.networking.allow.0',
    ],
    ['public without an allow list', { networking: { public: true } }, 422, 'body.networking.allow'],
    ['a field the PATCH does not take yet', { networking: { tls: true }, plan: 'small' }, 400, 'body.plan'],
    ['an unknown networking field', { networking: { tls: true, ports: [1] } }, 400, 'body.networking.ports'],
  ])('refuses %s with a problem naming the field', async (_case, body, status, path) => {
    const response = await patch(addonId, body);
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(response.body.errors.map((error: { path: string }) => error.path)).toContain(path);
  });

  it('makes it public from 127.0.0.2/32: that source connects, 127.0.0.3 is refused', async () => {
    const addon = await changed(addonId, { public: true, allow: ['127.0.0.2/32'] });
    expect(addon).toMatchObject({ tls: true, publicAccess: true, allowedCidrs: ['127.0.0.2/32'] });
    const credentials = await credentialsOf(addonId);
    expect(credentials.public).toMatchObject({ port: credentials.port });
    expect(credentials.public?.uri).toContain('sslmode=require');
    const ca = credentials.caCertificate;
    await expect(query(credentials, { ca, localAddress: '127.0.0.2' })).resolves.toEqual({ ok: 1 });
    await expect(query(credentials, { ca, localAddress: '127.0.0.3' })).rejects.toThrow(/pg_hba|rejects/);
    // The private details still work.
    await expect(query(credentials, { ca })).resolves.toEqual({ ok: 1 });
  });

  it('makes it private again: both other loopback sources are refused, 127.0.0.1 still connects', async () => {
    const addon = await changed(addonId, { public: false });
    expect(addon).toMatchObject({ publicAccess: false, allowedCidrs: ['127.0.0.2/32'] });
    const credentials = await credentialsOf(addonId);
    expect(credentials.public).toBeUndefined();
    const ca = credentials.caCertificate;
    for (const localAddress of ['127.0.0.2', '127.0.0.3']) {
      await expect(query(credentials, { ca, localAddress })).rejects.toThrow(/pg_hba|rejects/);
    }
    await expect(query(credentials, { ca })).resolves.toEqual({ ok: 1 });
  });

  it('turns TLS off: plain connects, sslmode=require is refused', async () => {
    const addon = await changed(addonId, { tls: false });
    expect(addon).toMatchObject({ tls: false });
    const credentials = await credentialsOf(addonId);
    expect(credentials.uri).not.toContain('sslmode');
    await expect(query(credentials)).resolves.toEqual({ ok: 1 });
    const required = psql(`${credentials.uri}?sslmode=require`);
    expect(required.status).not.toBe(0);
    expect(required.stderr).toMatch(/does not support SSL/);
  });
});

/** One query over mysql2 from `localAddress`; `ca`: TLS verifying the server with it, else plain. */
const mysqlQuery = async (
  credentials: Credentials,
  options: { localAddress?: string; ca?: string; password?: string; username?: string; sql?: string[] } = {},
): Promise<unknown> => {
  const connection = await mysql.createConnection({
    host: credentials.host,
    port: credentials.port,
    user: options.username ?? credentials.username,
    password: options.password ?? credentials.password,
    database: credentials.database,
    connectTimeout: 5_000,
    // mysql2 has no option for the client's address: its own socket, bound to it.
    ...(options.localAddress
      ? {
          stream: () =>
            net.connect({
              host: credentials.host,
              port: credentials.port,
              localAddress: options.localAddress,
            }),
        }
      : {}),
    ...(options.ca ? { ssl: { ca: options.ca, rejectUnauthorized: true } } : {}),
  });
  try {
    for (const statement of options.sql ?? []) await connection.query(statement);
    const [rows] = await connection.query('SELECT CURRENT_USER() AS account');
    return (rows as Array<{ account: string }>)[0]?.account;
  } finally {
    await connection.end().catch(() => connection.destroy());
  }
};

/** The `mariadb` client over TLS, verifying the server with the CA file. */
const mariadbTls = (credentials: Credentials, caFile: string) =>
  spawnSync(
    'mariadb',
    [
      `--host=${credentials.host}`,
      `--port=${credentials.port}`,
      `--user=${credentials.username}`,
      `--database=${credentials.database}`,
      `--ssl-ca=${caFile}`,
      '--ssl-verify-server-cert',
      '--batch',
      '--skip-column-names',
      '--connect-timeout=5',
      '-e',
      "SHOW STATUS LIKE 'Ssl_version'",
    ],
    { encoding: 'utf8', env: { ...process.env, MYSQL_PWD: credentials.password } },
  );

/**
 * The same through a local MySQL (MariaDB) addon: require_secure_transport with the platform's
 * CA, and the allow list as one account per allowed source (host grants), which must follow a
 * credential rotation and leave the backup job (TCP from 127.0.0.1, over TLS) working.
 */
describe('networking of a local MySQL addon', () => {
  let addonId: string;
  let caFile: string;

  it('turns TLS on: the mariadb client verifies the server with the CA, a plain connection is refused', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'net-mysql', engine: 'mysql' },
    });
    expect(created.status).toBe(202);
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    addonId = created.body.addon.id;
    expect((await credentialsOf(addonId)).tls).toBe(false);
    await expect(mysqlQuery(await credentialsOf(addonId))).resolves.toMatch(/@127\.0\.0\.1$/);

    const addon = await changed(addonId, { tls: true });
    expect(addon).toMatchObject({ tls: true, publicAccess: false });
    const credentials = await credentialsOf(addonId);
    expect(credentials.uri).toContain('ssl-mode=REQUIRED');
    expect(credentials.caCertificate).toMatch(/^-----BEGIN CERTIFICATE-----/);
    caFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'mysql-ca-')), 'ca.pem');
    writeFileSync(caFile, credentials.caCertificate as string);
    const cli = mariadbTls(credentials, caFile);
    expect(cli.stderr).toBe('');
    expect(cli.stdout).toMatch(/^Ssl_version\tTLSv1\.[23]/);
    await expect(mysqlQuery(credentials, { ca: credentials.caCertificate })).resolves.toMatch(
      /@127\.0\.0\.1$/,
    );
    await expect(mysqlQuery(credentials)).rejects.toThrow(/insecure transport|Access denied|secure/i);
  });

  it('makes it public from 127.0.0.2/32: that source connects, 127.0.0.3 is refused, a dump of what it made restores', async () => {
    const addon = await changed(addonId, { public: true, allow: ['127.0.0.2/32'] });
    expect(addon).toMatchObject({ publicAccess: true, allowedCidrs: ['127.0.0.2/32'] });
    const credentials = await credentialsOf(addonId);
    expect(credentials.public).toMatchObject({ port: credentials.port });
    const ca = credentials.caCertificate;
    await expect(mysqlQuery(credentials, { ca, localAddress: '127.0.0.2' })).resolves.toMatch(
      /@127\.0\.0\.2$/,
    );
    await expect(mysqlQuery(credentials, { ca, localAddress: '127.0.0.3' })).rejects.toThrow(
      /not allowed|locked|denied/i,
    );
    // A view made from the public source names that account as its DEFINER: the dump restores it.
    await mysqlQuery(credentials, {
      ca,
      localAddress: '127.0.0.2',
      sql: [
        'CREATE TABLE items (id int PRIMARY KEY)',
        'INSERT INTO items VALUES (1), (2)',
        'CREATE VIEW item_count AS SELECT count(*) AS n FROM items',
      ],
    });
    const { backupId, operation } = await backUpAndWait(api, PROJECT, addonPath(addonId), { type: 'dump' });
    expect(operation, JSON.stringify(operation)).toMatchObject({ status: 'completed' });
    const restore = await api('POST', `${addonPath(addonId)}/backups/${backupId}/restore`);
    expect(restore.status, JSON.stringify(restore.body)).toBe(202);
    const restored = await operationEnded(api, PROJECT, restore.body.operation.id);
    expect(restored, JSON.stringify(restored.error)).toMatchObject({ status: 'completed' });
    const connection = await mysql.createConnection({
      host: credentials.host,
      port: credentials.port,
      user: credentials.username,
      password: credentials.password,
      database: credentials.database,
      ssl: { ca, rejectUnauthorized: true },
    });
    try {
      const [rows] = await connection.query('SELECT n FROM item_count');
      expect(rows).toEqual([{ n: 2 }]);
    } finally {
      await connection.end();
    }
  });

  it('rotates the credentials while public: the new login works from the allowed source, the old one only until finished', async () => {
    const before = await credentialsOf(addonId);
    const rotated = await api('POST', `${addonPath(addonId)}/credentials/rotate`, { body: {} });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    const after = await credentialsOf(addonId);
    expect(after.username).not.toBe(before.username);
    const ca = after.caCertificate;
    await expect(mysqlQuery(after, { ca, localAddress: '127.0.0.2' })).resolves.toMatch(/@127\.0\.0\.2$/);
    await expect(mysqlQuery(before, { ca, localAddress: '127.0.0.2' })).resolves.toMatch(/@127\.0\.0\.2$/);
    await expect(mysqlQuery(after, { ca, localAddress: '127.0.0.3' })).rejects.toThrow(
      /not allowed|locked|denied/i,
    );
    const finished = await api('POST', `${addonPath(addonId)}/credentials/rotate/finish`);
    expect(finished.status, JSON.stringify(finished.body)).toBe(200);
    await expect(mysqlQuery(before, { ca, localAddress: '127.0.0.2' })).rejects.toThrow(
      /not allowed|locked|denied/i,
    );
    await expect(mysqlQuery(after, { ca, localAddress: '127.0.0.2' })).resolves.toMatch(/@127\.0\.0\.2$/);
  });

  it('makes it private again: 127.0.0.2 is refused, 127.0.0.1 still connects', async () => {
    await changed(addonId, { public: false });
    const credentials = await credentialsOf(addonId);
    expect(credentials.public).toBeUndefined();
    const ca = credentials.caCertificate;
    await expect(mysqlQuery(credentials, { ca, localAddress: '127.0.0.2' })).rejects.toThrow(
      /not allowed|locked|denied/i,
    );
    await expect(mysqlQuery(credentials, { ca })).resolves.toMatch(/@127\.0\.0\.1$/);
  });
});

/** `redis-cli` PING with the connection details' URI; with `caFile`, over TLS verified with it. */
const redisPing = (uri: string, caFile?: string) =>
  spawnSync(
    'redis-cli',
    [...(caFile ? ['--tls', '--cacert', caFile] : []), '-u', uri, '--no-auth-warning', 'PING'],
    {
      encoding: 'utf8',
      timeout: 10_000,
    },
  );

/**
 * A local Redis addon: its port speaks TLS only while TLS is required (redis-cli --tls verifying
 * the server with the CA), plain again once off; public access is refused (no per-source rules).
 */
describe('networking of a local Redis addon', () => {
  let addonId: string;

  it('creates it with TLS required: redis-cli --tls with the CA answers, a plain client does not', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'net-redis', engine: 'redis', tls: true },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const operation = await operationEnded(api, PROJECT, created.body.operation.id);
    expect(operation, JSON.stringify(operation.error)).toMatchObject({ status: 'completed' });
    addonId = created.body.addon.id;
    const credentials = await credentialsOf(addonId);
    expect(credentials.uri).toMatch(/^rediss:\/\//);
    const caFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'redis-ca-')), 'ca.pem');
    writeFileSync(caFile, credentials.caCertificate as string);
    expect(redisPing(credentials.uri, caFile).stdout.trim()).toBe('PONG');
    const plain = redisPing(credentials.uri.replace(/^rediss:/, 'redis:'));
    expect(plain.stdout.trim()).not.toBe('PONG');
  });

  it('refuses public access with a problem naming the field', async () => {
    const response = await patch(addonId, { networking: { public: true, allow: ['127.0.0.2/32'] } });
    expect(response.status).toBe(422);
    expect(response.body.errors.map((error: { path: string }) => error.path)).toContain(
      'body.networking.public',
    );
  });

  it('turns TLS off: a plain redis-cli answers', async () => {
    const addon = await changed(addonId, { tls: false });
    expect(addon).toMatchObject({ tls: false });
    const credentials = await credentialsOf(addonId);
    expect(credentials.uri).toMatch(/^redis:\/\//);
    expect(redisPing(credentials.uri).stdout.trim()).toBe('PONG');
  });
});
