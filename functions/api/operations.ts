import type { Logger } from '@aws-lambda-powertools/logger';
import type { CursorSigner } from '#shared/api/cursors.ts';
import { createHttpHandler, lazyHandler } from '#shared/api/http-handler.ts';
import { type RateLimiter, rateLimiterFromEnv } from '#shared/api/rate-limit.ts';
import { OperationsFunctionEnvSchema, parseEnv } from '#shared/config/env.ts';
import { getOperation, listOperations } from '#shared/services/addon-queries.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { cursorSigner, documentClient, logger } from './aws-clients.ts';

export interface OperationsDeps {
  logger: Logger;
  rateLimiter?: RateLimiter;
  store: AddonStore;
  cursors: CursorSigner;
}

export const createOperationsHandler = (deps: OperationsDeps) =>
  createHttpHandler(
    {
      getOperation: async ({ params }) => ({
        status: 200,
        body: await getOperation(deps.store, params.projectId, params.operationId),
      }),
      listAddonOperations: async ({ params, query }) => ({
        status: 200,
        body: await listOperations(deps.store, params.projectId, params.addonId, query),
      }),
      listEvents: async ({ params, query }) => ({
        status: 200,
        body: await deps.store.events.list(params.projectId, query),
      }),
    },
    { logger: deps.logger, rateLimiter: deps.rateLimiter, cursors: deps.cursors },
  );

export const handler = lazyHandler(() => {
  const env = parseEnv(OperationsFunctionEnvSchema);
  return createOperationsHandler({
    logger,
    rateLimiter: rateLimiterFromEnv(env),
    store: new AddonStore({ client: documentClient(), tableName: env.TABLE_NAME }),
    cursors: cursorSigner(env.CURSOR_SECRET_ARN),
  });
});
