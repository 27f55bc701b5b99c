import { otherLogin } from '../alternating-logins.ts';

/**
 * Credential rotation on PostgreSQL, where a role has one password: alternating users. The one
 * source of the SQL for both targets: the local driver (infra/local/engines/postgresql/logins.ts,
 * as the instance's superuser) and the AWS login job (shared/jobs/postgresql/login-job.ts, as the
 * platform's own admin role on RDS).
 *
 * The customer's role (`owner`, which owns the database and everything in it) and a second login
 * role `<owner>_2` take turns being the published login. The second role is a member of the
 * customer's and starts every session as it (`ALTER ROLE ... SET role`), so what it creates is
 * owned by the customer's role, exactly as if the customer's role had logged in, and it has the
 * same rights (on RDS: the master user's, rds_superuser included) without any grant of its own.
 * Retiring a login takes its password away (PASSWORD NULL: password authentication can never
 * succeed; the second role also loses LOGIN), so it is never dropped: nothing it did can dangle.
 * Sessions already open stay open.
 */

/** What the statements need of a connection (node-postgres' Client fits). */
export interface SqlSession {
  query(text: string, values?: unknown[]): Promise<{ rowCount: number | null }>;
}

/** A customer login's attributes: LOGIN and nothing more. */
export const CUSTOMER_ATTRIBUTES = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';

export interface LoginSqlOptions {
  /**
   * What the customer's own role is given with its password. Locally CUSTOMER_ATTRIBUTES (the
   * platform made it so); on RDS `LOGIN` alone, so the master user keeps what RDS gave it.
   */
  ownerAttributes: string;
  /**
   * What the second login is given. Locally CUSTOMER_ATTRIBUTES; on RDS, where only rdsadmin may
   * name SUPERUSER, REPLICATION or BYPASSRLS at all (even to deny them, on ALTER), the ones the
   * admin role may set (the others are off by default at CREATE).
   */
  alternateAttributes: string;
}

export const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
export const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;

const roleExists = async (client: SqlSession, name: string): Promise<boolean> =>
  Boolean((await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount);

/** `username` can log in with `password`, as the customer's role (itself, or the second role acting as it). */
const enable = async (
  client: SqlSession,
  owner: string,
  login: { username: string; password: string },
  options: LoginSqlOptions,
): Promise<void> => {
  if (login.username === owner) {
    await client.query(
      `ALTER ROLE ${ident(owner)} WITH ${options.ownerAttributes} PASSWORD ${literal(login.password)}`,
    );
    return;
  }
  const verb = (await roleExists(client, login.username)) ? 'ALTER' : 'CREATE';
  await client.query(
    `${verb} ROLE ${ident(login.username)} WITH ${options.alternateAttributes} INHERIT PASSWORD ${literal(login.password)}`,
  );
  await client.query(`GRANT ${ident(owner)} TO ${ident(login.username)}`);
  await client.query(`ALTER ROLE ${ident(login.username)} SET role = ${literal(owner)}`);
};

/** Let the other login of the pair in with `password`, besides `current`; returns its user. Idempotent. */
export const addLoginSql = async (
  client: SqlSession,
  owner: string,
  current: string,
  password: string,
  options: LoginSqlOptions,
): Promise<string> => {
  const next = otherLogin(owner, current);
  await enable(client, owner, { username: next, password }, options);
  return next;
};

/** `login` works, and is the customer's only way in: the other login of the pair is retired. Idempotent. */
export const retainOnlyLoginSql = async (
  client: SqlSession,
  owner: string,
  login: { username: string; password: string },
  options: LoginSqlOptions,
): Promise<void> => {
  const other = otherLogin(owner, login.username);
  await enable(client, owner, login, options);
  if (other === owner) {
    await client.query(`ALTER ROLE ${ident(owner)} WITH PASSWORD NULL`);
  } else if (await roleExists(client, other)) {
    await client.query(`ALTER ROLE ${ident(other)} WITH NOLOGIN PASSWORD NULL`);
  }
};
