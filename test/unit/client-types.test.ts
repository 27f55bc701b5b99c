import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '#shared/api/openapi.ts';
import { allRoutes } from '#shared/api/routes.ts';
import { idempotentRoutes } from '../../client/generated/api.ts';
import { CLIENT_TYPES_FILE, generateClientTypes } from '../../scripts/client-types.ts';

describe('typed client generated module', () => {
  it('is current: client/generated/api.ts equals what the OpenAPI document generates (npm run openapi)', async () => {
    const generated = await generateClientTypes(JSON.parse(JSON.stringify(buildOpenApiDocument())));
    expect(readFileSync(CLIENT_TYPES_FILE, 'utf8')).toBe(generated);
  });

  it('lists exactly the routes that honour an Idempotency-Key', () => {
    const expected = allRoutes
      .filter((route) => 'idempotent' in route && route.idempotent)
      .map((route) => `${route.method.toUpperCase()} ${route.path}`);
    expect([...idempotentRoutes].sort()).toEqual(expected.sort());
  });
});
