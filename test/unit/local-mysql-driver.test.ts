import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { literal, nativePasswordHash, platformAccountSql } from '#infra/local/engines/mysql/accounts.ts';
import { probeMySql } from '#infra/local/engines/mysql/connect.ts';
import { MariaDbDriver } from '#infra/local/engines/mysql/driver.ts';

/** The parts of the local MariaDB driver that need no server (the server itself: test/integration/local-mysql). */

const driver = new MariaDbDriver();

/** A TCP server on 127.0.0.1 that writes `greeting` to every client, then the probe's answer. */
const probeAgainst = async (greeting: Buffer | undefined): Promise<string> => {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    if (greeting) socket.write(greeting);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  try {
    return await probeMySql('127.0.0.1', port, 300);
  } finally {
    server.close();
  }
};

const packet = (payload: Buffer): Buffer => {
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  return Buffer.concat([header, payload]);
};

const errorPacket = (code: number): Buffer => {
  const payload = Buffer.alloc(3);
  payload[0] = 0xff;
  payload.writeUInt16LE(code, 1);
  return packet(Buffer.concat([payload, Buffer.from('#HY000message')]));
};

describe('local MariaDB driver', () => {
  it('classifies start failures from the lines mariadbd logs', () => {
    expect(
      driver.classifyStartFailure(
        "[ERROR] Can't start server: Bind on TCP/IP port. Got error: 98: Address already in use\n" +
          '[ERROR] Do you already have another server running on port: 34111 ?',
      ),
    ).toBe('port-in-use');
    expect(
      driver.classifyStartFailure(
        "[ERROR] Can't start server : Bind on unix socket: Address already in use\n" +
          '[ERROR] Do you already have another server running on socket: /x/run/mysqld.sock ?',
      ),
    ).toBe('transient');
    expect(driver.classifyStartFailure('[ERROR] InnoDB: Unable to lock ./ibdata1 error: 11')).toBe(
      'transient',
    );
    expect(driver.classifyStartFailure('[ERROR] Aborting')).toBe('fatal');
  });

  it("hashes the platform's password as the server does (PASSWORD())", () => {
    // SELECT PASSWORD('S3cret''x\\y') on MariaDB 10.11
    expect(nativePasswordHash("S3cret'x\\y")).toBe('*8FC913F29351C45AA6BEF8121A50D793BEBFAD20');
    expect(literal("a'b\\c")).toBe("'a''b\\\\c'");
    const sql = platformAccountSql({ username: 'addons_platform', password: 'secret' });
    expect(sql).not.toContain('secret');
    expect(sql.trim().split('\n')).toHaveLength(3);
  });

  it('probes without credentials: a handshake or an error packet is a server, anything else is not', async () => {
    const handshake = packet(Buffer.concat([Buffer.from([0x0a]), Buffer.from('10.11.19-MariaDB\0')]));
    expect(await probeAgainst(handshake)).toBe('ready');
    expect(await probeAgainst(errorPacket(1130))).toBe('ready'); // host not allowed: up all the same
    expect(await probeAgainst(errorPacket(1053))).toBe('starting'); // shutting down
    expect(await probeAgainst(Buffer.from('SSH-2.0-OpenSSH\r\n'))).toBe('down');
    expect(await probeAgainst(undefined)).toBe('starting'); // accepts but says nothing
  });
});
