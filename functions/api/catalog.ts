import type { Logger } from '@aws-lambda-powertools/logger';
import { createHttpHandler, lazyHandler } from '#shared/api/http-handler.ts';
import { type RateLimiter, rateLimiterFromEnv } from '#shared/api/rate-limit.ts';
import { catalogRoutes } from '#shared/api/routes/catalog.ts';
import { addonTypes } from '#shared/catalog/engines.ts';
import { CatalogFunctionEnvSchema, parseEnv } from '#shared/config/env.ts';
import type { Target } from '#shared/schemas/catalog.ts';
import { logger } from './logger.ts';

export interface CatalogDeps {
  logger: Logger;
  rateLimiter?: RateLimiter;
  target: Target;
}

/** The routes this function serves (its bundle holds no other route's schemas). */
export const catalogFunctionRoutes = catalogRoutes;

export const createCatalogHandler = (deps: CatalogDeps) =>
  createHttpHandler(
    catalogFunctionRoutes,
    {
      listAddonTypes: async () => ({
        status: 200,
        body: { target: deps.target, items: addonTypes(deps.target) },
      }),
    },
    { logger: deps.logger, rateLimiter: deps.rateLimiter },
  );

export const handler = lazyHandler(() => {
  const env = parseEnv(CatalogFunctionEnvSchema);
  return createCatalogHandler({ logger, target: env.ADDONS_TARGET, rateLimiter: rateLimiterFromEnv(env) });
});
