import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeJob, JobEnvSchema } from '#shared/jobs/job-process.ts';
import { PostgresLoginTool } from '#shared/jobs/postgresql/login-job.ts';
import { createJobS3Client } from '#shared/jobs/s3-client.ts';
import type { Credentials } from '#shared/schemas/addon.ts';
import { PLATFORM_LOGIN_USER } from '#shared/services/platform-login.ts';
import { startTestPostgres, type TestPostgres } from './postgres-server.ts';

/**
 * The login job's PostgreSQL tool against a real server set up like an RDS instance: the
 * customer's user is `LOGIN CREATEDB CREATEROLE` and owns the database (the master user; the
 * server's superuser stands for rdsadmin and is never used by the job). The job makes the
 * platform's admin role on the published login, then alternates the customer's logins as it.
 */

let server: TestPostgres;
const OWNER = 'shop';
const admin = { username: PLATFORM_LOGIN_USER, password: 'platform-secret-1' };
let published: Credentials;

const canLogIn = async (username: string, password: string): Promise<boolean> => {
  const { host, port, database } = server.connection;
  const client = new pg.Client({ host, port, database, user: username, password });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
};

const as = (username: string, password: string): Credentials => ({
  ...server.connection,
  username,
  password,
});

beforeAll(async () => {
  server = await startTestPostgres({ database: 'shopdb' });
  const root = await server.client('postgres');
  try {
    await root.query(`CREATE ROLE ${OWNER} WITH LOGIN CREATEDB CREATEROLE PASSWORD 'first-password'`);
    await root.query(`ALTER DATABASE shopdb OWNER TO ${OWNER}`);
  } finally {
    await root.end();
  }
  published = as(OWNER, 'first-password');
}, 30_000);
afterAll(async () => {
  await server?.stop();
});

describe('the login job on PostgreSQL (RDS-like master user)', () => {
  const tool = new PostgresLoginTool();

  it('add: makes the platform role on the published login, then lets the second login in; both passwords work', async () => {
    const result = await tool.run({
      action: 'add',
      owner: OWNER,
      published,
      next: as(`${OWNER}_2`, 'second-password'),
      admin,
    });
    expect(result).toEqual({ username: `${OWNER}_2`, adminCreated: true });
    expect(await canLogIn(OWNER, 'first-password')).toBe(true);
    expect(await canLogIn(`${OWNER}_2`, 'second-password')).toBe(true);
    expect(await canLogIn(admin.username, admin.password)).toBe(true);
    // The second login acts as the customer's role: what it creates belongs to the customer.
    const { host, port, database } = server.connection;
    const client = new pg.Client({ host, port, database, user: `${OWNER}_2`, password: 'second-password' });
    await client.connect();
    try {
      await client.query('CREATE TABLE orders (id int)');
      const { rows } = await client.query(
        "SELECT current_user AS who, tableowner FROM pg_tables WHERE tablename = 'orders'",
      );
      expect(rows).toEqual([{ who: OWNER, tableowner: OWNER }]);
    } finally {
      await client.end();
    }
  });

  it('add again (a retried job): idempotent, the platform role already there', async () => {
    const result = await tool.run({
      action: 'add',
      owner: OWNER,
      published,
      next: as(`${OWNER}_2`, 'second-password'),
      admin,
    });
    expect(result).toEqual({ username: `${OWNER}_2`, adminCreated: false });
    expect(await canLogIn(OWNER, 'first-password')).toBe(true);
    expect(await canLogIn(`${OWNER}_2`, 'second-password')).toBe(true);
  });

  it('retain: only the published (new) login works afterwards; the platform role still does', async () => {
    published = as(`${OWNER}_2`, 'second-password');
    await tool.run({ action: 'retain', owner: OWNER, published, admin });
    expect(await canLogIn(OWNER, 'first-password')).toBe(false);
    expect(await canLogIn(`${OWNER}_2`, 'second-password')).toBe(true);
    expect(await canLogIn(admin.username, admin.password)).toBe(true);
  });

  it('the next rotation alternates back to the customer role, then retires the second login', async () => {
    await tool.run({ action: 'add', owner: OWNER, published, next: as(OWNER, 'third-password'), admin });
    expect(await canLogIn(`${OWNER}_2`, 'second-password')).toBe(true);
    expect(await canLogIn(OWNER, 'third-password')).toBe(true);
    published = as(OWNER, 'third-password');
    await tool.run({ action: 'retain', owner: OWNER, published, admin });
    expect(await canLogIn(`${OWNER}_2`, 'second-password')).toBe(false);
    expect(await canLogIn(OWNER, 'third-password')).toBe(true);
  });

  it('a platform role refusing the secret (an interrupted bootstrap) is set again on the published login', async () => {
    const fresh = { username: PLATFORM_LOGIN_USER, password: 'platform-secret-2' };
    const result = await tool.run({ action: 'retain', owner: OWNER, published, admin: fresh });
    expect(result.adminCreated).toBe(true);
    expect(await canLogIn(fresh.username, fresh.password)).toBe(true);
    expect(await canLogIn(admin.username, admin.password)).toBe(false);
  });

  it('refuses staged credentials that name another user than the login beside the published one', async () => {
    await expect(
      tool.run({
        action: 'add',
        owner: OWNER,
        published,
        next: as('intruder', 'x'),
        admin: { ...admin, password: 'platform-secret-2' },
      }),
    ).rejects.toMatchObject({ code: 'StagedLoginMismatch' });
  });
});

