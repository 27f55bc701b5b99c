import type { components } from '../../client/index.ts';
import type { CommandSpec, OptionSpec } from '../command.ts';
import { type Context, choice, flag, int, list, many, str, type Values } from '../context.ts';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import { record, table } from '../output.ts';
import { confirm } from './confirm.ts';

type AlertRule = components['schemas']['AlertRule'];
type CreateAlertRuleRequest = components['schemas']['CreateAlertRuleRequest'];
type UpdateAlertRuleRequest = components['schemas']['UpdateAlertRuleRequest'];
type ComparisonInput = CreateAlertRuleRequest['comparison'];
type AlertMetricName = components['schemas']['AlertMetricName'];

/** What `--comparison` takes: the API's symbols and words (docs/alerts.md). */
export const COMPARISON_INPUTS: readonly ComparisonInput[] = [
  '>',
  '>=',
  '<',
  '<=',
  'above',
  'at-least',
  'below',
  'at-most',
];

const UNITS: Record<string, string> = { percent: '%', seconds: 's', bytes: 'bytes' };

/** `--duration`: whole seconds, or with a unit: `90s`, `10m`, `1h`. */
export const parseDuration = (text: string): number => {
  const match = /^(\d+)\s*(s|m|h)?$/.exec(text.trim());
  if (!match)
    throw usageError(`--duration '${text}': expected seconds, or a number with s, m or h (e.g. 10m)`);
  const unit = match[2] === 'h' ? 3600 : match[2] === 'm' ? 60 : 1;
  return Number(match[1]) * unit;
};

/** `--threshold`: any number (`--threshold=-5` for a negative one). */
export const parseThreshold = (text: string): number => {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value))
    throw usageError(`--threshold '${text}' is not a number`);
  return value;
};

/** `--enabled on|off` as a boolean (undefined when absent). */
const enabledOf = (values: Values) => {
  const value = choice(values, 'enabled', ['on', 'off'] as const);
  return value === undefined ? undefined : value === 'on';
};

/** `--addons all` or a comma-separated list of addon ids or names. */
const addonsOf = async (context: Context, values: Values): Promise<'all' | string[] | undefined> => {
  const refs = list(values, 'addons');
  if (refs === undefined) return undefined;
  if (refs.length === 1 && refs[0] === 'all') return 'all';
  if (refs.length === 0) throw usageError('--addons: give all, or addon ids or names separated by commas');
  const ids: string[] = [];
  for (const ref of refs) ids.push(await context.resolveAddon(ref));
  return ids;
};

