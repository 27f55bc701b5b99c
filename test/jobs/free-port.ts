import net from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

/**
 * Starts a throwaway server on a free port. Another process may take the port between probing
 * and binding, so a failed `start` (which cleans up after itself) is tried again on another port;
 * the fourth failure goes to `giveUp`, which cleans up and throws.
 */
export const startOnFreePort = async <T>(
  start: (port: number, attempt: number) => Promise<T>,
  giveUp: (port: number, error: unknown) => Promise<never>,
): Promise<{ server: T; port: number }> => {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    try {
      return { server: await start(port, attempt), port };
    } catch (error) {
      if (attempt >= 3) return giveUp(port, error);
    }
  }
};
