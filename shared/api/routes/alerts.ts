import {
  AlertDeliveriesQuerySchema,
  AlertDeliveryPageSchema,
  AlertRulePageSchema,
  AlertRulePathSchema,
  AlertRuleSchema,
  CreateAlertRuleRequestSchema,
  UpdateAlertRuleRequestSchema,
} from '../../schemas/alert.ts';
import { PaginationQuerySchema, ProjectPathSchema } from '../../schemas/common.ts';
import { defineRoute } from '../route.ts';
import { errors, problem } from './common.ts';

const invalidRule = problem(
  'The rule is malformed: an unknown metric (`body.metric`), a threshold that is not a number (`body.threshold`), a duration out of bounds (`body.durationSeconds`), an addon not in this project (`body.addons.N`), a bad webhook URL (`body.channels.webhooks.N.url`)',
);
const unsupportedRule = problem(
  'A metric this target cannot evaluate for the addons (`body.metric` says why), or e-mail channels on the local target (`body.channels.emails`)',
);

/**
 * Alert rules of a project (docs/alerts.md): served by the operations function, beside the
 * metrics and events they read and write. On AWS each rule is mirrored as CloudWatch alarms.
 */
export const alertsRoutes = {
  createAlertRule: defineRoute({
    operationId: 'createAlertRule',
    method: 'post',
    path: '/v1/projects/{projectId}/alert-rules',
    summary:
      'Create an alert rule: a metric compared with a threshold for a duration, on some or all addons, notifying webhooks (signed) and e-mail',
    tags: ['alerts'],
    fn: 'operations',
    auth: true,
    idempotent: true,
    params: ProjectPathSchema,
    body: CreateAlertRuleRequestSchema,
    responses: {
      201: {
        description: 'The rule, with its webhook signing secret (shown this once)',
        schema: AlertRuleSchema,
      },
      ...errors,
      400: invalidRule,
      422: unsupportedRule,
    },
  }),
  listAlertRules: defineRoute({
    operationId: 'listAlertRules',
    method: 'get',
    path: '/v1/projects/{projectId}/alert-rules',
    summary: "The project's alert rules, its default rules included",
    tags: ['alerts'],
    fn: 'operations',
    auth: true,
    params: ProjectPathSchema,
    query: PaginationQuerySchema,
    responses: { 200: { description: 'A page of rules', schema: AlertRulePageSchema }, ...errors },
  }),
  getAlertRule: defineRoute({
    operationId: 'getAlertRule',
    method: 'get',
    path: '/v1/projects/{projectId}/alert-rules/{ruleId}',
    summary: 'Get an alert rule and the state (ok, pending, firing) of each addon it evaluated',
    tags: ['alerts'],
    fn: 'operations',
    auth: true,
    params: AlertRulePathSchema,
    responses: { 200: { description: 'The rule', schema: AlertRuleSchema }, ...errors },
  }),
  updateAlertRule: defineRoute({
    operationId: 'updateAlertRule',
    method: 'patch',
    path: '/v1/projects/{projectId}/alert-rules/{ruleId}',
    summary: 'Change an alert rule (fields given are replaced), or rotate its signing secret',
    tags: ['alerts'],
    fn: 'operations',
    auth: true,
    params: AlertRulePathSchema,
    body: UpdateAlertRuleRequestSchema,
    responses: {
      200: {
        description: 'The rule (with the new signing secret after a rotation)',
        schema: AlertRuleSchema,
      },
      ...errors,
      400: invalidRule,
      409: problem('The rule changed at the same time; retry'),
      422: unsupportedRule,
    },
  }),
  deleteAlertRule: defineRoute({
    operationId: 'deleteAlertRule',
    method: 'delete',
    path: '/v1/projects/{projectId}/alert-rules/{ruleId}',
    summary: 'Delete an alert rule, its states and (on AWS) its alarms and topic',
    tags: ['alerts'],
    fn: 'operations',
    auth: true,
    params: AlertRulePathSchema,
    responses: { 204: { description: 'Deleted' }, ...errors },
  }),
  listAlertDeliveries: defineRoute({
    operationId: 'listAlertDeliveries',
    method: 'get',
    path: '/v1/projects/{projectId}/alert-rules/{ruleId}/deliveries',
    summary: "The rule's delivery history: every attempt at every notification, newest first",
    tags: ['alerts'],
    fn: 'operations',
    auth: true,
    params: AlertRulePathSchema,
    query: AlertDeliveriesQuerySchema,
    responses: {
      200: { description: 'A page of delivery attempts', schema: AlertDeliveryPageSchema },
      ...errors,
    },
  }),
} as const;