/** A rule by id (`alr-...`) or by name, through the project's listing. */
const resolveRule = async (context: Context, ref: string): Promise<string> => {
  if (/^alr-[a-z0-9-]+$/.test(ref)) return ref;
  let cursor: string | undefined;
  do {
    const page = await context.api.GET('/v1/projects/{projectId}/alert-rules', {
      params: {
        path: { projectId: context.project() },
        query: { limit: 100, ...(cursor ? { cursor } : {}) },
      },
    });
    const found = page.items.find((rule) => rule.name === ref);
    if (found) return found.id;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  throw new CliError(`No alert rule named or with id '${ref}' in project ${context.project()}`, EXIT.api);
};

export const conditionText = (rule: Pick<AlertRule, 'metric' | 'comparison' | 'threshold' | 'unit'>) =>
  `${rule.metric} ${rule.comparison} ${rule.threshold} ${UNITS[rule.unit] ?? rule.unit}`;
const forText = (seconds: number) => (seconds === 0 ? 'at once' : `${seconds} s`);
const addonsText = (rule: AlertRule) => (rule.addons === 'all' ? 'all' : rule.addons.join(' '));
const channelsText = (rule: AlertRule) =>
  [
    ...(rule.channels.webhooks ?? []).map((hook) => hook.url),
    ...(rule.channels.emails ?? []).map((email) => `mailto:${email}`),
  ].join(' ');

const ruleRecord = (rule: AlertRule) =>
  record({
    id: rule.id,
    name: rule.name,
    condition: conditionText(rule),
    for: forText(rule.durationSeconds),
    addons: addonsText(rule),
    channels: channelsText(rule) || 'none (events only)',
    enabled: rule.enabled,
    default: rule.isDefault,
    'secret since': rule.signingSecretCreatedAt,
    updated: rule.updatedAt,
  });

/** A rule, then (on a GET) its state per addon, then the signing secret when this answer has it. */
const ruleText = (rule: AlertRule) =>
  [
    ruleRecord(rule),
    ...(rule.states
      ? [
          '',
          table(
            rule.states.map((state) => ({
              addon: state.addonId,
              state: state.state,
              since: state.since,
              value: state.value,
            })),
            ['addon', 'state', 'since', 'value'],
          ),
        ]
      : []),
    ...(rule.signingSecret
      ? [
          '',
          `signing secret: ${rule.signingSecret}`,
          '(shown this once: store it where your webhooks verify signatures)',
        ]
      : []),
  ].join('\n');

const ruleOptions: Record<string, OptionSpec> = {
  name: { type: 'string', help: '<name> a name for people, shown in notifications' },
  metric: { type: 'string', help: '<metric> e.g. cpu, storage.used-percent, connections.used-percent' },
  comparison: { type: 'string', help: `<op> ${COMPARISON_INPUTS.join(', ')}` },
  threshold: { type: 'string', help: "<number> in the metric's unit (--threshold=-1 for a negative one)" },
  duration: { type: 'string', help: '<time> how long it must hold: seconds, or 90s, 10m, 1h (default 0)' },
  addons: { type: 'string', help: '<all|a,b> every addon (default), or addon ids or names' },
  webhook: {
    type: 'string',
    multiple: true,
    help: '<url> a webhook to notify, signed (repeat; replaces the list)',
  },
  email: {
    type: 'string',
    multiple: true,
    help: '<address> an e-mail to notify, AWS only (repeat; replaces the list)',
  },
  enabled: { type: 'string', help: '<on|off> evaluate the rule (default on)' },
};

const pageOptions = {
  limit: { type: 'string', help: '<n> page size (default 100)' },
  cursor: { type: 'string', help: '<cursor> the page after a previous --json listing’s nextCursor' },
} as const;

const pageQuery = (values: Values, max: number) => {
  const cursor = str(values, 'cursor');
  return { limit: int(values, 'limit', 1, max) ?? max, ...(cursor ? { cursor } : {}) };
};

/** Alert rules of the project (docs/alerts.md): `addons alert-rules list|get|create|update|delete|deliveries`. */
export const alertRuleCommands: CommandSpec[] = [
  {
    words: ['alert-rules', 'list'],
    args: '',
    summary: "The project's alert rules, its default rules included",
    options: pageOptions,
    async run(context, { values }) {
      const page = await context.api.GET('/v1/projects/{projectId}/alert-rules', {
        params: { path: { projectId: context.project() }, query: pageQuery(values, 100) },
      });
      context.out.result(page, () => {
        const rows = table(
          page.items.map((rule) => ({
            id: rule.id,
            name: rule.name,
            condition: conditionText(rule),
            for: forText(rule.durationSeconds),
            addons: addonsText(rule),
            channels: (rule.channels.webhooks?.length ?? 0) + (rule.channels.emails?.length ?? 0),
            enabled: rule.enabled,
            default: rule.isDefault,
          })),
          ['id', 'name', 'condition', 'for', 'addons', 'channels', 'enabled', 'default'],
        );
        return page.nextCursor ? `${rows}\n(more: --cursor ${page.nextCursor})` : rows;
      });
      return EXIT.ok;
    },
  },
  {
    words: ['alert-rules', 'get'],
    args: '<rule>',
    summary: 'One alert rule (id or name) and its state on each addon: ok, pending, firing',
    async run(context, { positionals: [ref = ''] }) {
      const ruleId = await resolveRule(context, ref);
      const rule = await context.api.GET('/v1/projects/{projectId}/alert-rules/{ruleId}', {
        params: { path: { projectId: context.project(), ruleId } },
      });
      context.out.result(rule, () => ruleText(rule));
      return EXIT.ok;
    },
  },
  {
    words: ['alert-rules', 'create'],
    args: '',
    summary: 'Alert when a metric crosses a threshold for a while; prints the webhook signing secret once',
    options: ruleOptions,
    async run(context, { values }) {
      const name = str(values, 'name');
      const metric = str(values, 'metric');
      const comparison = choice(values, 'comparison', COMPARISON_INPUTS);
      const threshold = str(values, 'threshold');
      if (!name || !metric || !comparison || threshold === undefined) {
        throw usageError('--name, --metric, --comparison and --threshold are required');
      }
      const duration = str(values, 'duration');
      const enabled = enabledOf(values);
      const body: CreateAlertRuleRequest = {
        name,
        metric: metric as AlertMetricName,
        comparison,
        threshold: parseThreshold(threshold),
        ...(duration === undefined ? {} : { durationSeconds: parseDuration(duration) }),
        addons: (await addonsOf(context, values)) ?? 'all',
        channels: {
          webhooks: many(values, 'webhook').map((url) => ({ url })),
          emails: many(values, 'email'),
        },
        ...(enabled === undefined ? {} : { enabled }),
      };
      const rule = await context.api.POST('/v1/projects/{projectId}/alert-rules', {
        params: { path: { projectId: context.project() } },
        body,
      });
      context.out.result(rule, () => ruleText(rule));
      return EXIT.ok;
    },
  },
  {
    words: ['alert-rules', 'update'],
    args: '<rule>',
    summary: 'Change an alert rule (options given are replaced), or rotate its signing secret (printed once)',
    options: {
      ...ruleOptions,
      'clear-webhooks': { type: 'boolean', help: 'remove every webhook' },
      'clear-emails': { type: 'boolean', help: 'remove every e-mail address' },
      'rotate-signing-secret': {
        type: 'boolean',
        help: 'a new webhook signing secret; the old one stops at once',
      },
    },
    async run(context, { positionals: [ref = ''], values }) {
      const ruleId = await resolveRule(context, ref);
      const name = str(values, 'name');
      const metric = str(values, 'metric');
      const comparison = choice(values, 'comparison', COMPARISON_INPUTS);
      const threshold = str(values, 'threshold');
      const duration = str(values, 'duration');
      const enabled = enabledOf(values);
      const addons = await addonsOf(context, values);
      const webhooks = flag(values, 'clear-webhooks') ? [] : many(values, 'webhook').map((url) => ({ url }));
      const emails = flag(values, 'clear-emails') ? [] : many(values, 'email');
      const channelsGiven =
        flag(values, 'clear-webhooks') || flag(values, 'clear-emails') || webhooks.length + emails.length > 0;
      // The API replaces the channels as a whole: the list not named keeps what the rule has.
      const current = channelsGiven
        ? await context.api.GET('/v1/projects/{projectId}/alert-rules/{ruleId}', {
            params: { path: { projectId: context.project(), ruleId } },
          })
        : undefined;
      const body: UpdateAlertRuleRequest = {
        ...(name === undefined ? {} : { name }),
        ...(metric === undefined ? {} : { metric: metric as AlertMetricName }),
        ...(comparison === undefined ? {} : { comparison }),
        ...(threshold === undefined ? {} : { threshold: parseThreshold(threshold) }),
        ...(duration === undefined ? {} : { durationSeconds: parseDuration(duration) }),
        ...(addons === undefined ? {} : { addons }),
        ...(current
          ? {
              channels: {
                webhooks:
                  flag(values, 'clear-webhooks') || webhooks.length
                    ? webhooks
                    : (current.channels.webhooks ?? []),
                emails:
                  flag(values, 'clear-emails') || emails.length ? emails : (current.channels.emails ?? []),
              },
            }
          : {}),
        ...(enabled === undefined ? {} : { enabled }),
        ...(flag(values, 'rotate-signing-secret') ? { rotateSigningSecret: true } : {}),
      };
      if (Object.keys(body).length === 0) {
        throw usageError('give something to change (see `addons alert-rules update --help`)');
      }
      const rule = await context.api.PATCH('/v1/projects/{projectId}/alert-rules/{ruleId}', {
        params: { path: { projectId: context.project(), ruleId } },
        body,
      });
      context.out.result(rule, () => ruleText(rule));
      return EXIT.ok;
    },
  },
  {
    words: ['alert-rules', 'delete'],
    args: '<rule>',
    summary: 'Delete an alert rule (a deleted default rule does not come back)',
    options: { yes: { type: 'boolean', short: 'y', help: 'do not ask for confirmation on a terminal' } },
    async run(context, { positionals: [ref = ''], values }) {
      const ruleId = await resolveRule(context, ref);
      await confirm(values, `Delete alert rule ${ref}?`);
      await context.api.DELETE('/v1/projects/{projectId}/alert-rules/{ruleId}', {
        params: { path: { projectId: context.project(), ruleId } },
      });
      context.out.result({ id: ruleId, deleted: true }, () => `Alert rule ${ruleId} deleted`);
      return EXIT.ok;
    },
  },
  {
    words: ['alert-rules', 'deliveries'],
    args: '<rule>',
    summary: "The rule's delivery history: every attempt at every notification, newest first",
    options: pageOptions,
    async run(context, { positionals: [ref = ''], values }) {
      const ruleId = await resolveRule(context, ref);
      const page = await context.api.GET('/v1/projects/{projectId}/alert-rules/{ruleId}/deliveries', {
        params: { path: { projectId: context.project(), ruleId }, query: pageQuery(values, 100) },
      });
      context.out.result(page, () => {
        const rows = table(
          page.items.map((delivery) => ({
            time: delivery.at,
            kind: delivery.kind,
            addon: delivery.addonId,
            target: delivery.target,
            attempt: delivery.attempt,
            outcome: delivery.statusCode ? `${delivery.outcome} (${delivery.statusCode})` : delivery.outcome,
            detail: delivery.error ?? (delivery.nextAttemptAt ? `next at ${delivery.nextAttemptAt}` : null),
          })),
          ['time', 'kind', 'addon', 'target', 'attempt', 'outcome', 'detail'],
        );
        return page.nextCursor ? `${rows}\n(more: --cursor ${page.nextCursor})` : rows;
      });
      return EXIT.ok;
    },
  },
];
