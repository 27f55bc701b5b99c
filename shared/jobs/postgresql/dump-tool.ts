import { ProviderError, TransientError } from '../../errors.ts';
import type { Credentials } from '../../schemas/addon.ts';
import type { DumpCommand, DumpTool, RestorePlan, RestorePlanOptions, ServerInfo } from '../dump-tool.ts';
import { inspectServer, libpqEnv, resolvePgTool } from './postgres.ts';
import { restorePrelude } from './restore-prelude.ts';

/** The script's final COMMIT sits in its last few hundred bytes; hold back far more than that. */
const HELD_SCRIPT_BYTES = 64 * 1024;

/**
 * Run by psql after a script that must have committed: fails while a transaction that wrote is
 * still open (the script ended before its COMMIT), so that psql exits non-zero and the server
 * rolls back when it disconnects.
 */
const SCRIPT_COMMITTED = `DO $addons_check$ BEGIN IF txid_current_if_assigned() IS NOT NULL THEN RAISE EXCEPTION 'the restore script ended before its COMMIT'; END IF; END $addons_check$`;

const PSQL_ARGS = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--no-password'];

/**
 * libpq messages of a server that went away or is not there yet (a restart, a failover, a
 * terminated backend): running the job again later may well work.
 */
export const looksTransient = (message: string): boolean =>
  /server closed the connection unexpectedly|terminating connection|could not connect|Connection refused|connection timed out|timeout expired|the database system is (starting up|shutting down|in recovery mode)|too many clients/i.test(
    message,
  );

export interface PostgresDumpToolOptions {
  /**
   * Directory of pg_dump, pg_restore and psql; else /usr/lib/postgresql/<major>/bin, then PATH.
   * Defaults to ADDONS_PG_BIN_DIR of the job's environment.
   */
  binDir?: string;
}

/**
 * PostgreSQL dumps and restores with the client tools of the server's major (or newer):
 *
 * - dump: `pg_dump --format=custom --compress=0` (the pipeline compresses, on another core);
 * - restore: `pg_restore -f -` turns the archive into one script (`--single-transaction`: one
 *   BEGIN ... COMMIT, and no COMMITs of its own around large objects), and psql runs it after a
 *   prelude that empties the database in the same transaction. Nothing is visible to other
 *   sessions until the COMMIT, the script's last statement, which the pipeline holds back until
 *   the artifact is verified; any failure before kills psql and the server rolls back.
 *
 * Restoring into a fresh database and renaming it into place would give the same atomicity but
 * needs CREATEDB, twice the disk, connection termination, and loses database-level settings;
 * pg_restore --clean alone would leave tables created after the backup in place.
 */
export class PostgresDumpTool implements DumpTool {
  readonly engine = 'postgresql' as const;
  private readonly binDir: string | undefined;

  constructor(options: PostgresDumpToolOptions = {}, env: NodeJS.ProcessEnv = process.env) {
    this.binDir = options.binDir ?? (env.ADDONS_PG_BIN_DIR || undefined);
  }

  inspect(connection: Credentials, applicationName: string): Promise<ServerInfo> {
    return inspectServer(connection, applicationName);
  }

  async dumpCommand(
    connection: Credentials,
    server: ServerInfo,
    applicationName: string,
  ): Promise<DumpCommand> {
    const pgDump = await resolvePgTool('pg_dump', Number(server.major), this.binDir);
    return {
      tool: pgDump,
      args: ['--format=custom', '--compress=0', '--no-password'],
      env: libpqEnv(connection, applicationName),
      toolVersion: pgDump.version,
    };
  }

  async prepareRestore(
    connection: Credentials,
    server: ServerInfo,
    options: RestorePlanOptions,
  ): Promise<RestorePlan> {
    const major = Number(server.major);
    if (options.format === 'mysql-sql') {
      throw new ProviderError('A MySQL dump cannot be restored into PostgreSQL', 'UnsupportedFormat');
    }
    if (options.format === 'pg-plain') return this.plainRestore(connection, major, options);
    const [pgRestore, psql] = await Promise.all([
      resolvePgTool('pg_restore', major, this.binDir),
      resolvePgTool('psql', major, this.binDir),
    ]);
    const prelude = restorePrelude(options.lockTimeoutMs);
    return {
      toolVersion: pgRestore.version,
      filters: [
        {
          tool: pgRestore,
          args: [
            '--format=custom',
            '--file=-',
            '--single-transaction',
            '--clean',
            '--if-exists',
            '--no-owner',
            '--no-acl',
          ],
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
        },
      ],
      loader: { tool: psql, args: PSQL_ARGS, env: libpqEnv(connection, options.applicationName) },
      prelude,
      // pg_restore reads a custom-format archive from a pipe in order and writes the script's
      // COMMIT after the archive's last data block, which ends at the archive's last byte: a
      // truncated archive gives a script without it.
      // psql runs its -c and -f options in order, in one session.
      direct: { loaderArgs: [...PSQL_ARGS, '-c', prelude, '-f', '-', '-c', SCRIPT_COMMITTED] },
      // Should pg_restore ever put its COMMIT elsewhere, the restore fails rather than commit
      // unverified data.
      heldTail: { bytes: HELD_SCRIPT_BYTES, isComplete: (tail) => /^COMMIT;$/m.test(tail) },
    };
  }

  /**
   * An uploaded SQL script (a plain-format dump): psql runs it straight after the prelude, inside
   * the prelude's transaction, and the COMMIT the pipeline appends once the file is verified ends
   * it. A script that fails (ON_ERROR_STOP) or is cut short is rolled back as a whole. A script
   * with transaction control of its own (COMMIT, ROLLBACK) or `\connect` steps outside that
   * transaction: dumps of one database have neither.
   */
  private async plainRestore(
    connection: Credentials,
    major: number,
    options: RestorePlanOptions,
  ): Promise<RestorePlan> {
    const psql = await resolvePgTool('psql', major, this.binDir);
    return {
      toolVersion: psql.version,
      filters: [],
      loader: { tool: psql, args: PSQL_ARGS, env: libpqEnv(connection, options.applicationName) },
      prelude: restorePrelude(options.lockTimeoutMs),
      // Nothing to recognise at the end of a user's script: the COMMIT is ours.
      heldTail: { bytes: HELD_SCRIPT_BYTES, isComplete: () => true, epilogue: '\n;\nCOMMIT;\n' },
    };
  }

  classifyFailure(message: string, phase: 'dump' | 'restore'): Error {
    if (phase === 'dump' && /server version mismatch/i.test(message)) {
      return new ProviderError(`${message}\nInstall a pg_dump of the server's major version`, 'ToolTooOld');
    }
    if (looksTransient(message)) return new TransientError(message);
    return new ProviderError(message, phase === 'dump' ? 'DumpFailed' : 'RestoreFailed');
  }
}
