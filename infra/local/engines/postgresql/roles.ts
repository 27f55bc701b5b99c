import type pg from 'pg';
import { CUSTOMER_ATTRIBUTES } from '#shared/engines/postgresql/logins.ts';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import type { InstanceContext, PlatformRole } from '../driver.ts';

/**
 * Who is who in a local PostgreSQL instance:
 *
 * - the platform's role (`addons_platform`): the bootstrap superuser, with a password of its own
 *   that only instance.json (0600, the platform's) holds. Snapshots (pg_basebackup needs a
 *   replication-capable role) and these settlements use it; it is never published.
 * - the customer's role (the username in the connection details): LOGIN and nothing more. It owns
 *   its database and the `public` schema in it, which is all pg_dump and a restore that drops and
 *   recreates schemas need, so the dump and restore jobs run with the customer's credentials.
 *
 * A customer role cannot run programs (`COPY ... FROM PROGRAM`), read server files
 * (`pg_read_file`, `COPY ... FROM '/path'`) or give itself more: those need a superuser or the
 * pg_execute_server_program / pg_read_server_files roles, which nobody but the platform holds.
 */

export const PLATFORM_ROLE = 'addons_platform';
/** A temporary second superuser: the bootstrap superuser cannot rename itself. */
export const MIGRATOR_ROLE = 'addons_migrator';
// The customer's attributes: one definition with the credential rotation's SQL.
export { CUSTOMER_ATTRIBUTES };

/** Predefined roles that reach the server's files and programs. */
const SERVER_ACCESS_ROLES = ['pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files'];
const BOOTSTRAP_SUPERUSER_OID = 10;
/** Objects below this oid come with PostgreSQL (FirstNormalObjectId). */
const FIRST_USER_OID = 16384;
const UNDEFINED_ROLE = '28000'; // invalid_authorization_specification: "role ... does not exist"

/** Opens a connection as `user` to `database`: peer over the instance's socket, or TCP with a password. */
export type Connect = (user: string, database: string) => Promise<pg.Client>;

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;

const closing = async <T>(client: pg.Client, fn: (client: pg.Client) => Promise<T>): Promise<T> => {
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
};

/** First start of a new instance: the customer's role with its password, and its database. Idempotent. */
export const createCustomer = async (
  connect: Connect,
  admin: PlatformRole,
  customer: { username: string; password: string; database: string },
): Promise<void> => {
  await closing(await connect(admin.username, 'postgres'), async (client) => {
    const role = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [customer.username]);
    const verb = role.rowCount === 0 ? 'CREATE' : 'ALTER';
    await client.query(
      `${verb} ROLE ${ident(customer.username)} WITH ${CUSTOMER_ATTRIBUTES} PASSWORD ${literal(customer.password)}`,
    );
    const database = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [customer.database]);
    if (database.rowCount === 0) {
      await client.query(`CREATE DATABASE ${ident(customer.database)} OWNER ${ident(customer.username)}`);
    }
  });
  // pg_database_owner owns `public` in a new database: name the customer, so a restore that drops
  // and recreates `public` recreates it with the customer as its owner.
  await closing(await connect(admin.username, customer.database), (client) =>
    client.query(`ALTER SCHEMA public OWNER TO ${ident(customer.username)}`),
  );
};

/**
 * Make the running server's roles what the platform expects, whatever its data says (a new
 * instance, one created before customer roles existed, a restored snapshot of either): the
 * platform's superuser with its password, the customer's role without any privilege beyond its
 * database, which it owns with everything in it. Idempotent, and safe to repeat after a crash at
 * any point.
 */
