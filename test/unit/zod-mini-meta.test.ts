import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { parsePart } from '#shared/api/zod-issues.ts';
import { ValidationError } from '#shared/errors.ts';
import { meta } from '#shared/schemas/meta.ts';

describe('zod/mini as the product uses it (shared/schemas/meta.ts)', () => {
  it('meta() registers a clone, as classic .meta() did: one schema in two fields keeps both descriptions', () => {
    const shared = z.string();
    const first = meta(shared, { description: 'first' });
    const second = meta(shared, { description: 'second' });
    expect(z.globalRegistry.get(first)?.description).toBe('first');
    expect(z.globalRegistry.get(second)?.description).toBe('second');
    expect(z.globalRegistry.has(shared)).toBe(false);
    expect(z.toJSONSchema(z.object({ first, second })).properties).toEqual({
      first: { type: 'string', description: 'first' },
      second: { type: 'string', description: 'second' },
    });
  });

  it("answers a bad request in English (mini loads no locale of its own: it would say 'Invalid input')", () => {
    const schema = z.object({ name: z.string().check(z.maxLength(2)), size: z.number() });
    const error = (() => {
      try {
        parsePart(schema, { name: 'abc' }, 'request body', 'body');
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { path: 'body.name', message: 'Too big: expected string to have <=2 characters' },
      { path: 'body.size', message: 'Invalid input: expected number, received undefined' },
    ]);
  });
});