describe('the login job process reads every password from Secrets Manager by reference', () => {
  it('add: the published version, the staged AWSPENDING version the spec names, and the platform login', async () => {
    const prefix = 'addons/test/';
    const token = 'a'.repeat(64);
    const name = `${prefix}proj-1/addon-1`;
    const next = as(`${OWNER}_2`, 'fourth-password');
    const secrets = mockClient(SecretsManagerClient);
    const reads: Array<{ SecretId?: string; VersionStage?: string }> = [];
    secrets.on(GetSecretValueCommand).callsFake((input: { SecretId?: string; VersionStage?: string }) => {
      reads.push(input);
      if (input.SecretId === name && input.VersionStage === 'AWSPENDING') {
        return { SecretString: JSON.stringify(next), VersionId: token };
      }
      if (input.SecretId === name) return { SecretString: JSON.stringify(published), VersionId: 'v1' };
      if (input.SecretId === `${name}/platform-login`) {
        return { SecretString: JSON.stringify(as(admin.username, 'platform-secret-2')), VersionId: 'v1' };
      }
      throw Object.assign(new Error('not found'), { name: 'ResourceNotFoundException' });
    });
    const s3 = createJobS3Client(undefined);
    try {
      const result = await executeJob({
        spec: {
          kind: 'login',
          operationId: 'op-1',
          projectId: 'proj-1',
          addonId: 'addon-1',
          engine: 'postgresql',
          action: 'add',
          owner: OWNER,
          stagedToken: token,
        },
        env: JobEnvSchema.parse({ SECRET_NAME_PREFIX: prefix }),
        s3,
        signal: new AbortController().signal,
        log: () => undefined,
      });
      expect(result).toEqual({ username: `${OWNER}_2`, adminCreated: false });
    } finally {
      s3.destroy();
      secrets.restore();
    }
    expect(reads).toEqual(
      expect.arrayContaining([
        { SecretId: name },
        { SecretId: `${name}/platform-login` },
        { SecretId: name, VersionStage: 'AWSPENDING' },
      ]),
    );
    expect(await canLogIn(OWNER, 'third-password')).toBe(true);
    expect(await canLogIn(`${OWNER}_2`, 'fourth-password')).toBe(true);
  });
});

describe('the login job after a physical copy (a restored snapshot, a fork seeded from one)', () => {
  it('makes the platform role on the master user the workflow just reset, and leaves only the published login', async () => {
    const tool = new PostgresLoginTool();
    // The copy's roles are of another time: the platform role and the second login with the
    // passwords they had then. The workflow then gave the master user the published password.
    const root = await server.client('postgres');
    try {
      await root.query(`ALTER ROLE ${PLATFORM_LOGIN_USER} WITH PASSWORD 'platform-secret-of-then'`);
      await root.query(`ALTER ROLE ${OWNER}_2 WITH LOGIN PASSWORD 'second-password-of-then'`);
      await root.query(`ALTER ROLE ${OWNER} WITH PASSWORD 'fifth-password'`);
    } finally {
      await root.end();
    }
    const restored = as(`${OWNER}_2`, 'fifth-password');
    const fresh = { username: PLATFORM_LOGIN_USER, password: 'platform-secret-3' };
    // Without the reset to go by, the published login is not in the copy: nothing can be made.
    await expect(
      tool.run({ action: 'retain', owner: OWNER, published: restored, admin: fresh }),
    ).rejects.toThrow(/Connecting as the published user 'shop_2'/);

    const result = await tool.run({
      action: 'retain',
      owner: OWNER,
      published: restored,
      admin: fresh,
      masterReset: true,
    });
    expect(result).toEqual({ username: `${OWNER}_2`, adminCreated: true });
    expect(await canLogIn(`${OWNER}_2`, 'fifth-password')).toBe(true);
    expect(await canLogIn(`${OWNER}_2`, 'second-password-of-then')).toBe(false);
    expect(await canLogIn(OWNER, 'fifth-password')).toBe(false);
    expect(await canLogIn(fresh.username, fresh.password)).toBe(true);
    expect(await canLogIn(PLATFORM_LOGIN_USER, 'platform-secret-of-then')).toBe(false);
  });
});
