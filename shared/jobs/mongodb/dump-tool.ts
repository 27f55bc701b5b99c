import { errorMessage, ProviderError, TransientError } from '../../errors.ts';
import type { Credentials } from '../../schemas/addon.ts';
import type { DumpCommand, DumpTool, RestorePlan, ServerInfo } from '../dump-tool.ts';
import { abortedError, classifyToolMessage } from '../job-errors.ts';
import { connectionFailure, isTransientMongoError, jobUri, openMongo, withMongo } from './connection.ts';
import {
  beginCommit,
  databaseTarget,
  dropStaging,
  type RestoreTarget,
  rollForward,
  STAGING_PREFIX,
} from './staging.ts';
import { configuredCommand, resolveMongoTool } from './tools.ts';

/** `7.0.14` -> major `7.0`; DocumentDB answers `5.0.0`. */
export const parseMongoVersion = (raw: string): { version: string; major: string } => {
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(raw.trim());
  if (!match) throw new ProviderError(`Cannot read the server version "${raw}"`, 'ConnectionFailed');
  const [, major, minor, patch] = match;
  return {
    version: `${major}.${minor}${patch !== undefined ? `.${patch}` : ''}`,
    major: `${major}.${minor}`,
  };
};

/** mongod's own databases: never in a restore, whatever an archive holds. */
const EXCLUDED = ['admin.*', 'config.*', 'local.*'];

/** mongodump of the addon's database as one archive on stdout (collections, indexes, views). */
export const dumpArgs = (database: string): string[] => [`--db=${database}`, '--archive'];

/**
 * mongorestore of an archive on stdin into the staging namespace of `database` (staging.ts):
 * every collection of the archive, whatever database it was dumped from, lands as
 * `<database>.__addons_restore.<collection>`. `--drop` drops a staged collection before loading
 * it (nothing is staged at that point, the plan cleared it); `--stopOnError` fails the load on
 * the first refused document instead of carrying on with a partial copy.
 */
export const restoreArgs = (database: string): string[] => [
  '--archive',
  '--drop',
  '--stopOnError',
  ...EXCLUDED.map((pattern) => `--nsExclude=${pattern}`),
  '--nsFrom=$db$.$collection$',
  `--nsTo=${database}.${STAGING_PREFIX}$collection$`,
];

/** A server that is away, restarting, stepping down or busy: the job may try again. */
const TRANSIENT_MESSAGE =
  /server selection error|no reachable servers|connection refused|connection reset|i\/o timeout|context deadline exceeded|connection\(.*\) .*closed|NotWritablePrimary|not master|PrimarySteppedDown|InterruptedAtShutdown|ShutdownInProgress|InterruptedDueToReplStateChange|HostUnreachable|NetworkTimeout|SocketException/i;
/** Refused at connection time: wrong credentials, or a user without the privileges. */
const CONNECTION_REFUSED =
  /Authentication failed|AuthenticationFailed|unable to authenticate|not authorized on/i;

export class MongoDumpTool implements DumpTool {
  readonly engine = 'mongodb' as const;

  /** For the tests: the restore target of a database, instead of the driver's. */
  constructor(
    private readonly targetOf: (connection: Credentials) => Promise<RestoreSession> = driverSession,
  ) {}

  async inspect(connection: Credentials, _applicationName: string): Promise<ServerInfo> {
    try {
      return await withMongo(connection, async (client) => {
        const db = client.db(connection.database);
        const build = await db.command({ buildInfo: 1 });
        const stats = await db.command({ dbStats: 1 });
        return { ...parseMongoVersion(String(build.version)), databaseBytes: Number(stats.dataSize ?? 0) };
      });
    } catch (error) {
      throw connectionFailure(error, connection);
    }
  }

  async dumpCommand(connection: Credentials): Promise<DumpCommand> {
    const tool = await resolveMongoTool('mongodump');
    return {
      ...configuredCommand(tool, dumpArgs(connection.database), jobUri(connection, { withDatabase: false })),
      toolVersion: tool.version,
    };
  }

  /**
   * The staged restore (staging.ts). Preparing resolves what an earlier run left: the marker of
   * THIS restore means it was loaded, verified and committing when it died, and the plan only
   * rolls forward (`alreadyLoaded`); another restore's marker is finished first (its data was
   * verified); staged collections without a marker are an uncommitted attempt's, and dropped.
   */
  async prepareRestore(
    connection: Credentials,
    _server: ServerInfo,
    options: { applicationName: string; restoreId: string; lockTimeoutMs: number },
  ): Promise<RestorePlan> {
    const { restoreId } = options;
    const loader = await resolveMongoTool('mongorestore');
    const withTarget = async <T>(work: (target: RestoreTarget) => Promise<T>): Promise<T> => {
      let session: RestoreSession | undefined;
      try {
        session = await this.targetOf(connection);
        return await work(session.target);
      } catch (error) {
        throw restoreFailure(error, connection);
      } finally {
        await session?.close();
      }
    };
    const alreadyLoaded = await withTarget(async (target) => {
      const marker = await target.readMarker();
      if (marker?.restoreId === restoreId) return true;
      if (marker) await rollForward(target);
      await dropStaging(target);
      return false;
    });
    const plan: RestorePlan = {
      toolVersion: loader.version,
      filters: [],
      loader: configuredCommand(
        loader,
        restoreArgs(connection.database),
        jobUri(connection, { withDatabase: false }),
      ),
      commit: async (signal) => {
        await withTarget(async (target) => {
          if (!alreadyLoaded) {
            if (signal?.aborted) throw abortedError('restore', signal);
            // The point of no return; an abort from here on is too late to honour.
            await beginCommit(target, restoreId);
          }
          await rollForward(target);
        });
      },
      discard: async () => {
        await withTarget(async (target) => {
          // A committed restore is kept for the next run to finish.
          if ((await target.readMarker())?.restoreId === restoreId) return;
          await dropStaging(target);
        }).catch(() => undefined);
      },
    };
    if (alreadyLoaded) plan.alreadyLoaded = true;
    return plan;
  }

  classifyFailure(message: string, phase: 'dump' | 'restore'): Error {
    return classifyToolMessage(message, phase, { transient: TRANSIENT_MESSAGE, refused: CONNECTION_REFUSED });
  }
}

/** A restore target and how to let go of it. */
export interface RestoreSession {
  target: RestoreTarget;
  close(): Promise<void>;
}

const driverSession = async (connection: Credentials): Promise<RestoreSession> => {
  const client = await openMongo(connection);
  return {
    target: databaseTarget(client.db(connection.database)),
    close: () => client.close().catch(() => undefined),
  };
};

/** A control step's failure: lost connections and elections can be retried. */
const restoreFailure = (error: unknown, connection: Credentials): Error => {
  if (error instanceof ProviderError || error instanceof TransientError) return error;
  const message = `The restore of ${connection.database} failed: ${errorMessage(error)}`;
  return isTransientMongoError(error)
    ? new TransientError(message, { cause: error })
    : new ProviderError(message, 'RestoreFailed', { cause: error });
};
