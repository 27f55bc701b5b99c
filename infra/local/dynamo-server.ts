import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';

/**
 * dynalite on LevelDB under `directory`, on 127.0.0.1 (a free port): what the DynamoDB emulator's
 * thread runs (emulator-thread.ts). Tables are created and deleted at once (no CREATING delay).
 */
export const serveDynamo = async (directory: string): Promise<{ port: number; close(): Promise<void> }> => {
  const server = dynalite({ path: directory, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};
