import fs from 'node:fs/promises';
import path from 'node:path';
import { ProviderError } from '#shared/errors.ts';
import type { InstanceContext, ReplicaDriver } from '../driver.ts';
import { REPLICATION_USER, replicationPassword } from '../logins.ts';
import { networkingOf } from '../networking.ts';
import { engineEnv, replaceFile } from '../system.ts';
import { ensureServerCertificate } from '../tls.ts';
import { serverBinary } from './binaries.ts';
import { aclHashes, confPath, customerAclPath, quoted, replicationAcl, serverConf } from './config.ts';
import { asPlatform, platformRoleOf } from './connect.ts';
import { RedisReplyError } from './resp.ts';

/** The primary's CA, in the replica's `run/`: the replica verifies the primary's certificate with it. */
const PRIMARY_CA = 'primary-ca.pem';
/** How long a new replica may take to connect and load the primary's data. */
const FOLLOW_TIMEOUT_MS = 30_000;

/** One command as the platform's user; an error reply is thrown. */
const command = async (ctx: InstanceContext, args: string[], what: string): Promise<unknown> => {
  const [reply] = await asPlatform(ctx, [args]);
  if (reply instanceof RedisReplyError) throw new ProviderError(`${what}: ${reply.message}`, 'ReplicaAccess');
  return reply;
};

/** The primary's TLS files while it requires TLS (its own names: the certificate is not made again). */
const primaryTls = (primary: InstanceContext) =>
  networkingOf(primary.record).tls ? ensureServerCertificate(primary, [primary.record.host]) : undefined;

/** The replica's `customer.acl`: the primary's, as the primary's server reads it now. */
const copyCustomerAcl = async (primary: InstanceContext, replica: InstanceContext): Promise<string> => {
  const acl = await fs.readFile(customerAclPath(primary), 'utf8');
  await replaceFile(customerAclPath(replica), acl, replica.runAs);
  return acl;
};

/**
 * Redis read replicas: each a redis-server with `replicaof` the primary, which copies the data
 * itself (a full synchronisation: the primary's BGSAVE, without downtime) and then follows the
 * primary's replication stream; `replica-read-only yes` refuses every write (`-READONLY`).
 *
 * - The link: TCP to the primary's 127.0.0.1 port as `addons_replication` (`masteruser` /
 *   `masterauth`), an ACL user that runs PSYNC, REPLCONF and PING only, with a password derived
 *   from the platform's own (logins.ts). With TLS while the primary requires it
 *   (`tls-replication yes`, the primary verified with the platform's CA). redis.conf is written
 *   at every start, so a networking change of the primary reaches the link with the restart that
 *   follows it.
 * - Users: Redis does not replicate ACLs. The replica's configuration is the primary's (default
 *   off, the platform's user) and includes a copy of the primary's `customer.acl`, made at every
 *   start; a credential rotation reaches a running replica by `syncLogins`, the same passwords set
 *   in the same two places (the file, then the running server), after each step on the primary.
 * - Private: it listens on 127.0.0.1 only, TLS-only with the primary's certificate while TLS is
 *   required, as the primary's port is.
 */
export const redisReplicas: ReplicaDriver = {
  /**
   * Nothing to copy (the replica synchronises itself): on the running primary (which may have
   * started before replicas existed), the replication user and a synchronisation without delay,
   * as its redis.conf has them from its next start.
   */
  async seed(primary: InstanceContext): Promise<void> {
    await command(
      primary,
      ['ACL', 'SETUSER', ...replicationAcl(platformRoleOf(primary))],
      'The primary refused the replication user',
    );
    await command(
      primary,
      ['CONFIG', 'SET', 'repl-diskless-sync-delay', '0'],
      'The primary refused a setting',
    );
  },

  async serverCommand(primary: InstanceContext, replica: InstanceContext) {
    const binary = await serverBinary();
    const admin = platformRoleOf(primary);
    await copyCustomerAcl(primary, replica);
    const tls = await primaryTls(primary);
    const ca = path.join(replica.socketDir, PRIMARY_CA);
    if (tls) await replaceFile(ca, await fs.readFile(tls.ca, 'utf8'), replica.runAs);
    const conf = [
      serverConf(replica, admin, tls),
      `replicaof ${primary.record.host} ${primary.record.port}`,
      `masteruser ${REPLICATION_USER}`,
      `masterauth ${quoted(replicationPassword(admin))}`,
      'replica-read-only yes',
      ...(tls ? ['tls-replication yes', `tls-ca-cert-file ${quoted(ca)}`] : []),
      '',
    ].join('\n');
    await replaceFile(confPath(replica), conf, replica.runAs);
    return { command: binary, args: [confPath(replica)], env: engineEnv() };
  },

  /** The first start: until the replica has loaded the primary's data and follows it. */
  async follow(_primary, replica, { first, signal }) {
    if (!first) return;
    const deadline = Date.now() + FOLLOW_TIMEOUT_MS;
    for (;;) {
      signal.throwIfAborted();
      const info = String(await command(replica, ['INFO', 'replication'], 'The replica refused INFO'));
      if (/^master_link_status:up\s*$/m.test(info)) return;
      if (Date.now() > deadline) {
        const status = /^master_link_status:(\S+)/m.exec(info)?.[1] ?? 'unknown';
        throw new ProviderError(
          `The replica did not reach its primary within ${FOLLOW_TIMEOUT_MS / 1000} s (link ${status}; see its server.log)`,
          'ReplicaFollow',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  },

  async syncLogins(primary: InstanceContext, replica: InstanceContext): Promise<void> {
    const acl = await copyCustomerAcl(primary, replica);
    await command(
      replica,
      ['ACL', 'SETUSER', primary.record.username, 'resetpass', ...aclHashes(acl)],
      "The replica refused the customer's passwords",
    );
  },
};
