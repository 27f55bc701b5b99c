import { type FieldIssue, UnsupportedError, ValidationError } from '../errors.ts';
import {
  type AlertMetricName,
  alertMetricInputs,
  alertMetricUnit,
  isPlatformEvaluated,
} from '../metrics/alert-metrics.ts';
import type { AlertAlarms } from '../ports/alert-alarms.ts';
import type { MetricsSource } from '../ports/metrics-source.ts';
import {
  type AlertChannels,
  type AlertDelivery,
  type AlertRule,
  COMPARISON_WORDS,
  type Comparison,
  type CreateAlertRuleRequest,
  type UpdateAlertRuleRequest,
} from '../schemas/alert.ts';
import { type Engine, EngineSchema, type Target } from '../schemas/catalog.ts';
import type { Page, PaginationQuery } from '../schemas/common.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import type { AlertRuleRecord, AlertStore } from '../store/alert-store.ts';
import { deterministicId, newId, nowIso } from '../util/ids.ts';
import { newSigningSecret } from './webhook-signing.ts';

/** Why this target cannot evaluate `metric` for `engine` (undefined: it can). */
export type AlertMetricAvailability = (engine: Engine, metric: AlertMetricName) => string | undefined;

/** Locally: a metric is there when the engine has its inputs and the sampler serves them. */
export const availabilityFromSource =
  (source: Pick<MetricsSource, 'unavailable'>): AlertMetricAvailability =>
  (engine, metric) => {
    const inputs = alertMetricInputs(metric, engine);
    if (!inputs) return `${engine} addons have no ${metric}`;
    return inputs.map((input) => source.unavailable(engine, input)).find((reason) => reason !== undefined);
  };

/** The rules every project gets, with no channel: they change state and make events. */
export const DEFAULT_RULES: ReadonlyArray<
  Pick<AlertRuleRecord, 'name' | 'metric' | 'comparison' | 'threshold' | 'durationSeconds'> & { key: string }
> = [
  {
    key: 'storage',
    name: 'Storage above 85 %',
    metric: 'storage.used-percent',
    comparison: '>',
    threshold: 85,
    durationSeconds: 300,
  },
  {
    key: 'connections',
    name: 'Connections above 90 % of the limit',
    metric: 'connections.used-percent',
    comparison: '>',
    threshold: 90,
    durationSeconds: 300,
  },
  {
    key: 'cpu',
    name: 'CPU above 90 % for 10 minutes',
    metric: 'cpu',
    comparison: '>',
    threshold: 90,
    durationSeconds: 600,
  },
  {
    key: 'replica-lag',
    name: 'Replica lag above 60 s',
    metric: 'replication-lag',
    comparison: '>',
    threshold: 60,
    durationSeconds: 300,
  },
  {
    key: 'backup-health',
    name: 'Backup health degraded',
    metric: 'backup.problems',
    comparison: '>=',
    threshold: 1,
    durationSeconds: 0,
  },
];

export interface AlertRuleServiceDeps {
  alerts: AlertStore;
  addons: Pick<AddonStore, 'findAddon' | 'listAddons'>;
  target: Target;
  available: AlertMetricAvailability;
  /** CloudWatch alarms (AWS); absent where the platform evaluates rules itself (local). */
  alarms?: AlertAlarms;
}

/** A rule on the platform's own evaluation (backup health) fires at once: no duration. */
const checkDuration = (metric: AlertMetricName, durationSeconds: number) => {
  if (isPlatformEvaluated(metric) && durationSeconds !== 0) {
    throw new ValidationError('The alert rule is not valid', [
      {
        path: 'body.durationSeconds',
        message: `must be 0 for ${metric}: backup health changes state when the platform evaluates it`,
      },
    ]);
  }
};

const normalize = (comparison: string): Comparison =>
  (COMPARISON_WORDS[comparison] ?? comparison) as Comparison;

/**
 * Alert rules of a project: validated as a whole (metric, addons, channels against this target),
 * recorded, and on AWS mirrored as CloudWatch alarms. The signing secret is shown once, in the
 * answer to the create or to a rotation.
 */
export class AlertRuleService {
  constructor(private readonly deps: AlertRuleServiceDeps) {}

  toRule({ signingSecret: _s, revision: _r, ...rule }: AlertRuleRecord): AlertRule {
    return rule;
  }

