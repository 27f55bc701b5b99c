import type { BSON as Bson, MongoClient } from 'mongodb';
import { ProviderError } from '#shared/errors.ts';
import { loadedMongoDriver, mongoDriver } from '#shared/jobs/mongodb/driver-module.ts';
import type { InstanceContext, PlatformRole, Probe } from '../driver.ts';
import { probeServer } from '../probe.ts';

export const platformRoleOf = (ctx: InstanceContext): PlatformRole => {
  if (!ctx.record.admin) throw new ProviderError(`Instance ${ctx.resourceId} has no platform user recorded`);
  return ctx.record.admin;
};

/** Server error codes: AuthenticationFailed; Unauthorized (the localhost exception is closed). */
export const AUTHENTICATION_FAILED = 18;
export const UNAUTHORIZED = 13;

const clientOptions = {
  directConnection: true,
  serverSelectionTimeoutMS: 5_000,
  connectTimeoutMS: 5_000,
  appName: 'addons-platform',
} as const;

/**
 * Runs `work` on a client of the instance, as the platform's user (in `admin`) or, with `as:
 * 'anonymous'`, unauthenticated: only what mongod's localhost exception allows (creating the first
 * user, while the server has none). Over TCP on 127.0.0.1: mongod runs with `--nounixsocket`, so
 * its socket never lands in the machine's /tmp; the platform's user is guarded by its password.
 */
export const withClient = async <T>(
  ctx: InstanceContext,
  work: (client: MongoClient) => Promise<T>,
  as: 'platform' | 'anonymous' = 'platform',
): Promise<T> => {
  const admin = platformRoleOf(ctx);
  const { MongoClient } = await mongoDriver();
  const client = new MongoClient(`mongodb://${ctx.record.host}:${ctx.record.port}/`, {
    ...clientOptions,
    ...(as === 'platform'
      ? { auth: { username: admin.username, password: admin.password }, authSource: 'admin' }
      : {}),
  });
  try {
    await client.connect();
    return await work(client);
  } finally {
    await client.close().catch(() => undefined);
  }
};

export const isAuthFailure = (error: unknown): boolean => {
  const driver = loadedMongoDriver();
  return (
    driver !== undefined && error instanceof driver.MongoServerError && error.code === AUTHENTICATION_FAILED
  );
};

/** OP_MSG (MongoDB's wire protocol message since 3.6). */
const OP_MSG = 2013;
const HEADER_BYTES = 16;

/** `{hello: 1}` on `admin` as one OP_MSG: a command mongod answers without credentials, even with --auth. */
export const helloMessage = (bson: typeof Bson, requestId = 1): Buffer => {
  const body = Buffer.from(bson.serialize({ hello: 1, $db: 'admin' }));
  const head = Buffer.alloc(HEADER_BYTES + 5);
  head.writeInt32LE(head.length + body.length, 0);
  head.writeInt32LE(requestId, 4);
  head.writeInt32LE(0, 8);
  head.writeInt32LE(OP_MSG, 12);
  head.writeUInt32LE(0, 16); // flag bits
  head.writeUInt8(0, 20); // section kind 0: one body document
  return Buffer.concat([head, body]);
};

/**
 * The verdict on a reply to `helloMessage`: `ready` when the server answered `ok: 1`; `starting`
 * when it answered with an error (shutting down, not yet initialised); `down` when the bytes are
 * not an OP_MSG reply (not a mongod); undefined while the reply is incomplete.
 */
export const readHello = (bson: typeof Bson, received: Buffer): Probe | undefined => {
  if (received.length < 4) return undefined;
  const length = received.readInt32LE(0);
  if (length < HEADER_BYTES + 5 || length > 48 * 1024 * 1024) return 'down';
  if (received.length < length) return undefined;
  if (received.readInt32LE(12) !== OP_MSG || received.readUInt8(20) !== 0) return 'down';
  try {
    const reply = bson.deserialize(received.subarray(21, length));
    return reply.ok === 1 ? 'ready' : 'starting';
  } catch {
    return 'down';
  }
};

/**
 * mongod opens its port once startup recovery is done; a `hello` (allowed without authentication)
 * tells a mongod that serves from anything else listening there.
 */
export const probeMongod = async (ctx: InstanceContext, timeoutMs: number): Promise<Probe> => {
  const { BSON } = await mongoDriver();
  return probeServer(ctx.record.host, ctx.record.port, timeoutMs, {
    hello: helloMessage(BSON),
    read: (received) => readHello(BSON, received),
    // mongod logs a reset connection as an error; a FIN is an ordinary "connection ended".
    gracefulClose: true,
  });
};