export const settleRoles = async (
  connect: Connect,
  admin: PlatformRole,
  customer: { username: string; database: string },
  canMigrate: boolean,
): Promise<void> => {
  let client: pg.Client;
  try {
    client = await connect(admin.username, 'postgres');
  } catch (error) {
    if ((error as { code?: string }).code !== UNDEFINED_ROLE) throw error;
    if (!canMigrate) {
      throw new ProviderError(
        `This instance predates customer roles and must be migrated over its Unix socket, which it has none of ` +
          `(the path is too long): put the platform's data directory at a shorter path (${errorMessage(error)})`,
        'RolesNotSettled',
      );
    }
    await migrateLegacySuperuser(connect, admin, customer.username);
    client = await connect(admin.username, 'postgres');
  }
  await closing(client, async () => {
    await client.query(`DROP ROLE IF EXISTS ${ident(MIGRATOR_ROLE)}`);
    await client.query(
      `ALTER ROLE ${ident(admin.username)} WITH SUPERUSER LOGIN PASSWORD ${literal(admin.password)}`,
    );
    const role = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [customer.username]);
    if (role.rowCount === 0) {
      throw new ProviderError(
        `The role '${customer.username}' does not exist in this instance`,
        'RolesNotSettled',
      );
    }
    await client.query(`ALTER ROLE ${ident(customer.username)} WITH ${CUSTOMER_ATTRIBUTES}`);
    // Roles a customer created while it was a superuser (instances from before customer roles)
    // must not keep a way back to the server's files and programs.
    await client.query(`DO $settle$
DECLARE
  member record;
BEGIN
  FOR member IN SELECT rolname FROM pg_roles
    WHERE oid >= ${FIRST_USER_OID} AND (rolsuper OR rolreplication OR rolbypassrls OR rolcreaterole)
  LOOP
    EXECUTE format('ALTER ROLE %I NOSUPERUSER NOREPLICATION NOBYPASSRLS NOCREATEROLE', member.rolname);
  END LOOP;
  FOR member IN SELECT r.rolname AS granted, m.rolname AS grantee FROM pg_auth_members a
    JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
    WHERE r.rolname IN (${SERVER_ACCESS_ROLES.map(literal).join(', ')}) AND m.oid >= ${FIRST_USER_OID}
  LOOP
    EXECUTE format('REVOKE %I FROM %I', member.granted, member.grantee);
  END LOOP;
END
$settle$`);
    const database = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [customer.database]);
    if (database.rowCount === 0) {
      throw new ProviderError(
        `The database '${customer.database}' does not exist in this instance`,
        'RolesNotSettled',
      );
    }
    await client.query(`ALTER DATABASE ${ident(customer.database)} OWNER TO ${ident(customer.username)}`);
  });
  await closing(await connect(admin.username, customer.database), (inDatabase) =>
    inDatabase.query(reassignToCustomer(customer.username)),
  );
};

/**
 * Objects in the customer's database owned by the bootstrap superuser (everything the customer
 * created before customer roles existed) go to the customer. REASSIGN OWNED cannot do it: it
 * refuses the bootstrap superuser, whose objects have no pg_shdepend entries. One object that
 * cannot change owner is reported as a warning in the server log and does not stop the others.
 */
