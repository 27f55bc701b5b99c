import net from 'node:net';
import tls from 'node:tls';
import type { Probe } from './driver.ts';

/** How an engine's readiness probe speaks to its TCP port; the socket handling is shared. */
export interface ProbeProtocol {
  /** Written once connected, for engines where the client speaks first. */
  hello?: Buffer;
  /**
   * The verdict on what the server has sent so far, or `undefined` to wait for more bytes.
   * Called on every chunk with everything received.
   */
  read(received: Buffer): Probe | undefined;
  /**
   * Close with a FIN first (and destroy a second later), for servers that would log an abrupt
   * reset; otherwise the socket is destroyed at once.
   */
  gracefulClose?: boolean;
  /**
   * The port serves TLS only (e.g. Redis with `tls-port`): the probe speaks after the handshake.
   * The server's certificate is not verified: this is the platform checking its own process.
   */
  tls?: boolean;
}

/**
 * A credential-free readiness check: connect to the engine's port and read its first reply.
 * A refused port is `down`; a port that accepts but closes or stays silent until `timeoutMs` is
 * `starting` (the process listens but is not serving yet). Never rejects.
 */
export const probeServer = (host: string, port: number, timeoutMs: number, protocol: ProbeProtocol) =>
  new Promise<Probe>((resolve) => {
    let connected = false;
    let received = Buffer.alloc(0);
    let settled = false;
    const socket = protocol.tls
      ? tls.connect({ host, port, rejectUnauthorized: false })
      : net.connect({ host, port });
    const finish = (result: Probe) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (protocol.gracefulClose) {
        socket.end();
        setTimeout(() => socket.destroy(), 1_000).unref();
      } else {
        socket.destroy();
      }
      resolve(result);
    };
    const timer = setTimeout(() => finish(connected ? 'starting' : 'down'), timeoutMs);
    socket.once(protocol.tls ? 'secureConnect' : 'connect', () => {
      connected = true;
      if (protocol.hello) socket.write(protocol.hello);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const verdict = protocol.read(received);
      if (verdict) finish(verdict);
    });
    socket.on('error', () => finish('down'));
    socket.on('close', () => finish(connected ? 'starting' : 'down'));
  });
