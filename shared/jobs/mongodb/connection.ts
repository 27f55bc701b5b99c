import type { MongoClient } from 'mongodb';
import { mongodbUri } from '../../engines/mongodb/index.ts';
import { errorMessage, ProviderError, TransientError } from '../../errors.ts';
import type { Credentials } from '../../schemas/addon.ts';
import { loadedMongoDriver, mongoDriver } from './driver-module.ts';

/**
 * The CA bundle the jobs verify DocumentDB's certificate with (the job image sets it to the RDS
 * global bundle, which covers DocumentDB); absent: the system's CAs.
 */
export const TLS_CA_VARIABLE = 'ADDONS_MONGODB_TLS_CA_FILE';

/**
 * The URI the jobs connect with: the addon's own (authSource, and DocumentDB's TLS, replica set
 * and retryWrites settings), with the CA file when one is configured. `withDatabase: false`
 * leaves the path out: mongodump and mongorestore read a database in the URI as `--db`, which
 * the restore's renaming must not be mixed with; the database is then an option of its own.
 */
export const jobUri = (
  connection: Credentials,
  { withDatabase = true, env = process.env }: { withDatabase?: boolean; env?: NodeJS.ProcessEnv } = {},
): string => {
  const url = new URL(mongodbUri(connection));
  if (!withDatabase) url.pathname = '/';
  const ca = env[TLS_CA_VARIABLE];
  if (connection.tls && ca) url.searchParams.set('tlsCAFile', ca);
  return url.toString();
};

/** Server errors of a primary stepping down, shutting down or interrupted: worth another try. */
const TRANSIENT_CODES = new Set([6, 7, 89, 91, 189, 10107, 11600, 11602, 13435, 13436]);

export const isTransientMongoError = (error: unknown): boolean => {
  const driver = loadedMongoDriver();
  if (!driver) return false;
  return (
    error instanceof driver.MongoNetworkError ||
    error instanceof driver.MongoServerSelectionError ||
    (error instanceof driver.MongoServerError && TRANSIENT_CODES.has(Number(error.code)))
  );
};

/** A failure of the platform's own connection to the addon, as the job reports it. */
export const connectionFailure = (error: unknown, connection: Credentials): Error => {
  if (error instanceof ProviderError || error instanceof TransientError) return error;
  const message = `Could not reach MongoDB database ${connection.database} at ${connection.host}:${connection.port}: ${errorMessage(error)}`;
  if (isTransientMongoError(error)) return new TransientError(message, { cause: error });
  // Refused credentials (AuthenticationFailed, Unauthorized) and anything else: not worth a retry.
  return new ProviderError(message, 'ConnectionFailed', { cause: error });
};

/** A connected client of the addon (its own user); the caller closes it. */
export const openMongo = async (connection: Credentials): Promise<MongoClient> => {
  const { MongoClient } = await mongoDriver();
  const client = new MongoClient(jobUri(connection), {
    serverSelectionTimeoutMS: 15_000,
    connectTimeoutMS: 15_000,
    appName: 'addons-jobs',
  });
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
};

/** A connected client of the addon (its own user), closed after `work`. */
export const withMongo = async <T>(
  connection: Credentials,
  work: (client: MongoClient) => Promise<T>,
): Promise<T> => {
  const client = await openMongo(connection);
  try {
    return await work(client);
  } finally {
    await client.close().catch(() => undefined);
  }
};
