import type { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { CursorSigner } from '#shared/api/cursors.ts';
import {
  createHttpHandler,
  type IdempotencyOptions,
  lazyHandler,
  type RouteImpls,
} from '#shared/api/http-handler.ts';
import { dynamoDbIdempotency } from '#shared/api/idempotency.ts';
import { type RateLimiter, rateLimiterFromEnv } from '#shared/api/rate-limit.ts';
import { alertsRoutes } from '#shared/api/routes/alerts.ts';
import { metricsRoutes as metricsRouteDefs } from '#shared/api/routes/metrics.ts';
import { operationsRoutes } from '#shared/api/routes/operations.ts';
import { OperationsFunctionEnvSchema, parseEnv } from '#shared/config/env.ts';
import { awsAlertServices } from '#shared/providers/aws/alerts.ts';
import { CloudWatchMetrics } from '#shared/providers/aws/cloudwatch-metrics.ts';
import { getOperation, listOperations } from '#shared/services/addon-queries.ts';
import type { AlertRuleService } from '#shared/services/alert-rules.ts';
import { MetricsService } from '#shared/services/metrics-service.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { alertRuleRoutes } from './alert-rules.ts';
import { cursorSigner, documentClient, dynamoClient, logger } from './aws-clients.ts';

export interface OperationsDeps {
  logger: Logger;
  rateLimiter?: RateLimiter;
  store: AddonStore;
  cursors: CursorSigner;
  /** Metrics of addons: the local sampler or CloudWatch; without it the metrics route is not served. */
  metrics?: Pick<MetricsService, 'query'>;
  /** Alert rules (docs/alerts.md); without them their routes are not served. */
  alerts?: AlertRuleService;
  /** For the alert-rule create (Idempotency-Key). */
  idempotency?: IdempotencyOptions;
}

/** The routes this function serves (its bundle holds no other route's schemas). */
export const operationsFunctionRoutes = {
  ...operationsRoutes,
  ...metricsRouteDefs,
  ...alertsRoutes,
} as const;

const metricsRoutes = (
  metrics: Pick<MetricsService, 'query'>,
): RouteImpls<typeof operationsFunctionRoutes> => ({
  getAddonMetrics: async ({ params, query }) => ({
    status: 200,
    body: await metrics.query(params.projectId, params.addonId, query),
  }),
});

export const createOperationsHandler = (deps: OperationsDeps) =>
  createHttpHandler(
    operationsFunctionRoutes,
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
      ...(deps.metrics ? metricsRoutes(deps.metrics) : {}),
      ...(deps.alerts ? alertRuleRoutes(deps.alerts) : {}),
    },
    {
      logger: deps.logger,
      rateLimiter: deps.rateLimiter,
      cursors: deps.cursors,
      idempotency: deps.idempotency,
    },
  );

export const handler = lazyHandler(() => {
  const env = parseEnv(OperationsFunctionEnvSchema);
  const client = documentClient();
  const store = new AddonStore({ client, tableName: env.TABLE_NAME });
  const cloudwatch = new CloudWatchClient({});
  const alerts = awsAlertServices({ env, client, tableName: env.TABLE_NAME, addons: store, cloudwatch });
  return createOperationsHandler({
    logger,
    rateLimiter: rateLimiterFromEnv(env),
    store,
    // CloudWatch GetMetricData: nothing is copied into the table.
    metrics: new MetricsService({
      store,
      source: new CloudWatchMetrics({ client: cloudwatch }),
    }),
    // Alert rules, mirrored as CloudWatch alarms with an SNS topic each (docs/alerts.md).
    alerts: alerts.rules,
    idempotency: dynamoDbIdempotency({ client: dynamoClient(), tableName: env.TABLE_NAME }),
    cursors: cursorSigner(env.CURSOR_SECRET_ARN),
  });
});
