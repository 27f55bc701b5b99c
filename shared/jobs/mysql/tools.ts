import { join } from 'node:path';
import { MissingToolError } from '../../errors.ts';
import { type Tool, toolVersion } from '../processes.ts';

/** The client tools MySQL jobs run; each is tried under its MariaDB name, then its MySQL alias. */
export type MysqlToolName = 'mariadb-dump' | 'mariadb';

const ALIASES: Record<MysqlToolName, string[]> = {
  'mariadb-dump': ['mariadb-dump', 'mysqldump'],
  mariadb: ['mariadb', 'mysql'],
};

export const MYSQL_INSTALL_HINT = 'apt-get install mariadb-client (Debian)';

export interface MysqlTool extends Tool {
  /** First line of `--version`, e.g. `mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, ...`. */
  version: string;
}

/**
 * The MariaDB client tools serve both MariaDB and MySQL servers, from 5.7 to 8.4: the dump format
 * is plain SQL, so unlike pg_dump there is no version floor to check. ADDONS_MYSQL_BIN_DIR points
 * at another installation; otherwise PATH decides. Only the MariaDB builds are wanted: a MySQL
 * `mysqldump` found under the alias would need other flags (`--column-statistics=0` against
 * MariaDB, no `--no-tablespaces` before 8.0), so its `--version` must say MariaDB.
 */
export const resolveMysqlTool = async (
  name: MysqlToolName,
  binDir = process.env.ADDONS_MYSQL_BIN_DIR,
): Promise<MysqlTool> => {
  let other: string | undefined;
  for (const candidate of ALIASES[name]) {
    const tool: Tool = {
      name,
      path: binDir ? join(binDir, candidate) : candidate,
      install: MYSQL_INSTALL_HINT,
    };
    try {
      const version = await toolVersion(tool);
      if (/MariaDB/i.test(version)) return { ...tool, version };
      other ??= `${tool.path} is not MariaDB's (${version})`;
    } catch (error) {
      if (!(error instanceof MissingToolError)) throw error;
    }
  }
  throw new MissingToolError(name, other ? `${MYSQL_INSTALL_HINT}; ${other}` : MYSQL_INSTALL_HINT);
};
