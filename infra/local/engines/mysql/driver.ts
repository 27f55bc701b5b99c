import fs from 'node:fs/promises';
import path from 'node:path';
import { RESERVED_DATABASES } from '#shared/engines/mysql/index.ts';
import type { FieldIssue } from '#shared/errors.ts';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import type { InstanceSpec } from '#shared/ports/engine-provider.ts';
import type { EngineDriver, InstanceContext, Probe, SnapshotDriver, StartFailure } from '../driver.ts';
import { settlingAccess } from '../settle-access.ts';
import { localTargetIssues, nameFieldIssues, passwordIssues, rejectIssues } from '../spec-checks.ts';
import { engineEnv, isRoot, replaceFile, runLogged, serverFromPidFile } from '../system.ts';
import {
  INSTALL_CLEANUP_SQL,
  PLATFORM_ROLE,
  platformAccountSql,
  RESERVED_USERNAMES,
  settleCustomer,
} from './accounts.ts';
import { serverMajor, tool } from './binaries.ts';
import { platformRoleOf, probeMySql, withPlatform } from './connect.ts';
import { hostRulesSql, networkingArgs } from './hosts.ts';
import { mysqlLogins } from './logins.ts';
import { mariaDbReplicas } from './replicas.ts';
import { BINLOG_SETTINGS, initFilePath, PID_FILE, SERVER_SETTINGS, socketPath } from './settings.ts';
import { planSettings } from './sizing.ts';
import { MariaDbSnapshots } from './snapshots.ts';
import { readOnlyInitSql, setReadOnly } from './storage.ts';

/** MySQL 8 stops user names at 32 characters (MariaDB at 80): addons stay portable between targets. */
const MAX_USERNAME = 32;
const MAX_DATABASE = 64;

/** User and database names: not the server's own, and portable to MySQL 8 on AWS. */
const nameIssues = (spec: InstanceSpec): FieldIssue[] => {
  return [
    ...nameFieldIssues('username', spec.username, {
      reserved: RESERVED_USERNAMES.includes(spec.username.toLowerCase()),
      pattern: /^[A-Za-z0-9_]+$/,
      max: MAX_USERNAME,
      allowed: 'letters, digits or underscores',
    }),
    ...nameFieldIssues('database', spec.database, {
      reserved: RESERVED_DATABASES.includes(spec.database.toLowerCase()),
      pattern: /^[A-Za-z0-9_]+$/,
      max: MAX_DATABASE,
      allowed: 'letters, digits or underscores',
    }),
  ];
};

/**
 * The local MySQL engine: MariaDB from the system's packages (Debian 12: 10.11), one `mariadbd`
 * per addon, listening on 127.0.0.1 and on a Unix socket inside its instance directory, running
 * as the instance's own OS user (the supervisor spawns it with that uid, so it never needs
 * `--user`). `--no-defaults` everywhere: the machine's /etc/mysql configuration never applies.
 */
export class MariaDbDriver implements EngineDriver {
  readonly engine = 'mysql' as const;
  readonly displayName = 'MariaDB';
  readonly platformRole = PLATFORM_ROLE;
  // SIGTERM: normal shutdown (InnoDB's fast shutdown flushes the log, not every page). Immediate is
  // SIGKILL: mariadbd has no "stop now" signal, and InnoDB recovers from its redo log at next start.
  readonly signals = { graceful: 'SIGTERM', immediate: 'SIGKILL' } as const;
  readonly snapshots: SnapshotDriver = new MariaDbSnapshots();
  /** Read replicas following the primary's binary log by GTID (replicas.ts). */
  readonly replicas = mariaDbReplicas;
  readonly logins = mysqlLogins;
  /** TLS (require_secure_transport) and public listening with one account per allowed source (hosts.ts). */
  readonly networking = { tls: true, public: true };
  /** Storage full: read-only by the server's read_only (storage.ts). */
  readonly setReadOnly = setReadOnly;

  async checkSupported(spec: InstanceSpec): Promise<void> {
    const major = await serverMajor();
    rejectIssues('MySQL', [
      ...localTargetIssues(spec, major, `the local target runs MariaDB ${major} for MySQL addons`, {
        ...this.networking,
        replicas: true,
      }),
      ...nameIssues(spec),
      ...passwordIssues(spec, /[\r\n\0]/),
    ]);
  }

  async initialise(ctx: InstanceContext): Promise<void> {
    this.assertUnprivileged(ctx);
    const installDb = await tool('mariadb-install-db');
    // The engine user reads it; it holds no secret (the platform's account comes with --init-file).
    const cleanup = path.join(ctx.socketDir, 'install-cleanup.sql');
    await replaceFile(cleanup, INSTALL_CLEANUP_SQL, ctx.runAs);
    try {
      await runLogged(
        installDb,
        [
          '--no-defaults',
          `--datadir=${ctx.dataDir}`,
          '--auth-root-authentication-method=socket',
          '--skip-test-db',
          '--skip-name-resolve',
          `--extra-file=${cleanup}`,
          ...SERVER_SETTINGS,
        ],
        {
          runAs: ctx.runAs,
          env: engineEnv(),
          cwd: ctx.dataDir,
          logFile: ctx.logFile,
          what: 'mariadb-install-db',
        },
      );
    } finally {
      await fs.rm(cleanup, { force: true });
    }
    // mariadb-install-db's closing banner describes root accounts the cleanup script removed.
    await fs.appendFile(
      ctx.logFile,
      `--- addons: the accounts above were removed; the platform's own account is set at every start ---\n`,
    );
  }

