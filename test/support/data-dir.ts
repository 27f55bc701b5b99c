import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { removeInstanceUser } from '#infra/local/engines/os-users.ts';

/**
 * Remove a test platform's data directory, and (as root) the OS users of the engines it held:
 * a test that stops the platform without deleting its addons would leave them on the machine.
 * Call once the platform has stopped.
 */
export const removePlatformData = async (dataDir: string): Promise<void> => {
  const instances = await readdir(join(dataDir, 'engines')).catch(() => [] as string[]);
  for (const resourceId of instances) await removeInstanceUser(resourceId);
  await rm(dataDir, { recursive: true, force: true });
};
