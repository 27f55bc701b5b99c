import * as z from 'zod';
import { ALERT_METRIC_NAMES, type AlertMetricName, DERIVED_ALERT_METRICS } from '../metrics/alert-metrics.ts';
import { IdTextSchema, int32, MessageSchema, text } from './bounds.ts';
import {
  AddonIdSchema,
  AlertRuleIdSchema,
  PaginationQuerySchema,
  ProjectIdSchema,
  pageOf,
  TimestampSchema,
} from './common.ts';
import { MetricUnitSchema } from './metrics.ts';

/** The longest a condition may have to hold: the local rings keep 24 h, CloudWatch alarms look back a day. */
export const MAX_ALERT_DURATION_SECONDS = 86_400;
export const MAX_ALERT_ADDONS = 50;
export const MAX_WEBHOOKS = 5;
export const MAX_EMAILS = 10;

export const COMPARISONS = ['>', '>=', '<', '<='] as const;
export type Comparison = (typeof COMPARISONS)[number];
/** Words a request may use instead of the symbols. */
export const COMPARISON_WORDS: Record<string, Comparison> = {
  above: '>',
  'at-least': '>=',
  below: '<',
  'at-most': '<=',
};

const derived = Object.entries(DERIVED_ALERT_METRICS)
  .map(([name, definition]) => `\`${name}\` (${definition.unit}): ${definition.description}`)
  .join('\n- ');

export const AlertMetricNameSchema = z.enum(ALERT_METRIC_NAMES).meta({
  id: 'AlertMetricName',
  description: `A series of the metric catalog (\`MetricName\`), or one derived from them:\n- ${derived}`,
});

export const ComparisonSchema = z.enum(COMPARISONS).meta({ id: 'AlertComparison' });
const ComparisonInputSchema = z
  .enum([...COMPARISONS, ...Object.keys(COMPARISON_WORDS)] as [string, ...string[]])
  .meta({ description: '`>`, `>=`, `<`, `<=`, or the words `above`, `at-least`, `below`, `at-most`' });

export const AlertAddonsSchema = z
  .union([z.literal('all'), z.array(AddonIdSchema).min(1).max(MAX_ALERT_ADDONS)])
  .meta({ description: '`"all"`: every addon of the project, now and later; or a list of its addon ids' });

export const WebhookChannelSchema = z
  .strictObject({
    url: text(2048).meta({
      description:
        'Where signed notifications are POSTed: https (http and localhost too on the local target)',
    }),
  })
  .meta({ id: 'AlertWebhook' });

export const AlertChannelsSchema = z
  .strictObject({
    webhooks: z.array(WebhookChannelSchema).max(MAX_WEBHOOKS).default([]),
    emails: z
      .array(z.email().max(254))
      .max(MAX_EMAILS)
      .default([])
      .meta({ description: 'E-mail addresses (Amazon SNS subscriptions; AWS only)' }),
  })
  .meta({ id: 'AlertChannels' });
export type AlertChannels = z.infer<typeof AlertChannelsSchema>;

const RuleNameSchema = text(100).min(1).meta({ description: 'A name for people: shown in notifications' });
const ThresholdSchema = z
  .number()
  .min(-1e15)
  .max(1e15)
  .meta({ description: "In the metric's unit (percent 0 to 100, bytes, seconds...)" });
const DurationSchema = int32(0, MAX_ALERT_DURATION_SECONDS).meta({
  description:
    'How long the condition must hold before the rule fires, in seconds (0: at once; 300: "for 5 minutes")',
});

export const CreateAlertRuleRequestSchema = z
  .strictObject({
    name: RuleNameSchema,
    metric: AlertMetricNameSchema,
    comparison: ComparisonInputSchema,
    threshold: ThresholdSchema,
    durationSeconds: DurationSchema.default(0),
    addons: AlertAddonsSchema.default('all'),
    channels: AlertChannelsSchema.default({ webhooks: [], emails: [] }),
    enabled: z.boolean().default(true),
  })
  .meta({ id: 'CreateAlertRuleRequest' });
export type CreateAlertRuleRequest = z.infer<typeof CreateAlertRuleRequestSchema>;

export const UpdateAlertRuleRequestSchema = z
  .strictObject({
    name: RuleNameSchema.optional(),
    metric: AlertMetricNameSchema.optional(),
    comparison: ComparisonInputSchema.optional(),
    threshold: ThresholdSchema.optional(),
    durationSeconds: DurationSchema.optional(),
    addons: AlertAddonsSchema.optional(),
    channels: AlertChannelsSchema.optional(),
    enabled: z.boolean().optional(),
    rotateSigningSecret: z.boolean().optional().meta({
      description: 'Make a new webhook signing secret: the answer shows it, once; the old one stops at once',
    }),
  })
  .meta({ id: 'UpdateAlertRuleRequest' });
