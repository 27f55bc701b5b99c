import path from 'node:path';
import type { InstanceContext } from '../driver.ts';
import { instanceSocketPath } from '../system.ts';

/**
 * Server settings for a developer's machine running several addons side by side, passed to
 * `mariadb-install-db` (which creates the redo log with them) and to every start alike. MariaDB's
 * defaults size caches for a dedicated server (128 MiB buffer pool, 128 MiB Aria page cache,
 * 2000 open tables, about 120 MiB resident at start); these keep an idle instance near 60 MiB.
 * The redo log stays large enough that loading a dump is not throttled by checkpoints.
 */
export const SERVER_SETTINGS = [
  '--character-set-server=utf8mb4',
  '--collation-server=utf8mb4_unicode_ci',
  '--innodb-buffer-pool-size=64M',
  '--innodb-log-file-size=64M',
  '--innodb-log-buffer-size=8M',
  '--key-buffer-size=4M',
  '--aria-pagecache-buffer-size=8M',
  '--table-open-cache=400',
  '--table-definition-cache=400',
  '--max-connections=100',
  // DATA DIRECTORY / INDEX DIRECTORY would put a customer's files outside the data directory.
  '--skip-symbolic-links',
];

/**
 * The primary's binary log, which read replicas follow (replicas.ts): in the data directory, row
 * events (the grant-table changes of hosts.ts replay exactly), MariaDB's GTIDs (always on with a
 * binary log), files of 16 MiB kept a day, so an idle addon's log stays small (it counts against
 * the storage the guard measures). Every primary has it from its next start; `server_id` 1 is the
 * primary's, its replicas take 2 and up.
 */
export const BINLOG_SETTINGS = [
  '--log-bin=mysql-bin',
  '--server-id=1',
  '--binlog-format=ROW',
  '--max-binlog-size=16M',
  '--binlog-expire-logs-seconds=86400',
  // With a binary log MariaDB refuses CREATE TRIGGER, FUNCTION and PROCEDURE to an account without
  // SUPER (ERROR 1419), which the customer is not given. The risk it guards against is a
  // non-deterministic routine replayed differently from a statement-format log; this log is in
  // row format, which records the rows changed, not the statements.
  '--log-bin-trust-function-creators=1',
];

/** The character set and collation of the customer's database (and of the restore staging one). */
export const DATABASE_CHARSET = 'CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci';

/** Written by the server in its data directory (so each data directory of a restore has its own). */
export const PID_FILE = 'mariadbd.pid';

/**
 * The server's Unix socket, in the instance's `run/` (0700, the engine user's): the platform's
 * account is reachable there only. Unlike PostgreSQL there is no TCP fallback for it, so a path
 * too long is an error that says what to do.
 */
export const socketPath = (ctx: InstanceContext): string => instanceSocketPath(ctx.socketDir, 'mysqld.sock');

/** SQL the server runs at every start (`--init-file`): the platform's account, as instance.json says. */
export const initFilePath = (ctx: InstanceContext): string =>
  path.join(ctx.socketDir, 'platform-account.sql');
