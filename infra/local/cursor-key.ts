import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CursorKeySource } from '#shared/api/cursors.ts';

/**
 * The local cursor signing key: 32 random bytes generated once into the data directory (0600,
 * like the token), so cursors stay valid across restarts and no two data directories share one.
 */
export const fileCursorKey =
  (dataDir: string): CursorKeySource =>
  async () => {
    const path = join(dataDir, 'cursor-key');
    try {
      return Buffer.from((await readFile(path, 'utf8')).trim(), 'base64url');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const key = randomBytes(32);
    try {
      // `wx`: two first requests racing both generate, one writes; the other re-reads it.
      await writeFile(path, `${key.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
      return key;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return Buffer.from((await readFile(path, 'utf8')).trim(), 'base64url');
    }
  };
