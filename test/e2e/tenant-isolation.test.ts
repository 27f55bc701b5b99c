import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceIdFor } from '#shared/ports/engine-provider.ts';
import { removePlatformData } from '../support/data-dir.ts';
import { client, pollUntil } from '../support/http.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * Two projects, one addon each, on one machine: with its own connection details, a customer
 * tries what a superuser could do (run programs, read the other addon's files, make itself a
 * superuser) and is refused, while normal work in its database goes on. As root (CI), the two
 * engines run as two OS users; in every case the platform's state is 0700/0600.
 */
const PRESET_TOKEN = 'isolation-token-0123456789abcdef';
const asRoot = process.getuid?.() === 0;
let dataDir: string;
let platform: PlatformProcess | undefined;
let api: ReturnType<typeof client>;

interface Tenant {
  projectId: string;
  addonId: string;
  credentials: { host: string; port: number; username: string; password: string; uri: string };
}
let tenantA: Tenant;
let tenantB: Tenant;

const instanceDir = (tenant: Tenant) => join(dataDir, 'engines', resourceIdFor(tenant.addonId));
const dataDirOf = (tenant: Tenant) => join(instanceDir(tenant), 'data');

const connect = async (tenant: Tenant): Promise<pg.Client> => {
  const connection = new pg.Client({
    connectionString: tenant.credentials.uri,
    connectionTimeoutMillis: 5_000,
  });
  connection.on('error', () => undefined);
  await connection.connect();
  return connection;
};

const createAddon = async (projectId: string, name: string): Promise<Tenant> => {
  const created = await api('POST', `/v1/projects/${projectId}/addons`, {
    body: { name, engine: 'postgresql' },
  });
  expect(created.status).toBe(202);
  const operation = await pollUntil(
    () => api('GET', `/v1/projects/${projectId}/operations/${created.body.operation.id}`),
    (response) => ['completed', 'failed'].includes(response.body.status),
    { what: `creation of ${name}`, timeoutMs: 120_000 },
  );
  expect(operation.body).toMatchObject({ status: 'completed', error: null });
  const addonId = created.body.addon.id as string;
  const credentials = await api('GET', `/v1/projects/${projectId}/addons/${addonId}/credentials`);
  return { projectId, addonId, credentials: credentials.body };
};

const postmasterUid = async (tenant: Tenant): Promise<number> => {
  const pid = (await readFile(join(dataDirOf(tenant), 'postmaster.pid'), 'utf8')).split('\n')[0];
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
};

/** Every directory and file under `dir` with its permission bits. */
const modesUnder = async (dir: string): Promise<Array<{ path: string; dir: boolean; mode: number }>> => {
  const found = [{ path: dir, dir: true, mode: (await lstat(dir)).mode & 0o777 }];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const target = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await modesUnder(target)));
    else if (entry.isFile())
      found.push({ path: target, dir: false, mode: (await lstat(target)).mode & 0o777 });
  }
  return found;
};

beforeAll(async () => {
  // State as an older version (or a permissive umask) left it: the start must tighten it.
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-iso-'));
  await chmod(dataDir, 0o755);
  await mkdir(join(dataDir, 'secrets', 'legacy'), { recursive: true, mode: 0o755 });
  await chmod(join(dataDir, 'secrets'), 0o755);
  await writeFile(join(dataDir, 'secrets', 'legacy', 'adn-legacy.json'), '{}', { mode: 0o644 });
  await writeFile(join(dataDir, 'token'), `${PRESET_TOKEN}\n`, { mode: 0o644 });
  await chmod(join(dataDir, 'token'), 0o644);
  platform = await startPlatformProcess({ ADDONS_DATA_DIR: dataDir });
  api = client(platform.url, process.env.ADDONS_TOKEN ?? PRESET_TOKEN);
  tenantA = await createAddon('iso-a', 'tenant-a');
  tenantB = await createAddon('iso-b', 'tenant-b');
}, 240_000);

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await removePlatformData(dataDir);
});

