import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * One platform per data directory: two would corrupt each other's LevelDB and fight over
 * engine processes. A lock left by a crashed platform (its pid is gone) is taken over.
 */
export const acquireDataDirLock = async (dataDir: string): Promise<() => Promise<void>> => {
  const path = join(dataDir, 'platform.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return async () => {
        await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new Error(
          `Another platform (pid ${holder}) is using ${dataDir}; stop it first or set ADDONS_DATA_DIR to another directory`,
        );
      }
      await rm(path, { force: true });
    }
  }
  throw new Error(`Could not lock ${dataDir}`);
};
