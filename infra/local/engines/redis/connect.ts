import { ProviderError } from '#shared/errors.ts';
import type { InstanceContext, PlatformRole, Probe } from '../driver.ts';
import { networkingOf } from '../networking.ts';
import { probeServer } from '../probe.ts';
import { socketPath } from './config.ts';
import { encodeCommand, parseReplies, RedisReplyError, type Reply, sendCommands } from './resp.ts';

export const platformRoleOf = (ctx: InstanceContext): PlatformRole => {
  if (!ctx.record.admin) throw new ProviderError(`Instance ${ctx.resourceId} has no platform user recorded`);
  return ctx.record.admin;
};

/**
 * Commands as the platform's user over the instance's Unix socket: AUTH first, then `commands`.
 * Resolves with their replies (error replies as RedisReplyError values); rejects when the AUTH is
 * refused or the server does not answer.
 */
export const asPlatform = async (ctx: InstanceContext, commands: string[][]): Promise<Reply[]> => {
  const admin = platformRoleOf(ctx);
  const [auth, ...replies] = await sendCommands({ path: socketPath(ctx) }, [
    ['AUTH', admin.username, admin.password],
    ...commands,
  ]);
  if (auth instanceof RedisReplyError) {
    throw new ProviderError(`The platform's Redis user was refused: ${auth.message}`, 'RolesNotSettled');
  }
  return replies;
};

const LOADING = /^LOADING\b/;

/**
 * Redis answers an unauthenticated command with `-NOAUTH` before it looks at whether it is still
 * loading its data, so a credential-free PING says "up" while the append-only file is replayed.
 * With the platform's user the probe sees `-LOADING` until the data is loaded: AUTH (which Redis
 * serves while loading) then PING, pipelined. `+PONG` is ready, `-LOADING` is starting. A refused
 * AUTH still means the server serves (the account check after the start reports it); without a
 * platform user recorded the probe is a bare PING, where any reply but `-LOADING` is ready.
 */
export const probeRedis = (ctx: InstanceContext, timeoutMs: number): Promise<Probe> => {
  const admin = ctx.record.admin;
  const commands = admin ? [['AUTH', admin.username, admin.password], ['PING']] : [['PING']];
  return probeServer(ctx.record.host, ctx.record.port, timeoutMs, {
    // With TLS required the instance's port speaks TLS only (config.ts).
    tls: networkingOf(ctx.record).tls,
    hello: Buffer.concat(commands.map(encodeCommand)),
    read: (received) => {
      let replies: Reply[];
      try {
        replies = parseReplies(received);
      } catch {
        return 'down'; // not a Redis server
      }
      const last = replies[commands.length - 1];
      const loading = replies.some(
        (reply) => reply instanceof RedisReplyError && LOADING.test(reply.message),
      );
      if (loading) return 'starting';
      if (last === undefined) return undefined;
      return 'ready';
    },
  });
};
