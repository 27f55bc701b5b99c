import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

/**
 * Time-sortable ids (ULID layout, lower case) so DynamoDB sort keys list in creation order.
 * Always valid as Step Functions execution names and AWS resource-name suffixes.
 */
export const newId = (prefix: string, now = Date.now()): string => {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let random = '';
  for (const byte of bytes) random += ALPHABET[byte % 32];
  return `${prefix}-${time}${random}`;
};

export const nowIso = (): string => new Date().toISOString();
