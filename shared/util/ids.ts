import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

/**
 * Time-sortable ids (ULID layout, lower case) so DynamoDB sort keys list in creation order.
 * Always valid as Step Functions execution names and AWS resource-name suffixes.
 */
const timePart = (now: number): string => {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time;
};

const encode = (bytes: Uint8Array): string => {
  let text = '';
  for (const byte of bytes.subarray(0, 16)) text += ALPHABET[byte % 32];
  return text;
};

export const newId = (prefix: string, now = Date.now()): string =>
  `${prefix}-${timePart(now)}${encode(randomBytes(16))}`;

/**
 * The same layout as `newId`, but the same inputs always give the same id: `at` is the time
 * part (so it still sorts by time) and a hash of `seed` the rest.
 */
export const deterministicId = (prefix: string, at: number, seed: string): string =>
  `${prefix}-${timePart(at)}${encode(createHash('sha256').update(seed).digest())}`;

export const nowIso = (): string => new Date().toISOString();
