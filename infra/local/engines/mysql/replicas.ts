import fs from 'node:fs/promises';
import path from 'node:path';
import type { Connection } from 'mysql2/promise';
import { ProviderError } from '#shared/errors.ts';
import type { InstanceContext, ReplicaDriver } from '../driver.ts';
import { REPLICATION_USER, replicationPassword } from '../logins.ts';
import { networkingOf } from '../networking.ts';
import { engineEnv, readFileNoFollow, replaceFile, runLogged } from '../system.ts';
import { ensureServerCertificate } from '../tls.ts';
import { literal, nativePasswordHash } from './accounts.ts';
import { tool } from './binaries.ts';
import { platformRoleOf, withPlatform } from './connect.ts';
import { PRIVATE_HOST } from './hosts.ts';
import { PID_FILE, SERVER_SETTINGS, socketPath } from './settings.ts';
import { planSettings } from './sizing.ts';
import { BACKUP_ONLY_FILES, UPGRADE_INFO } from './snapshots.ts';

/** mariadb-backup's record of the binary log position of the copy: file, offset, GTID. */
const BINLOG_INFO = 'xtrabackup_binlog_info';
/** The primary's CA, in the replica's `run/`: the replica's server verifies the primary with it. */
const PRIMARY_CA = 'primary-ca.pem';
/** How long a new replica may take to connect and replay up to the primary. */
const FOLLOW_TIMEOUT_MS = 30_000;

/** The replication account on the primary: 127.0.0.1 only (the replicas' address), REPLICATION SLAVE only. */
const replicationAccount = `${literal(REPLICATION_USER)}@${literal(PRIVATE_HOST)}`;

/** `2` for `<id>-replica-1`: the primary is server 1 (settings.ts). */
const serverIdOf = (replica: InstanceContext): number =>
  Number(/-replica-(\d+)$/.exec(replica.resourceId)?.[1] ?? 0) + 1;

/** The replication account, as the platform wants it (idempotent). Replicated to the replicas, where it is unused. */
const ensureReplicationAccount = async (primary: InstanceContext): Promise<void> => {
  const hash = literal(nativePasswordHash(replicationPassword(platformRoleOf(primary))));
  await withPlatform(primary, async (connection) => {
    const [rows] = await connection.query('SELECT @@log_bin AS logBin');
    if (Number((rows as Array<{ logBin: number }>)[0]?.logBin) !== 1) {
      throw new ProviderError(
        'This MySQL instance runs without a binary log (it was started before read replicas existed): it gets one at its next start, e.g. a plan change or a platform restart; then add the replicas again',
        'ReplicaSource',
      );
    }
    await connection.query(`CREATE USER IF NOT EXISTS ${replicationAccount} IDENTIFIED BY PASSWORD ${hash}`);
    await connection.query(`ALTER USER ${replicationAccount} IDENTIFIED BY PASSWORD ${hash} ACCOUNT UNLOCK`);
    await connection.query(`REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${replicationAccount}`);
    await connection.query(`GRANT REPLICATION SLAVE ON *.* TO ${replicationAccount}`);
  });
};

interface SlaveStatus {
  Slave_IO_Running?: string;
  Slave_SQL_Running?: string;
  Last_IO_Error?: string;
  Last_SQL_Error?: string;
  Seconds_Behind_Master?: number | null;
}

const slaveStatus = async (connection: Connection): Promise<SlaveStatus | undefined> => {
  const [rows] = await connection.query('SHOW SLAVE STATUS');
  return (rows as SlaveStatus[])[0];
};

