import type { RowDataPacket } from 'mysql2/promise';
import { errorMessage, ProviderError, TransientError } from '../../errors.ts';
import type { Credentials } from '../../schemas/addon.ts';
import type { DumpCommand, DumpTool, RestorePlan, ServerInfo } from '../dump-tool.ts';
import { abortedError, classifyToolMessage } from '../job-errors.ts';
import type { Tool } from '../processes.ts';
import {
  clientArgs,
  clientEnv,
  connectionFailure,
  connectMysql,
  isTransientMysqlError,
  type MysqlConnection,
} from './connection.ts';
import {
  createStaging,
  dropStaging,
  findMarker,
  RETIRED_DB,
  rollForward,
  STAGING_DB,
  writeMarker,
} from './staging.ts';
import { resolveMysqlTool } from './tools.ts';

/**
 * `10.11.19-MariaDB-0+deb12u1` -> version `10.11.19-MariaDB`, major `10.11`; `8.0.39` -> `8.0`.
 * Both MySQL and MariaDB name their release series by the first two numbers.
 */
export const parseMysqlVersion = (raw: string): { version: string; major: string } => {
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?(-MariaDB)?/i.exec(raw.trim());
  if (!match) throw new ProviderError(`Cannot read the server version "${raw}"`, 'ConnectionFailed');
  const [, major, minor, patch, mariadb] = match;
  return {
    version: `${major}.${minor}${patch !== undefined ? `.${patch}` : ''}${mariadb ? '-MariaDB' : ''}`,
    major: `${major}.${minor}`,
  };
};

/**
 * mariadb-dump of one database, as plain SQL that loads into a database of ANY name: the
 * database is named without `--databases`, so the output has no CREATE DATABASE and no USE.
 *
 * - `--single-transaction`: one consistent InnoDB snapshot, no locks held on the customer's
 *   tables (implies --skip-lock-tables); `--quick` (default through --opt) streams rows.
 * - `--routines --triggers --events`: the whole database, not only the tables.
 * - `--hex-blob`: binary columns as hex literals, immune to any charset conversion.
 * - `--default-character-set=utf8mb4`: no lossy utf8mb3 round trip.
 * - `--no-tablespaces`: MySQL 8 requires the global PROCESS privilege to read tablespaces
 *   (which an addon's user lacks) and a restore never wants them.
 * - `--skip-add-locks`: no LOCK TABLES around each table's rows in the output, which would need
 *   the LOCK TABLES privilege at restore time and buys nothing for InnoDB.
 * - `--max-allowed-packet=1G`: a large row must not fail the dump; the loader reads with the same.
 *
 * Against RDS MySQL 8.0/8.4 the MariaDB tool needs nothing more: `--column-statistics=0` is a
 * fix for MySQL's own mysqldump 8 (which queries a table MariaDB lacks), and mariadb-dump never
 * writes MySQL 8's `SET @@GLOBAL.GTID_PURGED` (which RDS refuses on load). The output starts with
 * `/*M!999999\- enable the sandbox mode *\/`, which the mariadb client (the only loader used)
 * understands. Not verified here (no MySQL 8 server on these machines): tables with INVISIBLE
 * columns (MySQL 8.0.23+), whose hidden values a `SELECT *` dump does not carry.
 *
 * DEFINER clauses are kept, but the customer's own logins (from any host, and the rotation twin)
 * become the restoring user (`ownDefinersExpression`): they load as they were. An object whose definer is another account needs
 * SUPER / SET USER (MariaDB) or SET_USER_ID / SET_ANY_DEFINER (MySQL 8) to be created, which an
 * addon's user (and an RDS master user) lacks: the load stops with ERROR 1227, the staging
 * database is dropped, and the customer's database is untouched. On RDS with binary logging on,
 * functions without DETERMINISTIC / NO SQL / READS SQL DATA also need the parameter
 * log_bin_trust_function_creators=1.
 */
export const DUMP_FLAGS = [
  '--single-transaction',
  '--routines',
  '--triggers',
  '--events',
  '--hex-blob',
  '--default-character-set=utf8mb4',
  '--no-tablespaces',
  '--skip-add-locks',
  '--max-allowed-packet=1G',
];

/**
 * mariadb-dump's last line (with comments on, the default): a dump that lacks it was cut short,
 * even at a statement boundary where the loader would see nothing wrong.
 */
/**
 * mariadb-dump names the dumped database in one kind of statement: when the database's default
 * collation changed after a routine, trigger or event was created, it wraps that object in
 * `ALTER DATABASE \`db\` CHARACTER SET ... COLLATE ...` and back. Loaded as is, those would
 * change the customer's live database before the point of no return (or fail when restoring
 * into another name). Without the name, ALTER DATABASE applies to the current database: the
 * staging one. Only statement starts match: mariadb-dump escapes newlines inside row values,
 * so no row can start a line with it.
 */
const UNNAME_ALTER_DATABASE = 's/^ALTER DATABASE `([^`]|``)*` /ALTER DATABASE /';
const SED: Tool = { name: 'sed', path: 'sed', install: 'apt-get install sed' };

/** A sed -E pattern matching `name` literally. */
const literalPattern = (name: string): string => name.replace(/[^A-Za-z0-9_]/g, (char) => `\\${char}`);

/**
 * The customer's own logins as DEFINERs become the restoring one (`DEFINER=CURRENT_USER`): the
 * same user from another host (the local target has one account per allowed source, and `'%'`
 * before host rules) or its rotation twin (`<user>_2`) is another account to the server, and
 * creating an object for another account needs SUPER / SET USER, which the addon's user lacks.
 * Other definers are left as they are (the load then fails cleanly, as documented above). Lines of
 * data (`INSERT INTO`, one statement a line in mariadb-dump's output) are never touched.
 */
