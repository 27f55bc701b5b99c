import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chownTree } from '#infra/local/engines/os-users.ts';
import { LocalEngineSupervisor } from '#infra/local/engines/supervisor.ts';
import type { InstanceSpec, InstanceState } from '#shared/ports/engine-provider.ts';

/**
 * Instances created before customer roles existed: their bootstrap superuser carried the
 * customer's name and password, and (as root) every engine ran as the shared `postgres` user. The
 * next start migrates them: same connection details, now naming a role without privileges that
 * owns the data, and the instance's own OS user.
 */
const ID = 'addon-01jtestrolesmigration';
const spec: InstanceSpec = {
  resourceId: ID,
  projectId: 'prj-test',
  addonId: 'adn-01jtestrolesmigration',
  engine: 'postgresql',
  version: '15',
  plan: { id: 'nano', vcpu: 2, memoryMiB: 1024, instanceClass: 'db.t4g.micro' },
  storageGiB: 20,
  replicas: 0,
  tls: false,
  publicAccess: false,
  database: 'legacy_db',
  username: 'addonadmin',
  password: 'Pw7legacyabcdefghijkmnopqrstuvwx',
};
/** The uid of `nobody`: stands for the `postgres` user older platforms ran every engine as. */
const OTHER_UID = 65534;

let dataDir: string;
const supervisors: LocalEngineSupervisor[] = [];

const supervisor = (): LocalEngineSupervisor => {
  const created = new LocalEngineSupervisor({ dataDir });
  supervisors.push(created);
  return created;
};

const instanceDir = () => path.join(dataDir, 'engines', ID);
const recordFile = () => path.join(instanceDir(), 'instance.json');

const waitAvailable = async (provider: LocalEngineSupervisor): Promise<number> => {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const state: InstanceState = await provider.describeInstance(ID);
    if (state.status === 'available') return state.endpoint.port;
    if (Date.now() > deadline) throw new Error(`Timed out waiting; last state ${JSON.stringify(state)}`);
    await sleep(25);
  }
};

const run = async (
  port: number,
  login: { user: string; password: string; database: string },
  statements: string[],
): Promise<Array<Array<Record<string, unknown>>>> => {
  const client = new pg.Client({ host: '127.0.0.1', port, ...login, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const results: Array<Array<Record<string, unknown>>> = [];
    for (const statement of statements) results.push((await client.query(statement)).rows);
    return results;
  } finally {
    await client.end();
  }
};

/**
 * Turn a new instance back into what older platforms created: the bootstrap superuser renamed to
 * the customer's name with the customer's password, owning the database and what is in it, and a
 * second superuser the customer made for itself, with the right to run programs.
 */
const makeLegacy = async (port: number): Promise<void> => {
  const record = JSON.parse(await fs.readFile(recordFile(), 'utf8'));
  const admin = { user: record.admin.username, password: record.admin.password };
  const helper = { user: 'tmp_super', password: 'tmp-super-password-123' };
  await run(port, { ...admin, database: 'postgres' }, [
    `CREATE ROLE tmp_super SUPERUSER LOGIN PASSWORD '${helper.password}'`,
  ]);
  await run(port, { ...helper, database: spec.database }, [
    'REASSIGN OWNED BY addonadmin TO addons_platform',
    'DROP OWNED BY addonadmin',
  ]);
  await run(port, { ...helper, database: 'postgres' }, [
    'REASSIGN OWNED BY addonadmin TO addons_platform',
    'DROP OWNED BY addonadmin',
    'DROP ROLE addonadmin',
    'ALTER ROLE addons_platform RENAME TO addonadmin',
    `ALTER ROLE addonadmin PASSWORD '${spec.password}'`,
  ]);
  const customer = { user: spec.username, password: spec.password };
  await run(port, { ...customer, database: spec.database }, [
    'CREATE TABLE legacy_orders (id serial PRIMARY KEY, item text NOT NULL)',
    "INSERT INTO legacy_orders (item) VALUES ('tea'), ('coffee')",
    'CREATE VIEW legacy_items AS SELECT item FROM legacy_orders',
    'CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql AS $$SELECT count(*) FROM legacy_orders$$',
    "CREATE ROLE backdoor SUPERUSER LOGIN PASSWORD 'backdoor-password'",
    'GRANT pg_execute_server_program TO backdoor',
  ]);
  await run(port, { ...customer, database: 'postgres' }, ['DROP ROLE tmp_super']);
  delete record.admin;
  await fs.writeFile(recordFile(), JSON.stringify(record));
};

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-roles-'));
});

afterAll(async () => {
  const last = supervisors.at(-1);
  await last?.deleteInstance(ID).catch(() => undefined);
  for (const each of supervisors) await each.stopAll();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('migrating local PostgreSQL instances created before customer roles', { timeout: 90_000 }, () => {
  it('keeps the credentials and the data, which the customer now owns without any privilege beyond them', async () => {
    // Prepare
    const first = supervisor();
    await first.createInstance(spec);
    const port = await waitAvailable(first);
    await makeLegacy(port);
    const before = await run(port, { user: spec.username, password: spec.password, database: 'postgres' }, [
      'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
    ]);
    expect(before).toEqual([[{ rolsuper: true }]]);
    await first.stopAll();
    if (process.getuid?.() === 0)
      await chownTree(path.join(instanceDir(), 'data'), { uid: OTHER_UID, gid: OTHER_UID });

    // Act
    const second = supervisor();
    await second.resume([ID]);
    await waitAvailable(second);
    await second.stopAll();
    const third = supervisor();
    await third.resume([ID]); // a second start finds nothing left to migrate
    await waitAvailable(third);

    // Assess
    const customer = { user: spec.username, password: spec.password, database: spec.database };
    const after = await run(port, customer, [
      'SELECT rolsuper, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = current_user',
      "INSERT INTO legacy_orders (item) VALUES ('juice') RETURNING id",
      'SELECT order_count() + (SELECT count(*) FROM legacy_items) AS n',
      `SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()`,
      `SELECT rolsuper, pg_has_role('backdoor', 'pg_execute_server_program', 'MEMBER') AS runs_programs
         FROM pg_roles WHERE rolname = 'backdoor'`,
    ]);
    expect(after).toEqual([
      [{ rolsuper: false, rolcreaterole: false, rolreplication: false, rolbypassrls: false }],
      [{ id: 3 }],
      [{ n: '6' }],
      [{ owner: spec.username }],
      [{ rolsuper: false, runs_programs: false }],
    ]);
    await expect(run(port, customer, ["COPY legacy_orders (item) FROM PROGRAM 'id'"])).rejects.toMatchObject({
      code: '42501',
    });

    const record = JSON.parse(await fs.readFile(recordFile(), 'utf8'));
    expect(record.admin).toMatchObject({ username: 'addons_platform', password: expect.any(String) });
    expect(record.admin.password).not.toBe(spec.password);
    const platform = await run(
      port,
      { user: 'addons_platform', password: record.admin.password, database: 'postgres' },
      ['SELECT rolsuper FROM pg_roles WHERE rolname = current_user'],
    );
    expect(platform).toEqual([[{ rolsuper: true }]]);
    const data = await fs.stat(path.join(instanceDir(), 'data'));
    expect(data.mode & 0o777).toBe(0o700);
    if (process.getuid?.() === 0) expect([0, OTHER_UID]).not.toContain(data.uid);
  });
});
