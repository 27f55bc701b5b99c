import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '#shared/api/openapi.ts';
import type { RouteDef } from '#shared/api/route.ts';
import { allRoutes } from '#shared/api/routes.ts';

const document = buildOpenApiDocument();

describe('OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(JSON.stringify(document)));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('is current: the committed openapi.json equals what the code generates (npm run openapi)', () => {
    const committed = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(document)));
  });

  it('documents every visible route with bearer auth exactly where the route table requires it', () => {
    for (const route of allRoutes as readonly RouteDef[]) {
      const operation = (
        document.paths?.[route.path] as Record<string, { operationId: string; security: unknown[] }>
      )?.[route.method];
      if (route.hidden) {
        expect(operation).toBeUndefined();
        continue;
      }
      expect(operation?.operationId).toBe(route.operationId);
      // `{}` is the empty requirement: anyone may call the public routes, with or without a token.
      expect(operation?.security).toEqual(route.auth ? [{ bearerAuth: [] }] : [{}, { bearerAuth: [] }]);
    }
  });
});
