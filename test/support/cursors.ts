import { randomBytes } from 'node:crypto';
import { CursorSigner } from '#shared/api/cursors.ts';

/** A cursor signer with a fresh random key, as a new data directory or stack would have. */
export const testCursors = (): CursorSigner => {
  const key = randomBytes(32);
  return new CursorSigner(async () => key);
};
