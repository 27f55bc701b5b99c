import type { RouteImpls } from '#shared/api/http-handler.ts';
import type { alertsRoutes } from '#shared/api/routes/alerts.ts';
import type { AlertRuleService } from '#shared/services/alert-rules.ts';

/** The alert-rule routes the operations function serves. */
export const alertRuleRoutes = (rules: AlertRuleService): RouteImpls<typeof alertsRoutes> => ({
  createAlertRule: async ({ params, body }) => {
    const rule = await rules.create(params.projectId, body);
    return {
      status: 201,
      // The body holds the signing secret: never cached.
      headers: {
        location: `/v1/projects/${params.projectId}/alert-rules/${rule.id}`,
        'cache-control': 'no-store',
      },
      body: rule,
    };
  },
  listAlertRules: async ({ params, query }) => ({
    status: 200,
    body: await rules.list(params.projectId, query),
  }),
  getAlertRule: async ({ params }) => ({
    status: 200,
    body: await rules.get(params.projectId, params.ruleId),
  }),
  updateAlertRule: async ({ params, body }) => ({
    status: 200,
    headers: { 'cache-control': 'no-store' },
    body: await rules.update(params.projectId, params.ruleId, body),
  }),
  deleteAlertRule: async ({ params }) => {
    await rules.delete(params.projectId, params.ruleId);
    return { status: 204 };
  },
  listAlertDeliveries: async ({ params, query }) => ({
    status: 200,
    body: await rules.deliveries(params.projectId, params.ruleId, query),
  }),
});
