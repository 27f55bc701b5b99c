import { MissingToolError, ProviderError } from '#shared/errors.ts';
import type { InstanceContext, ReplicaDriver } from '../driver.ts';
import { engineEnv, findExecutable, runLogged } from '../system.ts';
import { tlsSettings } from './access.ts';
import { binaries, serverMajor } from './binaries.ts';
import { platformRoleOf, socketDirectorySetting } from './connect.ts';
import { planSettings } from './sizing.ts';

const basebackupOf = async (major: string): Promise<string> => {
  const found = await findExecutable('pg_basebackup', [`/usr/lib/postgresql/${major}/bin/pg_basebackup`]);
  if (!found) {
    throw new MissingToolError(
      `pg_basebackup (PostgreSQL ${major} client tools)`,
      `install them (Debian: apt-get install postgresql-client-${major})`,
    );
  }
  return found;
};

/**
 * Streaming replicas: each one a hot standby seeded by pg_basebackup from the running primary and
 * following it over streaming replication, as the primary's own platform role. It connects through
 * the primary's Unix socket, where pg_hba.conf already admits that role for `replication` by peer
 * authentication (access.ts): no password, no TCP rule, no extra replication user. `-R` writes
 * `standby.signal` and `primary_conninfo` (socket, port, role) into the copy.
 *
 * The customer reads with the addon's own user and password: a hot standby refuses every write
 * (and DDL) whatever the role, so no separate read-only role is needed, and a credential rotation
 * on the primary reaches the replicas by replication.
 */
export const postgresReplicas: ReplicaDriver = {
  async seed(primary: InstanceContext, replica: InstanceContext, signal: AbortSignal): Promise<void> {
    const basebackup = await basebackupOf(await serverMajor());
    if (!socketDirectorySetting(primary)) {
      throw new ProviderError(
        `The Unix socket path of this instance (${primary.socketDir}) is too long for replicas to connect through: put the platform's data directory at a shorter path`,
        'ReplicaAccess',
      );
    }
    await runLogged(
      basebackup,
      [
        `--host=${primary.socketDir}`,
        `--port=${primary.record.port}`,
        `--username=${platformRoleOf(primary).username}`,
        '--no-password',
        `--pgdata=${replica.dataDir}`,
        '--format=plain',
        '--wal-method=stream',
        '--checkpoint=fast',
        // The standby's first start syncs its whole data directory itself (backup recovery).
        '--no-sync',
        '--write-recovery-conf',
        `--label=addons replica ${replica.resourceId}`,
      ],
      {
        runAs: replica.runAs,
        env: engineEnv(),
        cwd: replica.dataDir,
        logFile: replica.logFile,
        what: 'pg_basebackup',
        signal,
      },
    );
  },

  async serverCommand(primary: InstanceContext, replica: InstanceContext) {
    const { postgres } = await binaries();
    const socketDir = socketDirectorySetting(replica);
    if (!socketDir) {
      throw new ProviderError(
        `The Unix socket path of replica ${replica.resourceId} is too long`,
        'ReplicaAccess',
      );
    }
    const args = [
      '-D',
      replica.dataDir,
      '-p',
      String(replica.record.port),
      // Private whatever the primary: replicas have no public endpoint.
      '-c',
      `listen_addresses=${replica.record.host}`,
      // The primary's certificate (the same host names): pg_hba.conf came with the copy, TLS rule included.
      ...(await tlsSettings(primary)),
      '-c',
      `unix_socket_directories=${socketDir}`,
      '-c',
      'unix_socket_permissions=0700',
      // The primary's plan: a standby needs at least its max_connections (and the like) to replay.
      ...planSettings(primary.record),
      '-c',
      'hot_standby=on',
      '-c',
      'archive_mode=off',
    ];
    return { command: postgres, args, env: engineEnv() };
  },
};
