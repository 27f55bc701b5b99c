import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { InstanceContext } from '#infra/local/engines/driver.ts';
import { customerAcl, passwordHash } from '#infra/local/engines/redis/config.ts';
import { probeRedis } from '#infra/local/engines/redis/connect.ts';
import { RedisDriver } from '#infra/local/engines/redis/driver.ts';
import { encodeCommand, parseReplies, RedisReplyError } from '#infra/local/engines/redis/resp.ts';

/** The parts of the local Redis driver that need no server (the server itself: test/integration/local-redis). */

const driver = new RedisDriver();

/**
 * A TCP server on 127.0.0.1 answering each client with `answer(received so far)` once that
 * returns something, then the probe's verdict and what the probe sent.
 */
const probeAgainst = async (
  answer: (received: string) => string | undefined,
  admin?: { username: string; password: string },
): Promise<{ verdict: string; sent: string }> => {
  let sent = '';
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      sent += chunk.toString('utf8');
      const reply = answer(sent);
      if (reply !== undefined) socket.write(reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const ctx = { record: { host: '127.0.0.1', port, admin } } as unknown as InstanceContext;
  try {
    return { verdict: await probeRedis(ctx, 300), sent };
  } finally {
    server.close();
  }
};

const ADMIN = { username: 'addons_platform', password: 'pw' };
const afterBoth = (reply: string) => (received: string) => (received.includes('PING') ? reply : undefined);

describe('local Redis driver', () => {
  it('probes as the platform: PONG is ready, LOADING is starting, a refused AUTH still answers', async () => {
    const ready = await probeAgainst(afterBoth('+OK\r\n+PONG\r\n'), ADMIN);
    expect(ready).toEqual({
      verdict: 'ready',
      sent: encodeCommand(['AUTH', 'addons_platform', 'pw']).toString() + encodeCommand(['PING']).toString(),
    });
    expect(
      (await probeAgainst(afterBoth('+OK\r\n-LOADING Redis is loading the dataset in memory\r\n'), ADMIN))
        .verdict,
    ).toBe('starting');
    expect(
      (await probeAgainst(afterBoth('-WRONGPASS invalid username-password pair\r\n+PONG\r\n'), ADMIN))
        .verdict,
    ).toBe('ready');
    // One reply of two is not a verdict: a silent server is still starting.
    expect((await probeAgainst(afterBoth('+OK\r\n'), ADMIN)).verdict).toBe('starting');
    // Without a platform user: a bare PING, where NOAUTH means up.
    const bare = await probeAgainst(afterBoth('-NOAUTH Authentication required.\r\n'));
    expect(bare).toEqual({ verdict: 'ready', sent: encodeCommand(['PING']).toString() });
    // Not Redis at all.
    expect((await probeAgainst(() => 'HTTP/1.1 400 Bad Request\r\n\r\n', ADMIN)).verdict).toBe('down');
  });

  it('parses RESP replies, waiting for the whole of each', () => {
    const replies = parseReplies(
      Buffer.from(
        '+OK\r\n-NOPERM no\r\n:42\r\n$-1\r\n$6\r\nab\r\ncd\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n$5\r\nhal',
      ),
    );
    expect(replies.slice(0, 2)).toEqual(['OK', expect.any(RedisReplyError)]);
    expect((replies[1] as RedisReplyError).message).toBe('NOPERM no');
    expect(replies.slice(2)).toEqual([42, null, 'ab\r\ncd', ['a', [1]]]);
    expect(encodeCommand(['SET', 'k', 'crème']).toString()).toBe(
      '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\ncrème\r\n',
    );
  });

  it('keeps passwords out of the configuration: SHA-256 hashes, as ACL SETUSER #<hash> takes them', () => {
    // printf %s 'secret' | sha256sum
    expect(passwordHash('secret')).toBe('#2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b');
    const line = customerAcl('app_user', 'secret');
    expect(line).not.toContain('secret\n');
    expect(line).toBe(
      'user app_user reset on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~* &* ' +
        '+@all -@admin -@dangerous +flushdb +flushall +keys +sort +sort_ro +swapdb +info\n',
    );
  });

  it('classifies start failures from the lines the server logs', () => {
    expect(
      driver.classifyStartFailure(
        '# Warning: Could not create server TCP listening socket 127.0.0.1:6399: bind: Address already in use\n' +
          '# Failed listening on port 6399 (TCP), aborting.',
      ),
    ).toBe('port-in-use');
    expect(driver.classifyStartFailure('# Failed opening Unix socket: bind: Address already in use')).toBe(
      'transient',
    );
    expect(driver.classifyStartFailure('# Failed opening Unix socket: bind: No such file or directory')).toBe(
      'fatal',
    );
    expect(driver.classifyStartFailure('# Bad directive or wrong number of arguments')).toBe('fatal');
  });
});