export const ownDefinersExpression = (username: string): string => {
  const owner = username.endsWith('_2') ? [username.slice(0, -2)] : [];
  const logins = [...new Set([username, `${username}_2`, ...owner])].map(literalPattern).join('|');
  return `/^INSERT INTO /!s/DEFINER=\`(${logins})\`@\`([^\`]|\`\`)*\`/DEFINER=CURRENT_USER/g`;
};

const DUMP_END = /\n-- Dump completed(?: on [^\n]*)?\n*$/;
const HELD_BYTES = 4096;

/** Client error numbers (CR_*, ER_*) of a server that is away, restarting or busy. */
const TRANSIENT_MESSAGE =
  /ERROR (2002|2003|2006|2013|2055|1040|1053|1205|1213|1927)\b|Got error: (2002|2003|2006|2013|2055|1040|1053)\b|Lost connection to (MySQL |MariaDB )?server|server has gone away|Can't connect to (MySQL |MariaDB )?server|Too many connections|Server shutdown in progress|Lock wait timeout exceeded|Deadlock found/i;
/** Refused at connection time (no `at line N`: not a statement of the dump). */
const CONNECTION_REFUSED =
  /ERROR 104[45] \(\w+\): Access denied for user|ERROR 1049 \(\w+\): Unknown database|Got error: 10(44|45|49)\b/;

export class MysqlDumpTool implements DumpTool {
  readonly engine = 'mysql' as const;

  async inspect(connection: Credentials, _applicationName: string): Promise<ServerInfo> {
    const client = await connectMysql(connection);
    try {
      const [rows] = await client.query<RowDataPacket[]>(
        `SELECT VERSION() AS version,
                (SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES
                  WHERE TABLE_SCHEMA = DATABASE()) AS bytes`,
      );
      const row = rows[0];
      if (!row) throw new ProviderError('The server did not report its version', 'ConnectionFailed');
      return { ...parseMysqlVersion(String(row.version)), databaseBytes: Number(row.bytes) };
    } catch (error) {
      throw connectionFailure(error, connection);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async dumpCommand(
    connection: Credentials,
    _server: ServerInfo,
    _applicationName: string,
  ): Promise<DumpCommand> {
    const tool = await resolveMysqlTool('mariadb-dump');
    return {
      tool,
      toolVersion: tool.version,
      // `--` ends the options: a database name cannot be read as one.
      args: [...clientArgs(connection), ...DUMP_FLAGS, '--', connection.database],
      env: clientEnv(connection),
    };
  }

  /**
   * The staging-database restore (see staging.ts). Preparing resolves what an earlier run left:
   * the marker of THIS restore means it was loaded and verified before a crash, and the plan only
   * rolls forward (`alreadyLoaded`); a swapped restore of another id is finished first (its
   * tables are already in place, only its objects and leftovers remain); anything else is dropped.
   */
  async prepareRestore(
    connection: Credentials,
    _server: ServerInfo,
    options: { applicationName: string; restoreId: string; lockTimeoutMs: number },
  ): Promise<RestorePlan> {
    const target = connection.database;
    if (target === STAGING_DB || target === RETIRED_DB) {
      throw new ProviderError(`The database ${target} is reserved for restores`, 'RestoreFailed');
    }
    const { restoreId, lockTimeoutMs } = options;
    const loader = await resolveMysqlTool('mariadb');
    const withClient = async <T>(work: (client: MysqlConnection) => Promise<T>): Promise<T> => {
      const client = await connectMysql(connection);
      try {
        return await work(client);
      } catch (error) {
        throw restoreFailure(error, connection);
      } finally {
        await client.end().catch(() => undefined);
      }
    };
    const alreadyLoaded = await withClient(async (client) => {
      const marker = await findMarker(client);
      if (marker?.restoreId === restoreId) return true;
      if (marker?.database === RETIRED_DB) await rollForward(client, target, lockTimeoutMs);
      await createStaging(client, target);
      return false;
    });
    const plan: RestorePlan = {
      toolVersion: loader.version,
      filters: [
        {
          tool: SED,
          args: ['-E', '-e', UNNAME_ALTER_DATABASE, '-e', ownDefinersExpression(connection.username)],
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
        },
      ],
      loader: {
        tool: loader,
        args: [
          ...clientArgs(connection),
          '--connect-timeout=15',
          `--database=${STAGING_DB}`,
          '--batch',
          // The dump's bytes go to the server as they are: no escape processing of \0 or \r.
          '--binary-mode',
          '--default-character-set=utf8mb4',
          '--max-allowed-packet=1G',
        ],
        env: clientEnv(connection),
      },
      heldTail: { bytes: HELD_BYTES, isComplete: (tail) => DUMP_END.test(tail) },
      commit: async (signal) => {
        await withClient(async (client) => {
          if (!alreadyLoaded) {
            if (signal?.aborted) throw abortedError('restore', signal);
            // The point of no return; an abort from here on is too late to honour.
            await writeMarker(client, restoreId);
          }
          await rollForward(client, target, lockTimeoutMs);
        });
      },
      discard: async () => {
        await withClient(async (client) => {
          const marker = await findMarker(client);
          // A committed restore is kept for the next run to finish.
          if (marker?.restoreId === restoreId) return;
          await dropStaging(client);
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

/** A control statement's failure: lost connections and lock timeouts can be retried. */
const restoreFailure = (error: unknown, connection: Credentials): Error => {
  if (error instanceof ProviderError || error instanceof TransientError) return error;
  const message = `The restore of ${connection.database} failed: ${errorMessage(error)}`;
  return isTransientMysqlError(error)
    ? new TransientError(message, { cause: error })
    : new ProviderError(message, 'RestoreFailed', { cause: error });
};
