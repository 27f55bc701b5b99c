import mysql, { type Connection } from 'mysql2/promise';
import { ProviderError } from '#shared/errors.ts';
import type { InstanceContext, PlatformRole } from '../driver.ts';
import { probeServer } from '../probe.ts';
import { socketPath } from './settings.ts';

export const platformRoleOf = (ctx: InstanceContext): PlatformRole => {
  if (!ctx.record.admin)
    throw new ProviderError(`Instance ${ctx.resourceId} has no platform account recorded`);
  return ctx.record.admin;
};

/** The platform's connection to an instance: its account, over the Unix socket (the only way it is let in). */
export const platformConnect = async (ctx: InstanceContext): Promise<Connection> => {
  const admin = platformRoleOf(ctx);
  const connection = await mysql.createConnection({
    socketPath: socketPath(ctx),
    user: admin.username,
    password: admin.password,
    connectTimeout: 5_000,
    charset: 'utf8mb4_unicode_ci',
    multipleStatements: false,
  });
  connection.on('error', () => undefined);
  return connection;
};

/** Runs `fn` on a platform connection and closes it. */
export const withPlatform = async <T>(
  ctx: InstanceContext,
  fn: (connection: Connection) => Promise<T>,
): Promise<T> => {
  const connection = await platformConnect(ctx);
  try {
    return await fn(connection);
  } finally {
    await connection.end().catch(() => connection.destroy());
  }
};

const HANDSHAKE_V10 = 0x0a;
const ERROR_PACKET = 0xff;
/** ER_SERVER_SHUTDOWN: the server is going down. */
const SERVER_SHUTDOWN = 1053;

/**
 * A MySQL server speaks first: on connect it sends its handshake (protocol 10), or an error packet
 * when it will not talk to this client (too many connections, host not allowed: it is up all the
 * same). Reading that first packet is a real readiness check without credentials. MariaDB opens its
 * TCP listener only once crash recovery and `--init-file` are done: until then the port refuses
 * (`down`), and the supervisor, which sees the process alive, keeps waiting. We close at once
 * after the greeting; with --log-warnings=1 the server does not log that aborted handshake.
 */
export const probeMySql = (host: string, port: number, timeoutMs: number) =>
  probeServer(host, port, timeoutMs, {
    read: (received) => {
      if (received.length < 5) return undefined;
      const kind = received[4];
      if (kind === HANDSHAKE_V10) return 'ready';
      if (kind !== ERROR_PACKET) return 'down'; // not a MySQL server
      if (received.length < 7) return undefined;
      return received.readUInt16LE(5) === SERVER_SHUTDOWN ? 'starting' : 'ready';
    },
  });
