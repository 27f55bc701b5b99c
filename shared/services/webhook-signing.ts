import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The header every webhook carries: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'x-addons-signature';
/** How old a signed timestamp a receiver should accept, by default (replays older than this are refused). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** A new per-rule secret: 32 random bytes, shown once. */
export const newSigningSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`;

const mac = (secret: string, timestamp: number, body: string) =>
  createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');

export const signatureOf = (secret: string, body: string, timestamp: number): string =>
  `t=${timestamp},v1=${mac(secret, timestamp, body)}`;

/**
 * What a receiver does (and docs/alerts.md shows): recompute the HMAC over the timestamp and the
 * raw body, compare in constant time, and refuse a timestamp outside the tolerance.
 */
export const verifySignature = (
  secret: string,
  body: string,
  header: string | undefined,
  nowSeconds = Math.floor(Date.now() / 1000),
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): boolean => {
  if (!header) return false;
  const parts = new Map(
    header.split(',').map((part) => {
      const [key = '', ...rest] = part.trim().split('=');
      return [key, rest.join('=')] as const;
    }),
  );
  const timestamp = Number(parts.get('t'));
  const given = parts.get('v1') ?? '';
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(mac(secret, timestamp, body), 'hex');
  const actual = Buffer.from(given, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
};
