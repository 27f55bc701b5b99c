import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the console's sources are and where console/build.ts writes it (no esbuild import here). */
export const CONSOLE_ROOT = fileURLToPath(new URL('.', import.meta.url));
export const CONSOLE_DIST = join(CONSOLE_ROOT, 'dist');
