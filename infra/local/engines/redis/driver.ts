import fs from 'node:fs/promises';
import type { FieldIssue } from '#shared/errors.ts';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import type { InstanceSpec } from '#shared/ports/engine-provider.ts';
import type { EngineDriver, InstanceContext, Probe, StartFailure } from '../driver.ts';
import { networkingOf } from '../networking.ts';
import { settlingAccess } from '../settle-access.ts';
import { localTargetIssues, passwordIssues, rejectIssues } from '../spec-checks.ts';
import { engineEnv, isRoot, replaceFile, serverFromPidFile } from '../system.ts';
import { ensureServerCertificate } from '../tls.ts';
import { serverBinary, serverMajor } from './binaries.ts';
import {
  confPath,
  customerAcl,
  customerAclPath,
  PID_FILE,
  PLATFORM_ROLE,
  RESERVED_USERNAMES,
  serverConf,
  socketPath,
} from './config.ts';
import { asPlatform, platformRoleOf, probeRedis } from './connect.ts';
import { redisLogins } from './logins.ts';
import { redisReplicas } from './replicas.ts';
import { RedisReplyError, type Reply, sendCommands } from './resp.ts';
import { RedisSnapshots } from './snapshots.ts';

const MAX_USERNAME = 64;

/**
 * The customer's user name goes into a line of redis.conf, so no spaces or quotes; Redis has no
 * named databases (an addon is the whole server, database 0 by default), so `database` is not
 * checked here.
 */
const nameIssues = (spec: InstanceSpec): FieldIssue[] => {
  if (RESERVED_USERNAMES.includes(spec.username.toLowerCase())) {
    return [{ path: 'username', message: `'${spec.username}' is reserved` }];
  }
  if (!/^[A-Za-z0-9_-]+$/.test(spec.username) || spec.username.length > MAX_USERNAME) {
    return [
      {
        path: 'username',
        message: `a user name is 1 to ${MAX_USERNAME} letters, digits, underscores or hyphens`,
      },
    ];
  }
  return [];
};

/** The ACL flags of a user as `ACL GETUSER` replies them (a flat list of field, value). */
const flagsOf = (reply: Reply | undefined): string[] | undefined => {
  if (!Array.isArray(reply)) return undefined;
  const at = reply.indexOf('flags');
  const flags = reply[at + 1];
  return at >= 0 && Array.isArray(flags) ? flags.filter((flag) => typeof flag === 'string') : undefined;
};

/**
 * The local Redis engine: `redis-server` from the system's packages (Debian 12: 7.0), one per
 * addon, listening on 127.0.0.1 and on a Unix socket inside its instance directory, running as the
 * instance's own OS user (the supervisor spawns it with that uid). Everything comes from the
 * instance's own redis.conf (see config.ts): the machine's /etc/redis never applies.
 */
export class RedisDriver implements EngineDriver {
  readonly engine = 'redis' as const;
  readonly displayName = 'Redis';
  readonly platformRole = PLATFORM_ROLE;
  // SIGTERM: Redis flushes and fsyncs the append-only file, then exits. Immediate is SIGKILL: the
  // next start replays the append-only file (at most a second of writes lost, appendfsync everysec).
  readonly signals = { graceful: 'SIGTERM', immediate: 'SIGKILL' } as const;
  readonly snapshots = new RedisSnapshots();
  readonly logins = redisLogins;
  /** Read replicas with replicaof the primary (replicas.ts). */
  readonly replicas = redisReplicas;
  /** TLS only on the port while required (config.ts); never public: Redis has no per-source rules. */
  readonly networking = { tls: true, public: false };

  async checkSupported(spec: InstanceSpec): Promise<void> {
    const major = await serverMajor();
    rejectIssues('Redis', [
      ...localTargetIssues(spec, major, `the local target runs Redis ${major}`, {
        ...this.networking,
        replicas: true,
      }),
      ...nameIssues(spec),
      ...passwordIssues(spec, /[\r\n\0]/),
    ]);
  }

