import mysql from 'mysql2/promise';
import { errorMessage, ProviderError } from '../../errors.ts';
import type { Credentials } from '../../schemas/addon.ts';
import type { DumpCommand, ServerInfo } from '../dump-tool.ts';
import { type LiveSourceTool, majorNotNewer } from '../live-source.ts';
import { clientArgs, clientEnv } from './connection.ts';
import { DUMP_FLAGS, parseMysqlVersion } from './dump-tool.ts';
import { resolveMysqlTool } from './tools.ts';

/**
 * A MySQL or MariaDB live source, read with `mariadb-dump --single-transaction` (one consistent
 * InnoDB snapshot, no locks held on the source's tables): the same SQL a dump backup holds, so the
 * addon's restore plan (a staging database swapped in once the dump ended) loads it unchanged.
 * TLS follows the connection string (`--ssl`, not verified), never the job's addon settings.
 */
export class MysqlLiveSource implements LiveSourceTool {
  async inspect(source: Credentials): Promise<ServerInfo> {
    let client: mysql.Connection | undefined;
    try {
      client = await mysql.createConnection({
        host: source.host,
        port: source.port,
        user: source.username,
        password: source.password,
        database: source.database,
        connectTimeout: 15_000,
        ...(source.tls ? { ssl: { rejectUnauthorized: false } } : {}),
      });
      client.on('error', () => undefined);
      const [rows] = await client.query<mysql.RowDataPacket[]>(
        `SELECT VERSION() AS version,
                (SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES
                  WHERE TABLE_SCHEMA = DATABASE()) AS bytes`,
      );
      const row = rows[0];
      if (!row) throw new ProviderError('The source did not report its version', 'SourceRefused');
      return { ...parseMysqlVersion(String(row.version)), databaseBytes: Number(row.bytes) };
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      throw new ProviderError(
        `The source MySQL at ${source.host}:${source.port} refused database ${source.database} as ${source.username}: ${errorMessage(error)}`,
        'SourceRefused',
        { cause: error },
      );
    } finally {
      await client?.end().catch(() => undefined);
    }
  }

  /**
   * Majors compare within one line of servers (MySQL 8.0 -> 8.4, MariaDB 10.6 -> 10.11); MySQL
   * into MariaDB or back is left to the load, which fails cleanly on what the addon cannot read.
   */
  loadsInto(source: ServerInfo, addon: ServerInfo): boolean {
    const mariadb = (info: ServerInfo) => /mariadb/i.test(info.version);
    return mariadb(source) !== mariadb(addon) || majorNotNewer(source.major, addon.major);
  }

  async dumpCommand(source: Credentials, _server: ServerInfo): Promise<DumpCommand> {
    const tool = await resolveMysqlTool('mariadb-dump');
    // An empty environment for clientArgs: the job's verify-identity settings are for addons.
    const tls = source.tls ? ['--ssl'] : [];
    return {
      tool,
      toolVersion: tool.version,
      args: [...clientArgs({ ...source, tls: false }, {}), ...tls, ...DUMP_FLAGS, '--', source.database],
      env: clientEnv(source),
    };
  }
}
