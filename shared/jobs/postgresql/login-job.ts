import pg from 'pg';
import { addLoginSql, ident, literal, retainOnlyLoginSql } from '../../engines/postgresql/logins.ts';
import { errorMessage, ProviderError, TransientError } from '../../errors.ts';
import type { Credentials } from '../../schemas/addon.ts';
import { JOB_APPLICATION_NAMES } from '../application-names.ts';
import type { LoginJobInput, LoginTool } from '../login-job.ts';
import { pgSsl } from './postgres.ts';

/**
 * The login job on RDS for PostgreSQL: the alternating-user SQL of shared/engines/postgresql/
 * logins.ts, run as the platform's own admin role of the instance.
 *
 * RDS has no superuser; its master user (the addon's customer user) is `LOGIN CREATEDB
 * CREATEROLE` and a member of `rds_superuser`, which may create roles and grant rds_superuser.
 * The platform's admin role is made once, by the first login job of the instance, on the
 * published login (which works: that is the rotation's invariant; the second login acts as the
 * master user, `SET role`): `LOGIN CREATEROLE`, a member of rds_superuser, with ADMIN OPTION on
 * the customer's role (PostgreSQL 16 and later want it to change that role's password and grant
 * it to the second login). Only rdsadmin may name SUPERUSER, REPLICATION or BYPASSRLS in an ALTER
 * ROLE, even to deny them: the statements name only what the admin role may set. Its password is the platform's admin secret's, which no API answers.
 * Later jobs connect as it directly; a job that finds it refusing the password (an earlier
 * bootstrap interrupted after the secret was written) sets it again the same way. The customer's
 * role keeps its RDS attributes (`LOGIN` is all the rotation asserts).
 */

const OPTIONS = { ownerAttributes: 'LOGIN', alternateAttributes: 'LOGIN NOCREATEDB NOCREATEROLE' };
const ADMIN_ATTRIBUTES = 'LOGIN CREATEROLE';
/** RDS's role for its master user's powers; absent on a plain server (the job's tests). */
const RDS_SUPERUSER = 'rds_superuser';
/** Password refused, role missing: the admin role is not (yet) what the secret says. */
const AUTH_FAILED = new Set(['28P01', '28000']);
const TRANSIENT_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
const TRANSIENT_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN']);

const codeOf = (error: unknown): string | undefined => (error as { code?: string }).code;

const connect = async (endpoint: Credentials, login: { username: string; password: string }) => {
  const client = new pg.Client({
    host: endpoint.host,
    port: endpoint.port,
    database: endpoint.database,
    user: login.username,
    password: login.password,
    ssl: pgSsl(endpoint),
    application_name: JOB_APPLICATION_NAMES.login,
    connectionTimeoutMillis: 15_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
};

const failure = (error: unknown, doing: string): Error => {
  const code = codeOf(error);
  const message = `${doing}: ${errorMessage(error)}`;
  if (code && (TRANSIENT_STATES.has(code) || TRANSIENT_ERRNOS.has(code))) {
    return new TransientError(message, { cause: error });
  }
  return new ProviderError(message, 'LoginJobFailed', { cause: error });
};

/**
 * The platform's admin role as the admin secret says, made on the published login, or after a
 * physical copy on the master user, which the workflow has just given the published password.
 * Idempotent.
 */
const settleAdmin = async (input: LoginJobInput): Promise<void> => {
  const { published, admin, owner } = input;
  const login = input.masterReset ? { username: owner, password: published.password } : published;
  const client = await connect(published, login).catch((error: unknown) => {
    throw failure(
      error,
      `Connecting as the ${input.masterReset ? 'master' : 'published'} user '${login.username}' to create the platform's role`,
    );
  });
  try {
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [admin.username]);
    const verb = exists.rowCount ? 'ALTER' : 'CREATE';
    await client.query(
      `${verb} ROLE ${ident(admin.username)} WITH ${ADMIN_ATTRIBUTES} PASSWORD ${literal(admin.password)}`,
    );
    const rds = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [RDS_SUPERUSER]);
    if (rds.rowCount) await client.query(`GRANT ${ident(RDS_SUPERUSER)} TO ${ident(admin.username)}`);
    await client.query(`GRANT ${ident(owner)} TO ${ident(admin.username)} WITH ADMIN OPTION`);
  } catch (error) {
    throw failure(error, `Creating the platform's role '${admin.username}'`);
  } finally {
    await client.end().catch(() => undefined);
  }
};

export class PostgresLoginTool implements LoginTool {
  async run(input: LoginJobInput): Promise<{ username: string; adminCreated: boolean }> {
    const { published, admin, owner } = input;
    let adminCreated = false;
    let client: pg.Client;
    try {
      client = await connect(published, admin);
    } catch (error) {
      if (!AUTH_FAILED.has(codeOf(error) ?? '')) {
        throw failure(error, `Connecting as the platform's role '${admin.username}'`);
      }
      await settleAdmin(input);
      adminCreated = true;
      client = await connect(published, admin).catch((again: unknown) => {
        throw failure(again, `Connecting as the platform's role '${admin.username}'`);
      });
    }
    try {
      if (input.action === 'retain') {
        await retainOnlyLoginSql(client, owner, published, OPTIONS);
        return { username: published.username, adminCreated };
      }
      const next = input.next;
      if (!next) throw new ProviderError('No staged credentials to let in', 'NoStagedCredentials');
      const username = await addLoginSql(client, owner, published.username, next.password, OPTIONS);
      if (username !== next.username) {
        throw new ProviderError(
          `The staged credentials name '${next.username}', but the login beside '${published.username}' is '${username}'`,
          'StagedLoginMismatch',
        );
      }
      return { username, adminCreated };
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      throw failure(error, input.action === 'add' ? 'Letting the new login in' : 'Retiring the other login');
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