  async serverCommand(ctx: InstanceContext) {
    this.assertUnprivileged(ctx);
    const mariadbd = await tool('mariadbd');
    const initFile = initFilePath(ctx);
    // Every start: the platform's account as instance.json says, whatever data this is; read-only
    // while the record says the storage is full (storage.ts); the customer's accounts for the
    // allowed sources only (hosts.ts), last, since the server stops reading at a failed statement.
    const hostRules = `${hostRulesSql(ctx.record).join('\n')}\n`;
    await replaceFile(
      initFile,
      platformAccountSql(platformRoleOf(ctx)) + readOnlyInitSql(ctx) + hostRules,
      ctx.runAs,
    );
    const args = [
      '--no-defaults',
      `--datadir=${ctx.dataDir}`,
      `--socket=${socketPath(ctx)}`,
      `--port=${ctx.record.port}`,
      // The listen address; TLS with require_secure_transport while the record says so (hosts.ts).
      ...(await networkingArgs(ctx)),
      `--pid-file=${path.join(ctx.dataDir, PID_FILE)}`,
      `--init-file=${initFile}`,
      // Temporary tables and sort files: the engine user's directory, not the machine's /tmp.
      `--tmpdir=${ctx.socketDir}`,
      // Accounts match 127.0.0.1 / localhost, never a DNS answer; and no lookups on connect.
      '--skip-name-resolve',
      // Level 2 logs every probe (a handshake closed without authentication) to server.log.
      '--log-warnings=1',
      ...SERVER_SETTINGS,
      // The plan's memory: innodb_buffer_pool_size, max_connections (sizing.ts).
      ...planSettings(ctx.record),
      // What read replicas follow (replicas.ts).
      ...BINLOG_SETTINGS,
    ];
    return { command: mariadbd, args, env: engineEnv() };
  }

  async bootstrap(ctx: InstanceContext, spec: InstanceSpec): Promise<void> {
    try {
      await withPlatform(ctx, (connection) =>
        settleCustomer(connection, ctx.record, {
          username: spec.username,
          database: spec.database,
          password: spec.password,
        }),
      );
    } catch (error) {
      throw new ProviderError(`Could not create database '${spec.database}': ${errorMessage(error)}`);
    }
  }

  async setCustomerPassword(ctx: InstanceContext, password: string): Promise<void> {
    const { username, database } = ctx.record;
    await withPlatform(ctx, (connection) =>
      settleCustomer(connection, ctx.record, { username, database, password }),
    );
  }

  async settleAccess(ctx: InstanceContext): Promise<void> {
    const { username, database } = ctx.record;
    await settlingAccess('accounts', () =>
      withPlatform(ctx, (connection) => settleCustomer(connection, ctx.record, { username, database })),
    );
  }

  probe(ctx: InstanceContext, timeoutMs: number): Promise<Probe> {
    return probeMySql(ctx.record.host, ctx.record.port, timeoutMs);
  }

  findLeftover(ctx: InstanceContext): Promise<number | undefined> {
    return serverFromPidFile(ctx.dataDir, PID_FILE);
  }

  async clearStaleLocks(ctx: InstanceContext): Promise<void> {
    // mariadbd overwrites a stale pid file and replaces a socket nobody listens on; removing them
    // keeps findLeftover and describeInstance from reading a dead server's pid meanwhile.
    await fs.rm(path.join(ctx.dataDir, PID_FILE), { force: true });
    const socket = path.join(ctx.socketDir, 'mysqld.sock');
    await Promise.all([socket, `${socket}.lock`].map((file) => fs.rm(file, { force: true })));
  }

  classifyStartFailure(logTail: string): StartFailure {
    // A server still exiting on this data directory or socket: retry.
    if (/Bind on unix socket|Unable to lock .*ibdata1|another server running on socket/i.test(logTail))
      return 'transient';
    if (/Bind on TCP\/IP port|Address already in use|another server running on port/i.test(logTail))
      return 'port-in-use';
    return 'fatal';
  }

  /** As root, the engine runs as the instance's own user; never as root itself. */
  private assertUnprivileged(ctx: InstanceContext): void {
    if (isRoot() && !ctx.runAs) {
      throw new ProviderError(
        `Instance ${ctx.resourceId} has no unprivileged OS user to run MariaDB as`,
        'EngineUserMissing',
      );
    }
  }
}