  /** Redis makes its files at first start: the instance needs only the customer's user. */
  async initialise(ctx: InstanceContext, spec: InstanceSpec): Promise<void> {
    this.assertUnprivileged(ctx);
    await serverBinary();
    await replaceFile(customerAclPath(ctx), customerAcl(spec.username, spec.password), ctx.runAs);
  }

  async serverCommand(ctx: InstanceContext) {
    this.assertUnprivileged(ctx);
    const binary = await serverBinary();
    // Every start: port, paths and the platform's user as instance.json says.
    const conf = confPath(ctx);
    const tlsFiles = networkingOf(ctx.record).tls
      ? await ensureServerCertificate(ctx, [ctx.record.host])
      : undefined;
    await replaceFile(conf, serverConf(ctx, platformRoleOf(ctx), tlsFiles), ctx.runAs);
    return { command: binary, args: [conf], env: engineEnv() };
  }

  /** The users come with the configuration: check that the customer's is let in. */
  async bootstrap(ctx: InstanceContext, spec: InstanceSpec): Promise<void> {
    let replies: Reply[];
    try {
      // The Unix socket: the same users, whether or not the port requires TLS.
      replies = await sendCommands({ path: socketPath(ctx) }, [
        ['AUTH', spec.username, spec.password],
        ['PING'],
      ]);
    } catch (error) {
      throw new ProviderError(`Could not reach the new Redis instance: ${errorMessage(error)}`);
    }
    const refused = replies.find((reply) => reply instanceof RedisReplyError);
    if (refused) throw new ProviderError(`The customer's Redis user was refused: ${refused.message}`);
  }

  /**
   * Nothing to migrate (the users are in the configuration, written at every start): check the
   * server runs them, with `default` off and the customer's user present.
   */
  async settleAccess(ctx: InstanceContext): Promise<void> {
    await settlingAccess('users', async () => {
      const [defaultUser, customer] = await asPlatform(ctx, [
        ['ACL', 'GETUSER', 'default'],
        ['ACL', 'GETUSER', ctx.record.username],
      ]);
      if (!flagsOf(defaultUser)?.includes('off')) throw new Error("the 'default' user is not off");
      if (!flagsOf(customer)?.includes('on')) throw new Error(`the user '${ctx.record.username}' is missing`);
    });
  }

  probe(ctx: InstanceContext, timeoutMs: number): Promise<Probe> {
    return probeRedis(ctx, timeoutMs);
  }

  findLeftover(ctx: InstanceContext): Promise<number | undefined> {
    return serverFromPidFile(ctx.dataDir, PID_FILE);
  }

  async clearStaleLocks(ctx: InstanceContext): Promise<void> {
    // Redis replaces a stale socket and pid file itself; removing the pid file keeps findLeftover
    // and describeInstance from reading a dead server's pid meanwhile.
    await fs.rm(`${ctx.dataDir}/${PID_FILE}`, { force: true });
    await fs.rm(socketPath(ctx), { force: true });
  }

  classifyStartFailure(logTail: string): StartFailure {
    // "Could not create server TCP listening socket 127.0.0.1:N: bind: Address already in use"
    if (/TCP listening socket .*Address already in use/i.test(logTail)) return 'port-in-use';
    // A server still exiting on this socket: retry. Any other socket error is a lasting one.
    if (/Failed opening Unix socket: .*Address already in use/i.test(logTail)) return 'transient';
    return 'fatal';
  }

  /** As root, the engine runs as the instance's own user; never as root itself. */
  private assertUnprivileged(ctx: InstanceContext): void {
    if (isRoot() && !ctx.runAs) {
      throw new ProviderError(
        `Instance ${ctx.resourceId} has no unprivileged OS user to run Redis as`,
        'EngineUserMissing',
      );
    }
  }
}
