import path from 'node:path';
import pg from 'pg';
import { ProviderError } from '#shared/errors.ts';
import type { InstanceContext, PlatformRole } from '../driver.ts';
import { probeServer } from '../probe.ts';
import type { Connect } from './roles.ts';

export const platformRoleOf = (ctx: InstanceContext): PlatformRole => {
  if (!ctx.record.admin) throw new ProviderError(`Instance ${ctx.resourceId} has no platform role recorded`);
  return ctx.record.admin;
};

export const hasSocket = (ctx: InstanceContext): boolean => socketDirectorySetting(ctx) !== '';

/**
 * The platform's connections to an instance: over its Unix socket with peer authentication
 * (`grantPlatformAccess`) when it has one, else over TCP with the platform role's password.
 */
export const platformConnect =
  (ctx: InstanceContext): Connect =>
  async (user, database) => {
    const client = new pg.Client({
      ...(hasSocket(ctx)
        ? { host: ctx.socketDir }
        : {
            host: ctx.record.host,
            password: ctx.record.admin?.password,
            // Our own server on loopback: encrypted as the instance requires, no name to verify.
            ...(ctx.record.networking?.tls ? { ssl: { rejectUnauthorized: false } } : {}),
          }),
      port: ctx.record.port,
      user,
      database,
      connectionTimeoutMillis: 5_000,
      application_name: 'addons-platform',
      // A full instance is read-only for the customer's sessions (storage.ts), not the platform's.
      options: '-c default_transaction_read_only=off',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  };

// A Unix socket path must fit sockaddr_un.sun_path (108 bytes including the NUL).
const SUN_PATH_MAX = 107;

export const socketDirectorySetting = (ctx: InstanceContext): string => {
  const socket = path.join(ctx.socketDir, `.s.PGSQL.${ctx.record.port}`);
  if (Buffer.byteLength(`${socket}.lock`) > SUN_PATH_MAX || ctx.socketDir.includes('"')) return '';
  return /^[\w./-]+$/.test(ctx.socketDir) ? ctx.socketDir : `"${ctx.socketDir}"`;
};

const PROTOCOL_3_0 = 196608;
const CANNOT_CONNECT_NOW = '57P03'; // starting up, shutting down, in recovery

const startupMessage = (user: string, database: string): Buffer => {
  const body = Buffer.from(
    `user\0${user}\0database\0${database}\0application_name\0addons-probe\0\0`,
    'utf8',
  );
  const header = Buffer.alloc(8);
  header.writeInt32BE(8 + body.length, 0);
  header.writeInt32BE(PROTOCOL_3_0, 4);
  return Buffer.concat([header, body]);
};

const sqlState = (message: Buffer): string | undefined => {
  let offset = 5;
  while (offset < message.length && message[offset] !== 0) {
    const code = String.fromCharCode(message[offset] ?? 0);
    const end = message.indexOf(0, offset + 1);
    if (end < 0) return undefined;
    if (code === 'C') return message.toString('utf8', offset + 1, end);
    offset = end + 1;
  }
  return undefined;
};

/**
 * What pg_isready does: send a startup packet and read the first reply. An authentication request
 * means the server accepts connections; "cannot connect now" means it is still starting. We then
 * close cleanly (FIN), which the server treats as a client that went away, without logging.
 */
export const probePostgres = (
  host: string,
  port: number,
  user: string,
  database: string,
  timeoutMs: number,
) =>
  probeServer(host, port, timeoutMs, {
    hello: startupMessage(user, database),
    gracefulClose: true,
    read: (received) => {
      const type = String.fromCharCode(received[0] ?? 0);
      if (type === 'R' || type === 'v') return 'ready';
      if (type !== 'E') return 'down'; // not PostgreSQL
      if (received.length < 5) return undefined;
      const length = received.readInt32BE(1);
      if (received.length < length + 1) return undefined;
      return sqlState(received) === CANNOT_CONNECT_NOW ? 'starting' : 'ready';
    },
  });

// ---------------------------------------------------------------- snapshots