  async create(projectId: string, request: CreateAlertRuleRequest): Promise<AlertRule> {
    await this.ensureDefaults(projectId);
    const comparison = normalize(request.comparison);
    const covered = await this.validate(projectId, request.metric, request.addons, request.channels);
    checkDuration(request.metric, request.durationSeconds);
    const now = nowIso();
    const record: AlertRuleRecord = {
      id: newId('alr'),
      projectId,
      name: request.name,
      metric: request.metric,
      unit: alertMetricUnit(request.metric),
      comparison,
      threshold: request.threshold,
      durationSeconds: request.durationSeconds,
      addons: request.addons,
      channels: request.channels,
      enabled: request.enabled,
      isDefault: false,
      signingSecret: newSigningSecret(),
      signingSecretCreatedAt: now,
      createdAt: now,
      updatedAt: now,
      revision: 1,
    };
    await this.deps.alerts.createRule(record);
    try {
      await this.deps.alarms?.sync(record, covered);
    } catch (error) {
      // No half-created rule: its alarms and topic go, then the record.
      await this.deps.alarms?.remove(record).catch(() => undefined);
      await this.deps.alerts.deleteRule(projectId, record.id);
      throw error;
    }
    return { ...this.toRule(record), signingSecret: record.signingSecret };
  }

  async list(projectId: string, page: PaginationQuery): Promise<Page<AlertRule>> {
    if (!page.cursor) await this.ensureDefaults(projectId);
    const result = await this.deps.alerts.listRules(projectId, page);
    return { items: result.items.map((rule) => this.toRule(rule)), nextCursor: result.nextCursor };
  }

  async get(projectId: string, ruleId: string): Promise<AlertRule> {
    const rule = await this.deps.alerts.getRule(projectId, ruleId);
    const states = await this.deps.alerts.statesOf(projectId, ruleId);
    return {
      ...this.toRule(rule),
      states: states.map(({ addonId, state, since, value }) => ({ addonId, state, since, value })),
    };
  }

  async update(projectId: string, ruleId: string, request: UpdateAlertRuleRequest): Promise<AlertRule> {
    const current = await this.deps.alerts.getRule(projectId, ruleId);
    const metric = request.metric ?? current.metric;
    const addons = request.addons ?? current.addons;
    const channels = request.channels ?? current.channels;
    const covered = await this.validate(projectId, metric, addons, channels);
    checkDuration(metric, request.durationSeconds ?? current.durationSeconds);
    const now = nowIso();
    const rotated = request.rotateSigningSecret ? newSigningSecret() : undefined;
    const updated = await this.deps.alerts.updateRule(current, {
      ...(request.name !== undefined ? { name: request.name } : {}),
      metric,
      unit: alertMetricUnit(metric),
      ...(request.comparison !== undefined ? { comparison: normalize(request.comparison) } : {}),
      ...(request.threshold !== undefined ? { threshold: request.threshold } : {}),
      ...(request.durationSeconds !== undefined ? { durationSeconds: request.durationSeconds } : {}),
      addons,
      channels,
      ...(request.enabled !== undefined ? { enabled: request.enabled } : {}),
      ...(rotated ? { signingSecret: rotated, signingSecretCreatedAt: now } : {}),
      updatedAt: now,
    });
    await this.deps.alarms?.sync(updated, covered);
    return { ...this.toRule(updated), ...(rotated ? { signingSecret: rotated } : {}) };
  }

  /** Alarms and topic first: a crash before the record goes leaves a rule a retry deletes again. */
  async delete(projectId: string, ruleId: string): Promise<void> {
    const rule = await this.deps.alerts.getRule(projectId, ruleId);
    await this.deps.alarms?.remove(rule);
    await this.deps.alerts.deleteRule(projectId, rule.id);
  }

  async deliveries(projectId: string, ruleId: string, page: PaginationQuery): Promise<Page<AlertDelivery>> {
    await this.deps.alerts.getRule(projectId, ruleId);
    return this.deps.alerts.listAttempts(projectId, ruleId, page);
  }

  /** The addons of the project a rule covers now (running or changing, not failed or going). */
  async coveredAddons(rule: Pick<AlertRuleRecord, 'projectId' | 'addons' | 'metric'>, all?: AddonRecord[]) {
    const addons = (all ?? (await this.projectAddons(rule.projectId))).filter(
      (addon) =>
        addon.projectId === rule.projectId &&
        !['creating', 'deleting', 'failed'].includes(addon.status) &&
        (rule.addons === 'all' || rule.addons.includes(addon.id)),
    );
    return addons.filter((addon) => this.deps.available(addon.engine, rule.metric) === undefined);
  }

