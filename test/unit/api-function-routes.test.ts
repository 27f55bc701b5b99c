import { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it } from 'vitest';
import { addonsFunctionRoutes } from '#functions/api/addons.ts';
import { backupsFunctionRoutes } from '#functions/api/backups.ts';
import { catalogFunctionRoutes } from '#functions/api/catalog.ts';
import { credentialsFunctionRoutes } from '#functions/api/credentials.ts';
import { metaFunctionRoutes } from '#functions/api/meta.ts';
import { operationsFunctionRoutes } from '#functions/api/operations.ts';
import { createHttpHandler } from '#shared/api/http-handler.ts';
import { API_FUNCTIONS, type ApiFunctionName, type RouteTable } from '#shared/api/route.ts';
import { allRoutes } from '#shared/api/routes.ts';

/**
 * Each API function builds only its own route table (docs/performance.md: cold starts), composed
 * of the route families of `shared/api/routes/`; the whole table (`routes.ts`, for OpenAPI and
 * the gateways) stays the single source. These must say the same thing as each route's `fn`.
 */
const FUNCTION_ROUTES: Record<ApiFunctionName, RouteTable> = {
  meta: metaFunctionRoutes,
  catalog: catalogFunctionRoutes,
  addons: addonsFunctionRoutes,
  credentials: credentialsFunctionRoutes,
  operations: operationsFunctionRoutes,
  backups: backupsFunctionRoutes,
};

describe('the route table of each API function', () => {
  it.each(API_FUNCTIONS)('%s holds exactly the routes whose fn names it', (name) => {
    const expected = allRoutes.filter((route) => route.fn === name).map((route) => route.operationId);
    expect(Object.keys(FUNCTION_ROUTES[name]).sort()).toEqual([...expected].sort());
    for (const route of Object.values(FUNCTION_ROUTES[name])) {
      expect(allRoutes).toContain(route);
    }
  });

  it('refuses an implementation of a route another function serves', () => {
    const logger = new Logger({ logLevel: 'SILENT' });
    expect(() =>
      createHttpHandler(
        catalogFunctionRoutes,
        { listAddonTypes: async () => ({ status: 200 }), getAddon: async () => ({ status: 200 }) } as never,
        { logger },
      ),
    ).toThrow(/getAddon: not in this function's route table/);
  });
});
