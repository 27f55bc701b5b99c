import net from 'node:net';

/**
 * The few bytes of RESP2 (the Redis protocol) the platform speaks: commands as arrays of bulk
 * strings, replies parsed into plain values. Enough for the readiness probe and the account
 * checks; not a client library.
 */

/** A `-ERR ...` reply: the server answered, and refused. */
export class RedisReplyError extends Error {
  override name = 'RedisReplyError';
}

export type Reply = string | number | null | RedisReplyError | Reply[];

/** One command, as the server reads it: every argument a binary-safe bulk string. */
export const encodeCommand = (args: string[]): Buffer =>
  Buffer.from(
    `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`,
    'utf8',
  );

/** The reply starting at `offset`, or undefined while `buffer` does not hold all of it yet. */
export const parseReply = (buffer: Buffer, offset = 0): { reply: Reply; next: number } | undefined => {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const kind = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (kind) {
    case '+':
      return { reply: line, next };
    case '-':
      return { reply: new RedisReplyError(line), next };
    case ':':
      return { reply: Number(line), next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { reply: null, next };
      if (buffer.length < next + length + 2) return undefined;
      return { reply: buffer.toString('utf8', next, next + length), next: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { reply: null, next };
      const items: Reply[] = [];
      let at = next;
      for (let index = 0; index < count; index++) {
        const item = parseReply(buffer, at);
        if (!item) return undefined;
        items.push(item.reply);
        at = item.next;
      }
      return { reply: items, next: at };
    }
    default:
      throw new Error(`Not a Redis reply (starts with ${JSON.stringify(kind)})`);
  }
};

/** Every complete reply in `buffer`, in order (a partial last one is left out). */
export const parseReplies = (buffer: Buffer): Reply[] => {
  const replies: Reply[] = [];
  let at = 0;
  for (;;) {
    const parsed = parseReply(buffer, at);
    if (!parsed) return replies;
    replies.push(parsed.reply);
    at = parsed.next;
  }
};

export type Target = { path: string } | { host: string; port: number };

/**
 * Open one connection to `target`, send `commands` pipelined, and resolve with their replies (error
 * replies included, as RedisReplyError values). Rejects when the connection fails, closes early or
 * `timeoutMs` passes.
 */
export const sendCommands = (target: Target, commands: string[][], timeoutMs = 5_000): Promise<Reply[]> =>
  new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let settled = false;
    const socket = 'path' in target ? net.connect({ path: target.path }) : net.connect(target);
    const finish = (error: Error | undefined, replies?: Reply[]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(replies ?? []);
    };
    const timer = setTimeout(
      () => finish(new Error(`No reply from Redis within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('connect', () => socket.write(Buffer.concat(commands.map(encodeCommand))));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      try {
        const replies = parseReplies(received);
        if (replies.length >= commands.length) finish(undefined, replies.slice(0, commands.length));
      } catch (error) {
        finish(error as Error);
      }
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error('Redis closed the connection before replying')));
  });