describe('tenant isolation on the local target', () => {
  it('lets a customer work in its database as a role that owns it and is no superuser', async () => {
    const db = await connect(tenantA);
    try {
      await db.query('CREATE TABLE t (line text)');
      await db.query("INSERT INTO t VALUES ('written by the customer')");
      await db.query('CREATE SCHEMA reporting');
      await db.query('CREATE TABLE reporting.daily AS SELECT line FROM t');
      const { rows } = await db.query(
        `SELECT r.rolsuper, r.rolcreaterole, r.rolreplication, r.rolbypassrls,
                pg_get_userbyid(d.datdba) = current_user AS owns_database,
                pg_get_userbyid(n.nspowner) = current_user AS owns_public
           FROM pg_roles r, pg_database d, pg_namespace n
          WHERE r.rolname = current_user AND d.datname = current_database() AND n.nspname = 'public'`,
      );
      expect(rows).toEqual([
        {
          rolsuper: false,
          rolcreaterole: false,
          rolreplication: false,
          rolbypassrls: false,
          owns_database: true,
          owns_public: true,
        },
      ]);
      expect((await db.query('SELECT count(*)::int AS n FROM reporting.daily')).rows).toEqual([{ n: 1 }]);
    } finally {
      await db.end();
    }
  });

  it("refuses programs, server files and another addon's files, and self-promotion, with permission errors", async () => {
    const other = dataDirOf(tenantB);
    const attempts = [
      "COPY t FROM PROGRAM 'id'",
      "COPY (SELECT 1) TO PROGRAM 'id'",
      `SELECT pg_read_file('${other}/PG_VERSION')`,
      `SELECT pg_read_binary_file('${other}/global/pg_control')`,
      `SELECT pg_ls_dir('${other}')`,
      `COPY t FROM '${other}/PG_VERSION'`,
      "COPY t FROM '/etc/passwd'",
      `ALTER ROLE ${tenantA.credentials.username} SUPERUSER`,
      `ALTER ROLE ${tenantA.credentials.username} REPLICATION`,
      "CREATE ROLE intruder LOGIN PASSWORD 'intruder-password'",
      "ALTER ROLE addons_platform PASSWORD 'taken-over'",
      'GRANT pg_execute_server_program TO CURRENT_USER',
    ];
    const db = await connect(tenantA);
    try {
      for (const statement of attempts) {
        await expect(db.query(statement), statement).rejects.toMatchObject({ code: '42501' });
      }
    } finally {
      await db.end();
    }
  });

  it("accepts neither the customer's password for the platform's superuser nor for the other addon", async () => {
    const attempts = [
      { ...tenantA.credentials, user: 'addons_platform' },
      { ...tenantA.credentials, port: tenantB.credentials.port, user: tenantA.credentials.username },
    ];
    for (const attempt of attempts) {
      const db = new pg.Client({
        host: attempt.host,
        port: attempt.port,
        user: attempt.user,
        password: attempt.password,
        database: 'postgres',
        connectionTimeoutMillis: 5_000,
      });
      db.on('error', () => undefined);
      await expect(db.connect()).rejects.toMatchObject({ code: '28P01' });
      await db.end().catch(() => undefined);
    }
  });

  it('runs each engine as its own OS user when root, with 0700 data directories that user owns', async () => {
    const uids = [await postmasterUid(tenantA), await postmasterUid(tenantB)];
    if (asRoot) {
      expect(uids[0]).not.toBe(0);
      expect(uids[1]).not.toBe(0);
      expect(uids[0]).not.toBe(uids[1]);
    } else {
      // Without root there is one OS user for the platform and every engine (see the README).
      expect(uids).toEqual([process.getuid?.(), process.getuid?.()]);
    }
    for (const [index, tenant] of [tenantA, tenantB].entries()) {
      const data = await stat(dataDirOf(tenant));
      expect(data.uid).toBe(uids[index]);
      expect(data.mode & 0o777).toBe(0o700);
      expect((await stat(join(instanceDir(tenant), 'run'))).mode & 0o777).toBe(0o700);
      expect((await stat(join(instanceDir(tenant), 'instance.json'))).mode & 0o777).toBe(0o600);
    }
  });

  it("keeps a snapshot's files with the addon's engine user, 0700", async () => {
    const requested = await api('POST', `/v1/projects/iso-a/addons/${tenantA.addonId}/backups`, {
      body: { type: 'snapshot' },
    });
    expect(requested.status).toBe(202);
    const done = await pollUntil(
      () => api('GET', `/v1/projects/iso-a/operations/${requested.body.operation.id}`),
      (response) => ['completed', 'failed'].includes(response.body.status),
      { what: 'the snapshot', timeoutMs: 120_000 },
    );
    expect(done.body).toMatchObject({ status: 'completed', error: null });
    const snapshots = (await readdir(join(dataDir, 'snapshots'))).filter((name) => !name.startsWith('.'));
    expect(snapshots).toHaveLength(1);
    const backup = await stat(join(dataDir, 'snapshots', snapshots[0] as string, 'backup'));
    expect(backup.uid).toBe(await postmasterUid(tenantA));
    expect(backup.mode & 0o777).toBe(0o700);
    expect((await stat(join(dataDir, 'snapshots'))).mode & 0o777).toBe(asRoot ? 0o711 : 0o700);
  });

  it("keeps the platform's state 0700/0600, tightening what existed before the start", async () => {
    for (const tree of ['dynamodb', 's3', 'secrets']) {
      const entries = await modesUnder(join(dataDir, tree));
      expect(entries.length).toBeGreaterThan(1);
      expect(entries.filter((entry) => entry.mode !== (entry.dir ? 0o700 : 0o600))).toEqual([]);
    }
    expect((await stat(join(dataDir, 'token'))).mode & 0o777).toBe(0o600);
    expect((await stat(dataDir)).mode & 0o777).toBe(asRoot ? 0o711 : 0o700);
    expect((await stat(join(dataDir, 'engines'))).mode & 0o777).toBe(asRoot ? 0o711 : 0o700);
  });

  it("keeps the platform's superuser password out of the API and the customer's secret", async () => {
    const record = JSON.parse(await readFile(join(instanceDir(tenantA), 'instance.json'), 'utf8'));
    const adminPassword = record.admin?.password as string;
    expect(adminPassword).toMatch(/^\S{20,}$/);
    const credentials = await api('GET', `/v1/projects/iso-a/addons/${tenantA.addonId}/credentials`);
    const addon = await api('GET', `/v1/projects/iso-a/addons/${tenantA.addonId}`);
    const secret = await readFile(join(dataDir, 'secrets', 'iso-a', `${tenantA.addonId}.json`), 'utf8');
    for (const text of [JSON.stringify(credentials.body), JSON.stringify(addon.body), secret]) {
      expect(text).not.toContain(adminPassword);
    }
    expect(credentials.body.username).not.toBe('addons_platform');
  });
});
