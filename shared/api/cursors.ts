import { createHmac, timingSafeEqual } from 'node:crypto';
import { ServiceUnavailableError, ValidationError } from '../errors.ts';
import type { ApiResult, RouteDef } from './route.ts';

/** Where the signing key comes from: a 0600 file locally, a Secrets Manager secret on AWS. */
export type CursorKeySource = () => Promise<Buffer>;

/** The listing a cursor belongs to: the route and every path parameter (project, addon, ...). */
export interface CursorBinding {
  listing: string;
  params: Record<string, string>;
}

const VERSION = 'c1';
const SEPARATOR = '.';

const invalidCursor = () =>
  new ValidationError('The cursor is not valid for this list', [
    { path: 'cursor', message: 'is not a cursor returned by this list' },
  ]);

/**
 * Signs the cursors the stores return (an opaque key of where the page ended) so that a caller
 * can only hand back a cursor this API gave out, for the same listing of the same project and
 * addon: `<store cursor>.<HMAC-SHA256>`, base64url. The binding is not carried in the cursor,
 * it is what the request names, so a cursor moved to another listing or project fails the MAC.
 *
 * The key is read on the first paginated request and kept for the life of the container; a
 * failed read is retried on the next request.
 */
export class CursorSigner {
  private key: Promise<Buffer> | undefined;

  constructor(private readonly source: CursorKeySource) {}

  async seal(cursor: string, binding: CursorBinding): Promise<string> {
    return `${cursor}${SEPARATOR}${this.mac(await this.loadKey(), cursor, binding)}`;
  }

  /** The store cursor inside a signed one; a 400 naming `cursor` for anything else. */
  async open(signed: string, binding: CursorBinding): Promise<string> {
    const at = signed.lastIndexOf(SEPARATOR);
    if (at <= 0) throw invalidCursor();
    const cursor = signed.slice(0, at);
    // Compared as text: base64url decoding is lenient, so two spellings could decode alike.
    const presented = Buffer.from(signed.slice(at + 1), 'utf8');
    const expected = Buffer.from(this.mac(await this.loadKey(), cursor, binding), 'utf8');
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw invalidCursor();
    return cursor;
  }

  private mac(key: Buffer, cursor: string, binding: CursorBinding): string {
    const params = Object.entries(binding.params).sort(([a], [b]) => a.localeCompare(b));
    return createHmac('sha256', key)
      .update(JSON.stringify([VERSION, binding.listing, params, cursor]))
      .digest('base64url');
  }

  private loadKey(): Promise<Buffer> {
    this.key ??= this.source().then(
      (key) => {
        if (key.length < 32) throw new Error('The cursor signing key is shorter than 32 bytes');
        return key;
      },
      (error: unknown) => {
        throw new ServiceUnavailableError('The cursor signing key could not be read', { cause: error });
      },
    );
    const key = this.key;
    key.catch(() => {
      if (this.key === key) this.key = undefined;
    });
    return key;
  }
}

/** A listing route: its query takes a `cursor`, its answer carries `nextCursor`. */
export const isPaginated = (route: RouteDef): boolean =>
  route.query !== undefined && 'cursor' in route.query.shape;

/** The store cursor a paginated request carries, checked against the listing it was sent to. */
export const openQueryCursor = async <Q>(
  signer: CursorSigner,
  query: Q,
  binding: CursorBinding,
): Promise<Q> => {
  const cursor = (query as { cursor?: string }).cursor;
  return cursor === undefined ? query : { ...query, cursor: await signer.open(cursor, binding) };
};

/** The page's `nextCursor`, signed for this listing. */
export const sealNextCursor = async (
  signer: CursorSigner,
  result: ApiResult,
  binding: CursorBinding,
): Promise<ApiResult> => {
  const body = result.body as { nextCursor?: unknown } | undefined;
  if (typeof body?.nextCursor !== 'string') return result;
  return { ...result, body: { ...body, nextCursor: await signer.seal(body.nextCursor, binding) } };
};
