import * as z from 'zod/mini';
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
import { meta } from './meta.ts';
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

export const AlertMetricNameSchema = meta(z.enum(ALERT_METRIC_NAMES), {
  id: 'AlertMetricName',
  description: `A series of the metric catalog (\`MetricName\`), or one derived from them:\n- ${derived}`,
});

export const ComparisonSchema = meta(z.enum(COMPARISONS), { id: 'AlertComparison' });
const ComparisonInputSchema = meta(
  z.enum([...COMPARISONS, ...Object.keys(COMPARISON_WORDS)] as [string, ...string[]]),
  { description: '`>`, `>=`, `<`, `<=`, or the words `above`, `at-least`, `below`, `at-most`' },
);

export const AlertAddonsSchema = meta(
  z.union([z.literal('all'), z.array(AddonIdSchema).check(z.minLength(1), z.maxLength(MAX_ALERT_ADDONS))]),
  { description: '`"all"`: every addon of the project, now and later; or a list of its addon ids' },
);

export const WebhookChannelSchema = meta(
  z.strictObject({
    url: meta(text(2048), {
      description:
        'Where signed notifications are POSTed: https (http and localhost too on the local target)',
    }),
  }),
  { id: 'AlertWebhook' },
);

export const AlertChannelsSchema = meta(
  z.strictObject({
    webhooks: z._default(z.array(WebhookChannelSchema).check(z.maxLength(MAX_WEBHOOKS)), []),
    emails: meta(z._default(z.array(z.email().check(z.maxLength(254))).check(z.maxLength(MAX_EMAILS)), []), {
      description: 'E-mail addresses (Amazon SNS subscriptions; AWS only)',
    }),
  }),
  { id: 'AlertChannels' },
);
export type AlertChannels = z.infer<typeof AlertChannelsSchema>;

const RuleNameSchema = meta(text(100).check(z.minLength(1)), {
  description: 'A name for people: shown in notifications',
});
const ThresholdSchema = meta(z.number().check(z.minimum(-1e15), z.maximum(1e15)), {
  description: "In the metric's unit (percent 0 to 100, bytes, seconds...)",
});
const DurationSchema = meta(int32(0, MAX_ALERT_DURATION_SECONDS), {
  description:
    'How long the condition must hold before the rule fires, in seconds (0: at once; 300: "for 5 minutes")',
});

export const CreateAlertRuleRequestSchema = meta(
  z.strictObject({
    name: RuleNameSchema,
    metric: AlertMetricNameSchema,
    comparison: ComparisonInputSchema,
    threshold: ThresholdSchema,
    durationSeconds: z._default(DurationSchema, 0),
    addons: z._default(AlertAddonsSchema, 'all'),
    channels: z._default(AlertChannelsSchema, { webhooks: [], emails: [] }),
    enabled: z._default(z.boolean(), true),
  }),
  { id: 'CreateAlertRuleRequest' },
);
export type CreateAlertRuleRequest = z.infer<typeof CreateAlertRuleRequestSchema>;

export const UpdateAlertRuleRequestSchema = meta(
  z.strictObject({
    name: z.optional(RuleNameSchema),
    metric: z.optional(AlertMetricNameSchema),
    comparison: z.optional(ComparisonInputSchema),
    threshold: z.optional(ThresholdSchema),
    durationSeconds: z.optional(DurationSchema),
    addons: z.optional(AlertAddonsSchema),
    channels: z.optional(AlertChannelsSchema),
    enabled: z.optional(z.boolean()),
    rotateSigningSecret: meta(z.optional(z.boolean()), {
      description: 'Make a new webhook signing secret: the answer shows it, once; the old one stops at once',
    }),
  }),
  { id: 'UpdateAlertRuleRequest' },
);
export type UpdateAlertRuleRequest = z.infer<typeof UpdateAlertRuleRequestSchema>;

export const AlertStateSchema = meta(z.enum(['ok', 'pending', 'firing']), { id: 'AlertState' });
export type AlertState = z.infer<typeof AlertStateSchema>;

export const AlertRuleAddonStateSchema = meta(
  z.object({
    addonId: IdTextSchema,
    state: AlertStateSchema,
    since: TimestampSchema,
    value: meta(z.nullable(z.number()), { description: 'The value last evaluated' }),
  }),
  { id: 'AlertRuleAddonState' },
);
export type AlertRuleAddonState = z.infer<typeof AlertRuleAddonStateSchema>;

export const AlertRuleSchema = meta(
  z.object({
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
    isDefault: meta(z.boolean(), {
      description: 'One of the rules every project gets; editable and deletable like any other',
    }),
    signingSecret: meta(z.optional(text(128)), {
      description:
        'The webhook signing secret (HMAC-SHA256): only in the answer to the create and to a PATCH with `rotateSigningSecret`',
    }),
    signingSecretCreatedAt: TimestampSchema,
    states: meta(z.optional(z.array(AlertRuleAddonStateSchema).check(z.maxLength(1000))), {
      description: 'On GET of one rule: the state of each addon it has evaluated',
    }),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  }),
  { id: 'AlertRule' },
);
export type AlertRule = z.infer<typeof AlertRuleSchema>;
export const AlertRulePageSchema = pageOf(AlertRuleSchema, 'AlertRulePage');

export const AlertRulePathSchema = z.object({ projectId: ProjectIdSchema, ruleId: AlertRuleIdSchema });

export const AlertNotificationKindSchema = z.enum(['firing', 'resolved']);
export type AlertNotificationKind = z.infer<typeof AlertNotificationKindSchema>;

/** One attempt at delivering one notification on one channel. */
export const AlertDeliverySchema = meta(
  z.object({
    deliveryId: meta(IdTextSchema, {
      description: 'The notification on this channel; every attempt at it has the same one',
    }),
    ruleId: IdTextSchema,
    addonId: IdTextSchema,
    eventId: meta(text(160), { description: 'The `alert.firing`/`alert.resolved` event it announces' }),
    kind: AlertNotificationKindSchema,
    channel: z.enum(['webhook', 'email']),
    target: meta(text(2048), { description: 'The webhook URL or the SNS topic' }),
    attempt: int32(1, 100),
    outcome: z.enum(['succeeded', 'failed']),
    statusCode: z.nullable(int32(0, 999)),
    error: z.nullable(MessageSchema),
    at: TimestampSchema,
    nextAttemptAt: meta(z.nullable(TimestampSchema), {
      description: 'When the next attempt is due after a failure; null when none will follow',
    }),
  }),
  { id: 'AlertDelivery' },
);
export type AlertDelivery = z.infer<typeof AlertDeliverySchema>;
export const AlertDeliveryPageSchema = pageOf(AlertDeliverySchema, 'AlertDeliveryPage');
export const AlertDeliveriesQuerySchema = PaginationQuerySchema;

/** What `alert.*` events carry. */
export const EventAlertSchema = meta(
  z.object({
    ruleId: IdTextSchema,
    ruleName: RuleNameSchema,
    metric: AlertMetricNameSchema,
    comparison: ComparisonSchema,
    threshold: z.number(),
    durationSeconds: int32(0, MAX_ALERT_DURATION_SECONDS),
    state: z.enum(['firing', 'ok']),
    value: meta(z.nullable(z.number()), { description: 'The value that changed the state' }),
  }),
  { id: 'EventAlert', description: 'The rule and the state it changed to' },
);
export type EventAlert = z.infer<typeof EventAlertSchema>;

export const isAlertMetricName = (name: string): name is AlertMetricName =>
  (ALERT_METRIC_NAMES as readonly string[]).includes(name);
