import { AddonPathSchema } from '../../schemas/addon.ts';
import { MetricsQuerySchema, MetricsResponseSchema } from '../../schemas/metrics.ts';
import { defineRoute } from '../route.ts';
import { errors, problem } from './common.ts';

/**
 * Metrics of one addon: served by the operations function (read-only, like the operation
 * history). Locally from the platform's sampler, on AWS from CloudWatch (docs/metrics.md).
 */
export const metricsRoutes = {
  getAddonMetrics: defineRoute({
    operationId: 'getAddonMetrics',
    method: 'get',
    path: '/v1/projects/{projectId}/addons/{addonId}/metrics',
    summary:
      'Time series of the addon (CPU, memory, storage, connections, throughput and what its engine adds), one value per step, each series with its unit',
    tags: ['metrics'],
    fn: 'operations',
    auth: true,
    params: AddonPathSchema,
    query: MetricsQuerySchema,
    responses: {
      200: { description: 'The series, aligned on `timestamps`', schema: MetricsResponseSchema },
      ...errors,
      400: problem(
        'A name that is not a metric, or not one of this engine (`names`); `from` not before `to` or a window over 14 days (`from`); more than 1,440 points or a step this target cannot serve (`step`)',
      ),
      422: problem('A metric this target does not publish for the engine (`names` says why)'),
    },
  }),
} as const;