/** Until both replication threads run and the replica has caught up, or the reason it does not. */
const waitFollowing = async (connection: Connection, signal: AbortSignal): Promise<void> => {
  const deadline = Date.now() + FOLLOW_TIMEOUT_MS;
  for (;;) {
    signal.throwIfAborted();
    const status = await slaveStatus(connection);
    if (
      status?.Slave_IO_Running === 'Yes' &&
      status.Slave_SQL_Running === 'Yes' &&
      status.Seconds_Behind_Master === 0
    )
      return;
    const error = status?.Last_SQL_Error || (status?.Slave_SQL_Running === 'No' && status.Last_IO_Error);
    if (error || Date.now() > deadline) {
      throw new ProviderError(
        `The replica does not follow its primary: ${error || status?.Last_IO_Error || `IO ${status?.Slave_IO_Running}, SQL ${status?.Slave_SQL_Running}`}`,
        'ReplicaFollow',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

/**
 * MariaDB read replicas: each one a copy of the running primary made by mariadb-backup (no
 * downtime: the same online copy as a snapshot, straight into the replica's data directory and
 * prepared there), then following the primary's binary log by GTID from the position the copy
 * recorded (`CHANGE MASTER TO ... MASTER_USE_GTID = slave_pos`).
 *
 * - The link: TCP to the primary's 127.0.0.1 port (MariaDB replicas cannot use a Unix socket) as
 *   `addons_replication@127.0.0.1`, which has REPLICATION SLAVE only and a password derived from
 *   the platform's own (logins.ts); with TLS, verified against the platform's CA, while the
 *   primary requires it (require_secure_transport). Set again at every start of the replica, so
 *   a networking change of the primary reaches the link with the restart that follows it.
 * - Read-only: `read_only`, which refuses every write but those of accounts with the global
 *   READ ONLY ADMIN privilege (MariaDB 10.11: SUPER no longer implies it), which the customer's
 *   account lacks (it has no global privilege at all); the replication threads are exempt.
 *   MariaDB 10.11 has no `super_read_only`.
 * - The customer's accounts, grants and password changes (a rotation included) are statements
 *   and rows of the primary's binary log: they replicate. The replica has no --init-file, so it
 *   writes nothing of its own and its grant tables stay the primary's.
 * - Private: it listens on 127.0.0.1 only, with the primary's certificate while TLS is required.
 */
export const mariaDbReplicas: ReplicaDriver = {
  async seed(primary: InstanceContext, replica: InstanceContext, signal: AbortSignal): Promise<void> {
    await ensureReplicationAccount(primary);
    const backup = await tool('mariadb-backup');
    const admin = platformRoleOf(primary);
    // mariadb-backup logs a line per file: its own log beside the replica's server.log.
    const logFile = path.join(replica.dir, 'seed.log');
    const options = { runAs: replica.runAs, cwd: replica.dataDir, logFile, signal };
    await runLogged(
      backup,
      [
        '--no-defaults',
        '--backup',
        `--target-dir=${replica.dataDir}`,
        `--socket=${socketPath(primary)}`,
        `--user=${admin.username}`,
      ],
      // The password in the environment (readable by the engine user and root only), never in argv.
      { ...options, env: { ...engineEnv(), MYSQL_PWD: admin.password }, what: 'mariadb-backup --backup' },
    );
    await runLogged(backup, ['--no-defaults', '--prepare', `--target-dir=${replica.dataDir}`], {
      ...options,
      env: engineEnv(),
      what: 'mariadb-backup --prepare',
    });
    for (const name of BACKUP_ONLY_FILES) await fs.rm(path.join(replica.dataDir, name), { force: true });
    const upgradeInfo = await readFileNoFollow(path.join(primary.dataDir, UPGRADE_INFO)).catch(
      () => undefined,
    );
    if (upgradeInfo !== undefined) {
      await replaceFile(path.join(replica.dataDir, UPGRADE_INFO), upgradeInfo, replica.runAs, 0o640);
    }
  },

  async serverCommand(primary: InstanceContext, replica: InstanceContext) {
    const mariadbd = await tool('mariadbd');
    const tls = networkingOf(primary.record).tls
      ? await ensureServerCertificate(primary, [
          primary.record.host,
          ...(primary.record.publicHost ? [primary.record.publicHost] : []),
        ])
      : undefined;
    const args = [
      '--no-defaults',
      `--datadir=${replica.dataDir}`,
      `--socket=${socketPath(replica)}`,
      `--port=${replica.record.port}`,
      // Private whatever the primary: replicas have no public endpoint.
      `--bind-address=${replica.record.host}`,
      ...(tls
        ? [
            `--ssl-cert=${tls.certificate}`,
            `--ssl-key=${tls.key}`,
            '--require-secure-transport=ON',
            '--tls-version=TLSv1.2,TLSv1.3',
          ]
        : []),
      `--pid-file=${path.join(replica.dataDir, PID_FILE)}`,
      `--tmpdir=${replica.socketDir}`,
      '--skip-name-resolve',
      '--log-warnings=1',
      ...SERVER_SETTINGS,
      // The primary's plan: the same limits for the same clients.
      ...planSettings(primary.record),
      `--server-id=${serverIdOf(replica)}`,
      '--read-only=ON',
      '--relay-log=relay-bin',
      // The link is set by `follow` after the start (the primary's TLS as it is now).
      '--skip-slave-start',
    ];
    return { command: mariadbd, args, env: engineEnv() };
  },

  async follow(primary, replica, { first, signal }) {
    const tls = networkingOf(primary.record).tls;
    const ca = path.join(replica.socketDir, PRIMARY_CA);
    if (tls) {
      const files = await ensureServerCertificate(primary, [primary.record.host]);
      await replaceFile(ca, await fs.readFile(files.ca, 'utf8'), replica.runAs, 0o600);
    }
    const gtid = first
      ? ((await readFileNoFollow(path.join(replica.dataDir, BINLOG_INFO)).catch(() => ''))
          .trim()
          .split(/\s+/)[2] ?? '')
      : undefined;
    await withPlatform(replica, async (connection) => {
      await connection.query('STOP SLAVE');
      // The position the copy was taken at; kept by the replica (mysql.gtid_slave_pos) from then on.
      if (gtid !== undefined) await connection.query(`SET GLOBAL gtid_slave_pos = ${literal(gtid)}`);
      const password = replicationPassword(platformRoleOf(primary));
      await connection.query(
        [
          `CHANGE MASTER TO MASTER_HOST = ${literal(PRIVATE_HOST)}`,
          `MASTER_PORT = ${primary.record.port}`,
          `MASTER_USER = ${literal(REPLICATION_USER)}`,
          `MASTER_PASSWORD = ${literal(password)}`,
          'MASTER_CONNECT_RETRY = 1',
          tls
            ? `MASTER_SSL = 1, MASTER_SSL_CA = ${literal(ca)}, MASTER_SSL_VERIFY_SERVER_CERT = 1`
            : 'MASTER_SSL = 0',
          'MASTER_USE_GTID = slave_pos',
        ].join(', '),
      );
      await connection.query('START SLAVE');
      if (first) await waitFollowing(connection, signal);
    });
    if (first) await fs.rm(path.join(replica.dataDir, BINLOG_INFO), { force: true });
  },
};
