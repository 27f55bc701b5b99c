import { createHash } from 'node:crypto';
import type { Connection } from 'mysql2/promise';
import { RESTORE_RETIRED_DATABASE, RESTORE_STAGING_DATABASE } from '#shared/engines/mysql/index.ts';
import { ProviderError } from '#shared/errors.ts';
import type { InstanceRecord, PlatformRole } from '../driver.ts';
import { REPLICATION_USER } from '../logins.ts';
import { PRIVATE_HOST, syncHosts } from './hosts.ts';
import { DATABASE_CHARSET } from './settings.ts';

/**
 * Who is who in a local MariaDB instance:
 *
 * - the platform's account (`addons_platform@localhost`): every privilege, with a password of its
 *   own that only instance.json (0600, the platform's) holds. `localhost` matches Unix socket
 *   connections only (the server runs with --skip-name-resolve, so TCP clients are 127.0.0.1), and
 *   the socket sits in the instance's `run/` (0700, the engine user's): only root and the engine
 *   user reach it. Snapshots (mariadb-backup) and these settlements use it; it is never published.
 * - the customer's account (`<username>@'127.0.0.1'`, and a copy per allowed source while public:
 *   hosts.ts): every privilege on its own database and on the two databases a dump restore stages
 *   in and retires to (RESTORE_DATABASES), nothing global: no FILE (server files), no SUPER, no
 *   CREATE USER, no GRANT OPTION. The dump and restore jobs run with these credentials.
 *
 * Nothing else: `mariadb-install-db` runs with an extra script that removes every account it made
 * (root, anonymous ones) but `mariadb.sys` (the definer of the system views), and the test database.
 */

export const PLATFORM_ROLE = 'addons_platform';

/** The staging and retired databases of an all-or-nothing dump restore (see the jobs' MySQL tool). */
export const RESTORE_DATABASES = [RESTORE_STAGING_DATABASE, RESTORE_RETIRED_DATABASE] as const;

/** Accounts the customer's name must not take (MariaDB's own, the platform's). */
export const RESERVED_USERNAMES = [
  'root',
  'mariadb.sys',
  'mysql',
  'public',
  'none',
  PLATFORM_ROLE,
  REPLICATION_USER,
];

/** What `mariadb-install-db --extra-file` runs after creating the system tables. */
export const INSTALL_CLEANUP_SQL = [
  "DELETE FROM mysql.global_priv WHERE User <> 'mariadb.sys';",
  'DELETE FROM mysql.proxies_priv;',
  "DELETE FROM mysql.db WHERE Db LIKE 'test%';",
  'DROP DATABASE IF EXISTS test;',
  '',
].join('\n');

/** A string literal for the server's default SQL mode (backslash escapes on). */
export const literal = (value: string): string => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

/** A database or table name. */
export const ident = (name: string): string => `\`${name.replace(/`/g, '``')}\``;

/** `db`.* in a GRANT, where `_` and `%` are wildcards unless escaped. */
const grantTarget = (database: string): string => `${ident(database.replace(/[\\_%]/g, '\\$&'))}.*`;

/** mysql_native_password's stored form: `*` and SHA1(SHA1(password)) in upper-case hex. */
export const nativePasswordHash = (password: string): string => {
  const stage1 = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(stage1).digest('hex').toUpperCase()}`;
};

/**
 * `--init-file`, run by the server at every start before it accepts connections: the platform's
 * account with the password instance.json holds, whatever the data says (a new instance, a restored
 * snapshot). The file holds the password's hash, which is what the grant tables hold anyway.
 * One statement per line: the server splits the file at line ends.
 */
export const platformAccountSql = (admin: PlatformRole): string => {
  const account = `${literal(admin.username)}@'localhost'`;
  const hash = literal(nativePasswordHash(admin.password));
  return [
    `CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY PASSWORD ${hash};`,
    `ALTER USER ${account} IDENTIFIED BY PASSWORD ${hash} ACCOUNT UNLOCK;`,
    `GRANT ALL PRIVILEGES ON *.* TO ${account} WITH GRANT OPTION;`,
    '',
  ].join('\n');
};

/** A customer login's reference account (hosts.ts): every change is made on it, then copied. */
export const customerAccount = (username: string): string => `${literal(username)}@${literal(PRIVATE_HOST)}`;

/**
 * The customer's database and account, as the platform wants them: created when `password` is
 * given (a new instance), checked otherwise (a restored snapshot must bring its own). Every grant
 * statement is idempotent, so this re-asserts the grants whatever they were. No global privilege,
 * no grant option, anywhere. `unlock` (with a password) also lifts a rotation's lock on the login.
 * Then copied to the allowed sources (`record`'s networking, hosts.ts).
 */
export const settleCustomer = async (
  connection: Connection,
  record: InstanceRecord,
  customer: { username: string; database: string; password?: string; unlock?: boolean },
): Promise<void> => {
  const account = customerAccount(customer.username);
  // An account from before host rules ('%') becomes the reference account first.
  await syncHosts(connection, record);
  const [anonymous] = await connection.query("SELECT Host FROM mysql.global_priv WHERE User = ''");
  for (const { Host } of anonymous as Array<{ Host: string }>) {
    await connection.query(`DROP USER ''@${literal(Host)}`);
  }
  await connection.query(`CREATE DATABASE IF NOT EXISTS ${ident(customer.database)} ${DATABASE_CHARSET}`);
  if (customer.password !== undefined) {
    const password = literal(customer.password);
    await connection.query(`CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${password}`);
    await connection.query(
      `ALTER USER ${account} IDENTIFIED BY ${password}${customer.unlock ? ' ACCOUNT UNLOCK' : ''}`,
    );
  } else {
    const [rows] = await connection.query('SELECT 1 FROM mysql.global_priv WHERE User = ? AND Host = ?', [
      customer.username,
      PRIVATE_HOST,
    ]);
    if ((rows as unknown[]).length === 0) {
      throw new ProviderError(
        `The account '${customer.username}' does not exist in this instance`,
        'RolesNotSettled',
      );
    }
  }
  await connection.query(`REVOKE ALL PRIVILEGES ON *.* FROM ${account}`);
  await connection.query(`REVOKE GRANT OPTION ON *.* FROM ${account}`);
  for (const database of [customer.database, ...RESTORE_DATABASES]) {
    await connection.query(`GRANT ALL PRIVILEGES ON ${grantTarget(database)} TO ${account}`);
    await connection.query(`REVOKE GRANT OPTION ON ${grantTarget(database)} FROM ${account}`);
  }
  await syncHosts(connection, record);
};
