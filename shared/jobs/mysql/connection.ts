import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { errorMessage, ProviderError, TransientError } from '../../errors.ts';
import type { Credentials } from '../../schemas/addon.ts';

/** How a job's MySQL connections are protected, like `jobTls` for PostgreSQL. */
export type MysqlTls = { mode: 'verify-identity'; ca: string } | { mode: 'require' } | { mode: 'prefer' };

/**
 * The TLS of a job's connections. The job image sets ADDONS_MYSQL_SSL_MODE=verify-identity and
 * ADDONS_MYSQL_SSL_CA (the RDS CA bundle), so on AWS every connection verifies the server's
 * certificate and name whether or not the addon forces TLS (every RDS instance serves it).
 * Without them (the local target), TLS follows the addon: verified with a configured bundle,
 * encrypted only without one, else none (the client tools' default: no TLS unless asked).
 */
export const mysqlTls = (
  connection: Pick<Credentials, 'tls'>,
  env: NodeJS.ProcessEnv = process.env,
): MysqlTls => {
  const ca = env.ADDONS_MYSQL_SSL_CA;
  if (env.ADDONS_MYSQL_SSL_MODE === 'verify-identity') {
    if (!ca) {
      throw new ProviderError(
        'ADDONS_MYSQL_SSL_MODE=verify-identity needs ADDONS_MYSQL_SSL_CA (the CA bundle that signs the server certificates)',
        'Misconfigured',
      );
    }
    return { mode: 'verify-identity', ca };
  }
  if (!connection.tls) return { mode: 'prefer' };
  return ca ? { mode: 'verify-identity', ca } : { mode: 'require' };
};

/**
 * Connection arguments of the client tools (mariadb, mariadb-dump). `--no-defaults` comes first
 * (the tools insist) so no option file of the machine changes what runs; `--protocol=TCP` keeps
 * `localhost` from meaning a socket. The password is not here: see `clientEnv`.
 *
 * The MariaDB 10.11 tools already use TLS whenever the server offers it; they have no
 * `--ssl-mode=REQUIRED`, so `require` (TLS without a CA to verify with) cannot stop a downgrade:
 * the same protection as libpq's `require`, which does not authenticate the server either.
 * A server that requires TLS (require_secure_transport) refuses plain connections anyway.
 */
export const clientArgs = (connection: Credentials, env: NodeJS.ProcessEnv = process.env): string[] => {
  const tls = mysqlTls(connection, env);
  return [
    '--no-defaults',
    '--protocol=TCP',
    `--host=${connection.host}`,
    `--port=${connection.port}`,
    `--user=${connection.username}`,
    ...(tls.mode === 'verify-identity' ? ['--ssl', `--ssl-ca=${tls.ca}`, '--ssl-verify-server-cert'] : []),
    ...(tls.mode === 'require' ? ['--ssl'] : []),
  ];
};

/**
 * The client tools' environment: the password in MYSQL_PWD only, never on the command line
 * (visible to every user of the machine in `ps`). The child gets nothing else from ours (no AWS
 * credentials, no platform token); LC_ALL=C keeps messages in English for the error text.
 */
export const clientEnv = (connection: Credentials): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  LC_ALL: 'C',
  MYSQL_PWD: connection.password,
});

const nodeSsl = (connection: Credentials): mysql.ConnectionOptions['ssl'] => {
  const tls = mysqlTls(connection);
  switch (tls.mode) {
    case 'verify-identity':
      // Node's TLS checks the chain and that the certificate names the host.
      return { ca: readFileSync(tls.ca, 'utf8'), rejectUnauthorized: true };
    case 'require':
      return { rejectUnauthorized: false };
    case 'prefer':
      return undefined;
  }
};

/** Server error numbers and socket errors of a server that is away or busy: retry the job later. */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_CONNECTION_KILLED',
]);

export const isTransientMysqlError = (error: unknown): boolean => {
  const { code } = (error ?? {}) as { code?: string };
  return code !== undefined && TRANSIENT_CODES.has(code);
};

/**
 * A connection as the job's user, on the addon's database. Statement-level: no multiple
 * statements, so a definition read back from the server is always sent as one statement.
 */
export const connectMysql = async (connection: Credentials, database = connection.database) => {
  try {
    const ssl = nodeSsl(connection);
    const client = await mysql.createConnection({
      host: connection.host,
      port: connection.port,
      user: connection.username,
      password: connection.password,
      database,
      charset: 'utf8mb4_unicode_ci',
      connectTimeout: 15_000,
      ...(ssl ? { ssl } : {}),
    });
    // A dropped connection emits 'error' on the object; the failing query reports it already.
    client.on('error', () => undefined);
    return client;
  } catch (error) {
    throw connectionFailure(error, connection);
  }
};

export const connectionFailure = (error: unknown, connection: Credentials): Error => {
  if (error instanceof ProviderError || error instanceof TransientError) return error;
  const where = `${connection.host}:${connection.port}/${connection.database}`;
  const message = `Cannot connect to MySQL at ${where} as ${connection.username}: ${errorMessage(error)}`;
  if (isTransientMysqlError(error)) return new TransientError(message, { cause: error });
  return new ProviderError(message, 'ConnectionFailed', { cause: error });
};

export type MysqlConnection = Awaited<ReturnType<typeof connectMysql>>;

export const quoteId = (name: string): string => mysql.escapeId(name, true);