  /** The project's addons: a query of its partition (the API functions may not scan the table). */
  private async projectAddons(projectId: string): Promise<AddonRecord[]> {
    const addons: AddonRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.deps.addons.listAddons(projectId, { limit: 100, cursor });
      addons.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return addons;
  }

  /**
   * The default rules, each once per project (a deleted one never comes back; one added to the
   * defaults later reaches existing projects once): each is written with a deterministic id (a
   * repeat is a no-op), then recorded as offered.
   */
  async ensureDefaults(projectId: string): Promise<AlertRuleRecord[]> {
    const offered = await this.deps.alerts.offeredDefaults(projectId);
    const missing = DEFAULT_RULES.filter((rule) => !offered.includes(rule.key));
    if (missing.length === 0) return [];
    const now = nowIso();
    const created: AlertRuleRecord[] = [];
    for (const rule of missing) {
      const available = EngineSchema.options.some((engine) => !this.deps.available(engine, rule.metric));
      if (!available) continue;
      const { key, ...fields } = rule;
      const record: AlertRuleRecord = {
        id: deterministicId('alr', 0, `${projectId}#default#${key}`),
        projectId,
        ...fields,
        unit: alertMetricUnit(rule.metric),
        addons: 'all',
        channels: { webhooks: [], emails: [] },
        enabled: true,
        isDefault: true,
        signingSecret: newSigningSecret(),
        signingSecretCreatedAt: now,
        createdAt: now,
        updatedAt: now,
        revision: 1,
      };
      if (await this.deps.alerts.createRuleOnce(record)) created.push(record);
    }
    await this.deps.alerts.recordOfferedDefaults(
      projectId,
      missing.map((rule) => rule.key),
      now,
    );
    return created;
  }

  /** The whole rule against this project and target; the covered addons when it passes. */
  private async validate(
    projectId: string,
    metric: AlertMetricName,
    addons: AlertRule['addons'],
    channels: AlertChannels,
  ): Promise<AddonRecord[]> {
    const issues: FieldIssue[] = [];
    const unsupported: FieldIssue[] = [];
    if (addons === 'all') {
      const reasons = EngineSchema.options.map((engine) => this.deps.available(engine, metric));
      if (reasons.every((reason) => reason !== undefined)) {
        unsupported.push({ path: 'body.metric', message: `${metric} is not available here: ${reasons[0]}` });
      }
    } else {
      for (const [index, addonId] of addons.entries()) {
        const addon = await this.deps.addons.findAddon(projectId, addonId);
        if (!addon) {
          issues.push({
            path: `body.addons.${index}`,
            message: `${addonId} is not an addon of this project`,
          });
          continue;
        }
        if (!alertMetricInputs(metric, addon.engine)) {
          issues.push({
            path: 'body.metric',
            message: `${metric} is not a metric of ${addon.engine} (${addonId})`,
          });
          continue;
        }
        const reason = this.deps.available(addon.engine, metric);
        if (reason) unsupported.push({ path: 'body.metric', message: `${metric} for ${addonId}: ${reason}` });
      }
    }
    for (const [index, webhook] of channels.webhooks.entries()) {
      const problem = this.webhookProblem(webhook.url);
      if (problem) issues.push({ path: `body.channels.webhooks.${index}.url`, message: problem });
    }
    if (channels.emails.length > 0 && this.deps.target === 'local') {
      unsupported.push({
        path: 'body.channels.emails',
        message: 'e-mail channels are Amazon SNS subscriptions: AWS only; use a webhook locally',
      });
    }
    if (issues.length > 0) throw new ValidationError('The alert rule is not valid', issues);
    if (unsupported.length > 0) {
      throw new UnsupportedError(unsupported.map((issue) => issue.message).join('; '), unsupported);
    }
    return this.coveredAddons({ projectId, addons, metric });
  }

  private webhookProblem(text: string): string | undefined {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return 'is not a URL';
    }
    if (url.username || url.password) return 'must not carry credentials (the signature authenticates)';
    if (url.protocol === 'https:') return undefined;
    if (url.protocol !== 'http:') return 'must be https';
    if (this.deps.target === 'aws') return 'must be https (SNS delivers webhooks over https only)';
    return undefined;
  }
}
