import pg from 'pg';
import { errorMessage, ProviderError } from '../../errors.ts';
import type { Credentials } from '../../schemas/addon.ts';
import { JOB_APPLICATION_NAMES } from '../application-names.ts';
import type { DumpCommand, ServerInfo } from '../dump-tool.ts';
import { type LiveSourceTool, majorNotNewer } from '../live-source.ts';
import { resolvePgTool } from './postgres.ts';

const APPLICATION_NAME = JOB_APPLICATION_NAMES.liveSource;

/** libpq's settings for the source: TLS as its connection string asks, nothing from our env. */
const sourceEnv = (source: Credentials): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  LC_ALL: 'C',
  PGHOST: source.host,
  PGPORT: String(source.port),
  PGUSER: source.username,
  PGPASSWORD: source.password,
  PGDATABASE: source.database,
  PGAPPNAME: APPLICATION_NAME,
  PGCONNECT_TIMEOUT: '15',
  PGSSLMODE: source.tls ? 'require' : 'prefer',
});

/**
 * A PostgreSQL live source, read with `pg_dump --format=custom --compress=0` of the source's
 * major (or newer): the same archive a dump backup holds, so the addon's restore plan (pg_restore
 * into one transaction held back until pg_dump exited 0) loads it unchanged.
 */
export class PostgresLiveSource implements LiveSourceTool {
  constructor(private readonly binDir: string | undefined = process.env.ADDONS_PG_BIN_DIR || undefined) {}

  async inspect(source: Credentials): Promise<ServerInfo> {
    const client = new pg.Client({
      host: source.host,
      port: source.port,
      user: source.username,
      password: source.password,
      database: source.database,
      application_name: APPLICATION_NAME,
      ssl: source.tls ? { rejectUnauthorized: false } : false,
      connectionTimeoutMillis: 15_000,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ num: string; version: string; size: string }>(
        `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
                pg_database_size(current_database())::text AS size`,
      );
      const row = rows[0];
      if (!row) throw new ProviderError('The source did not report its version', 'SourceRefused');
      return {
        major: String(Math.floor(Number(row.num) / 10_000)),
        version: row.version.split(' ')[0] ?? row.version,
        databaseBytes: Number(row.size),
      };
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      throw new ProviderError(
        `The source PostgreSQL at ${source.host}:${source.port} refused database ${source.database} as ${source.username}: ${errorMessage(error)}`,
        'SourceRefused',
        { cause: error },
      );
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  loadsInto(source: ServerInfo, addon: ServerInfo): boolean {
    return majorNotNewer(source.major, addon.major);
  }

  async dumpCommand(source: Credentials, server: ServerInfo): Promise<DumpCommand> {
    const pgDump = await resolvePgTool('pg_dump', Number(server.major), this.binDir);
    return {
      tool: pgDump,
      args: ['--format=custom', '--compress=0', '--no-password'],
      env: sourceEnv(source),
      toolVersion: pgDump.version,
    };
  }
}