export type UpdateAlertRuleRequest = z.infer<typeof UpdateAlertRuleRequestSchema>;

export const AlertStateSchema = z.enum(['ok', 'pending', 'firing']).meta({ id: 'AlertState' });
export type AlertState = z.infer<typeof AlertStateSchema>;

export const AlertRuleAddonStateSchema = z
  .object({
    addonId: IdTextSchema,
    state: AlertStateSchema,
    since: TimestampSchema,
    value: z.number().nullable().meta({ description: 'The value last evaluated' }),
  })
  .meta({ id: 'AlertRuleAddonState' });
export type AlertRuleAddonState = z.infer<typeof AlertRuleAddonStateSchema>;

export const AlertRuleSchema = z
  .object({
    id: IdTextSchema,
    projectId: ProjectIdSchema,
    name: RuleNameSchema,
    metric: AlertMetricNameSchema,
    unit: MetricUnitSchema,
    comparison: ComparisonSchema,
    threshold: z.number(),
    durationSeconds: int32(0, MAX_ALERT_DURATION_SECONDS),
    addons: AlertAddonsSchema,
    channels: AlertChannelsSchema,
    enabled: z.boolean(),
    isDefault: z
      .boolean()
      .meta({ description: 'One of the rules every project gets; editable and deletable like any other' }),
    signingSecret: text(128).optional().meta({
      description:
        'The webhook signing secret (HMAC-SHA256): only in the answer to the create and to a PATCH with `rotateSigningSecret`',
    }),
    signingSecretCreatedAt: TimestampSchema,
    states: z.array(AlertRuleAddonStateSchema).max(1000).optional().meta({
      description: 'On GET of one rule: the state of each addon it has evaluated',
    }),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  })
  .meta({ id: 'AlertRule' });
export type AlertRule = z.infer<typeof AlertRuleSchema>;
export const AlertRulePageSchema = pageOf(AlertRuleSchema, 'AlertRulePage');

export const AlertRulePathSchema = z.object({ projectId: ProjectIdSchema, ruleId: AlertRuleIdSchema });

export const AlertNotificationKindSchema = z.enum(['firing', 'resolved']);
export type AlertNotificationKind = z.infer<typeof AlertNotificationKindSchema>;

/** One attempt at delivering one notification on one channel. */
export const AlertDeliverySchema = z
  .object({
    deliveryId: IdTextSchema.meta({
      description: 'The notification on this channel; every attempt at it has the same one',
    }),
    ruleId: IdTextSchema,
    addonId: IdTextSchema,
    eventId: text(160).meta({ description: 'The `alert.firing`/`alert.resolved` event it announces' }),
    kind: AlertNotificationKindSchema,
    channel: z.enum(['webhook', 'email']),
    target: text(2048).meta({ description: 'The webhook URL or the SNS topic' }),
    attempt: int32(1, 100),
    outcome: z.enum(['succeeded', 'failed']),
    statusCode: int32(0, 999).nullable(),
    error: MessageSchema.nullable(),
    at: TimestampSchema,
    nextAttemptAt: TimestampSchema.nullable().meta({
      description: 'When the next attempt is due after a failure; null when none will follow',
    }),
  })
  .meta({ id: 'AlertDelivery' });
export type AlertDelivery = z.infer<typeof AlertDeliverySchema>;
export const AlertDeliveryPageSchema = pageOf(AlertDeliverySchema, 'AlertDeliveryPage');
export const AlertDeliveriesQuerySchema = PaginationQuerySchema;

/** What `alert.*` events carry. */
export const EventAlertSchema = z
  .object({
    ruleId: IdTextSchema,
    ruleName: RuleNameSchema,
    metric: AlertMetricNameSchema,
    comparison: ComparisonSchema,
    threshold: z.number(),
    durationSeconds: int32(0, MAX_ALERT_DURATION_SECONDS),
    state: z.enum(['firing', 'ok']),
    value: z.number().nullable().meta({ description: 'The value that changed the state' }),
  })
  .meta({ id: 'EventAlert', description: 'The rule and the state it changed to' });
export type EventAlert = z.infer<typeof EventAlertSchema>;

export const isAlertMetricName = (name: string): name is AlertMetricName =>
  (ALERT_METRIC_NAMES as readonly string[]).includes(name);
