import type { Connection } from 'mysql2/promise';
import { alternateOf } from '#shared/engines/alternating-logins.ts';
import type { InstanceContext, InstanceRecord } from '../driver.ts';
import { listenAddress, networkingOf } from '../networking.ts';
import { ensureServerCertificate } from '../tls.ts';
import { literal } from './accounts.ts';

/**
 * Who may connect over TCP, in MariaDB's own terms: host parts of accounts. MariaDB has no
 * pg_hba.conf; an account is a user *and* the source addresses it may log in from, so the allow
 * list becomes one account per allowed source for each of the customer's logins (the customer's
 * user and its rotation twin `<user>_2`, logins.ts), each a copy of the login's account on
 * 127.0.0.1 (same password, same lock, same grants):
 *
 * - `<user>@'127.0.0.1'`: the private details, the platform's jobs, local clients. Always there;
 *   it is the login's reference account, the one every password change and lock is made on.
 * - while public, `<user>@'<address>/<netmask>'` per allowed CIDR (`<address>` alone for a /32).
 * - every other account of the login (`'%'`, from instances made before host rules; a CIDR no
 *   longer allowed) is locked, never dropped: views, triggers and routines created through it name
 *   it as their DEFINER and keep working only while it exists. A locked account refuses new
 *   connections (error 4151), so a source outside the list finds no account that lets it in.
 *
 * The server runs with --skip-name-resolve, so accounts match addresses, never DNS names.
 * `hostRulesSql` is run by the server itself at every start (its --init-file), before it accepts
 * connections, so a networking change is enforced from the first connection after the restart
 * that applies it; and on the platform's connection after every account change (`syncHosts`).
 */

/** The reference host of every customer login. */
export const PRIVATE_HOST = '127.0.0.1';

/** MariaDB's host part for an IPv4 CIDR: the address for a /32, else `address/netmask`. */
export const accountHostOf = (cidr: string): string => {
  const [address, bits = '32'] = cidr.split('/');
  const prefix = Number(bits);
  if (prefix === 32) return address as string;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const netmask = [24, 16, 8, 0].map((shift) => (mask >>> shift) & 0xff).join('.');
  return `${address}/${netmask}`;
};

/** The hosts the customer's logins have open accounts on: 127.0.0.1, and each allowed CIDR while public. */
export const customerHosts = (record: InstanceRecord): string[] => {
  const { public: open, allow } = networkingOf(record);
  return [...new Set([PRIVATE_HOST, ...(open ? allow.map(accountHostOf) : [])])];
};

const list = (values: string[]): string => values.map(literal).join(', ');

/** A scratch copy of grant rows; temporary, so it never outlives the session that made it. */
const SCRATCH = 'mysql.addons_host_grants';

/** Copy the grant rows of the logins' accounts on `from` to each of `to` (whose own rows are replaced). */
const copyGrants = (logins: string, from: string, to: string[], replace: boolean): string[] =>
  to.length === 0
    ? []
    : [
        ...(replace ? [`DELETE FROM mysql.db WHERE User IN (${logins}) AND Host IN (${list(to)});`] : []),
        `CREATE TEMPORARY TABLE ${SCRATCH} AS SELECT * FROM mysql.db WHERE User IN (${logins}) AND Host = ${literal(from)};`,
        ...to.flatMap((host) => [
          `UPDATE ${SCRATCH} SET Host = ${literal(host)};`,
          `INSERT IGNORE INTO mysql.db SELECT * FROM ${SCRATCH};`,
        ]),
        `DROP TEMPORARY TABLE ${SCRATCH};`,
      ];

/**
 * Statements (one a line, each unable to fail on any data, since the server stops reading its
 * init file at the first error) that make the customer's logins' accounts what `customerHosts`
 * says. Idempotent; a no-op before the customer's user exists.
 */
export const hostRulesSql = (record: InstanceRecord): string[] => {
  const logins = list([record.username, alternateOf(record.username)]);
  const hosts = customerHosts(record);
  const extra = hosts.filter((host) => host !== PRIVATE_HOST);
  return [
    // Instances from before host rules: the login's '%' account becomes its 127.0.0.1 account once.
    `INSERT IGNORE INTO mysql.global_priv (Host, User, Priv) SELECT ${literal(PRIVATE_HOST)}, User, Priv FROM mysql.global_priv WHERE User IN (${logins}) AND Host = '%';`,
    ...copyGrants(logins, '%', [PRIVATE_HOST], false),
    // The allowed sources: fresh copies of the reference accounts and their grants.
    ...(extra.length > 0
      ? [
          `DELETE FROM mysql.global_priv WHERE User IN (${logins}) AND Host IN (${list(extra)});`,
          ...extra.map(
            (host) =>
              `INSERT INTO mysql.global_priv (Host, User, Priv) SELECT ${literal(host)}, User, Priv FROM mysql.global_priv WHERE User IN (${logins}) AND Host = ${literal(PRIVATE_HOST)};`,
          ),
        ]
      : []),
    ...copyGrants(logins, PRIVATE_HOST, extra, true),
    // Every other account of the logins refuses new connections.
    `UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, '$.account_locked', true) WHERE User IN (${logins}) AND Host NOT IN (${list(hosts)});`,
    'FLUSH PRIVILEGES;',
  ];
};

/** Apply `hostRulesSql` on a platform connection, after a change of the logins' reference accounts. */
export const syncHosts = async (connection: Connection, record: InstanceRecord): Promise<void> => {
  for (const statement of hostRulesSql(record)) await connection.query(statement);
};

/**
 * Server options for the instance's networking: the listen address (every interface only while
 * public) and, with TLS required, the certificate the data directory's CA signs and
 * `require_secure_transport` (TCP without TLS is refused; the Unix socket, the platform's own way
 * in, counts as secure).
 */
export const networkingArgs = async (ctx: InstanceContext): Promise<string[]> => {
  const args = [`--bind-address=${listenAddress(ctx.record)}`];
  if (!networkingOf(ctx.record).tls) return args;
  const hosts = [ctx.record.host, ...(ctx.record.publicHost ? [ctx.record.publicHost] : [])];
  const files = await ensureServerCertificate(ctx, hosts);
  return [
    ...args,
    `--ssl-cert=${files.certificate}`,
    `--ssl-key=${files.key}`,
    '--require-secure-transport=ON',
    '--tls-version=TLSv1.2,TLSv1.3',
  ];
};