const reassignToCustomer = (customer: string): string => `DO $reassign$
DECLARE
  target text := ${literal(customer)};
  item record;
  statements text[] := ARRAY[]::text[];
  statement text;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') THEN
    statements := statements || format('ALTER SCHEMA public OWNER TO %I', target);
  END IF;
  FOR item IN SELECT nspname FROM pg_namespace
    WHERE nspowner = ${BOOTSTRAP_SUPERUSER_OID} AND oid >= ${FIRST_USER_OID} AND nspname <> 'public'
  LOOP
    statements := statements || format('ALTER SCHEMA %I OWNER TO %I', item.nspname, target);
  END LOOP;
  -- Sequences owned by a column (serial, identity) follow their table.
  FOR item IN SELECT c.oid::regclass::text AS name, c.relkind FROM pg_class c
    WHERE c.relowner = ${BOOTSTRAP_SUPERUSER_OID} AND c.oid >= ${FIRST_USER_OID}
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
        AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
  LOOP
    statements := statements || format('ALTER %s %s OWNER TO %I',
      CASE item.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
        WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, item.name, target);
  END LOOP;
  FOR item IN SELECT p.oid::regprocedure::text AS name, p.prokind FROM pg_proc p
    WHERE p.proowner = ${BOOTSTRAP_SUPERUSER_OID} AND p.oid >= ${FIRST_USER_OID}
  LOOP
    statements := statements || format('ALTER %s %s OWNER TO %I',
      CASE item.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, item.name, target);
  END LOOP;
  FOR item IN SELECT t.oid::regtype::text AS name, t.typtype FROM pg_type t
    WHERE t.typowner = ${BOOTSTRAP_SUPERUSER_OID} AND t.oid >= ${FIRST_USER_OID} AND t.typtype IN ('c', 'd', 'e', 'r')
      AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
  LOOP
    statements := statements || format('ALTER %s %s OWNER TO %I',
      CASE item.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, item.name, target);
  END LOOP;
  FOR item IN SELECT oid FROM pg_largeobject_metadata WHERE lomowner = ${BOOTSTRAP_SUPERUSER_OID} LOOP
    statements := statements || format('ALTER LARGE OBJECT %s OWNER TO %I', item.oid, target);
  END LOOP;
  FOREACH statement IN ARRAY statements LOOP
    BEGIN
      EXECUTE statement;
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'addons: % failed: %', statement, SQLERRM;
    END;
  END LOOP;
END
$reassign$`;

/**
 * An instance created before customer roles: its bootstrap superuser has the customer's name and
 * password. Rename it to the platform's role (with the platform's password) and create the
 * customer's role under the old name with the old password verifier, so the published connection
 * details keep working and now name a role without privileges. Renaming needs another superuser
 * (a session cannot rename its own user), reached over the socket with peer authentication.
 */
const migrateLegacySuperuser = async (
  connect: Connect,
  admin: PlatformRole,
  legacy: string,
): Promise<void> => {
  await closing(await connect(legacy, 'postgres'), async (client) => {
    const { rows } = await client.query<{ rolsuper: boolean }>(
      'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
    );
    if (!rows[0]?.rolsuper) {
      throw new ProviderError(
        `This instance has neither the platform's role '${admin.username}' nor a superuser '${legacy}' to migrate from`,
        'RolesNotSettled',
      );
    }
    await client.query(`DO $migrate$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${literal(MIGRATOR_ROLE)}) THEN
    CREATE ROLE ${ident(MIGRATOR_ROLE)} WITH SUPERUSER LOGIN;
  END IF;
END
$migrate$`);
  });
  await closing(await connect(MIGRATOR_ROLE, 'postgres'), async (client) => {
    const { rows } = await client.query<{ rolpassword: string | null }>(
      'SELECT rolpassword FROM pg_authid WHERE rolname = $1',
      [legacy],
    );
    const verifier = rows[0]?.rolpassword;
    await client.query('BEGIN');
    await client.query(`ALTER ROLE ${ident(legacy)} RENAME TO ${ident(admin.username)}`);
    await client.query(
      `ALTER ROLE ${ident(admin.username)} WITH SUPERUSER LOGIN PASSWORD ${literal(admin.password)}`,
    );
    // A stored verifier (SCRAM, or md5 salted with this same name) is accepted as the password.
    await client.query(
      `CREATE ROLE ${ident(legacy)} WITH ${CUSTOMER_ATTRIBUTES}${verifier ? ` PASSWORD ${literal(verifier)}` : ''}`,
    );
    await client.query('COMMIT');
    // Sessions opened before the rename are still the superuser's.
    await client.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE usesysid = ${BOOTSTRAP_SUPERUSER_OID} AND pid <> pg_backend_pid()`,
    );
  });
};

/** The roles the platform reaches over the Unix socket with peer authentication (pg_hba.conf). */
export const peerRoles = (ctx: InstanceContext): string[] => [
  ...new Set([ctx.record.admin?.username ?? PLATFORM_ROLE, MIGRATOR_ROLE, ctx.record.username]),
];
