import { errorMessage } from '../errors.ts';
import { alertMetricInputs, combineAlertMetric, isPlatformEvaluated } from '../metrics/alert-metrics.ts';
import type { MetricsWindow } from '../ports/metrics-source.ts';
import type { AddonRecord, AddonStore } from '../store/addon-store.ts';
import type { AlertRuleRecord, AlertStore } from '../store/alert-store.ts';
import { type AlertPoint, evaluateCondition, evaluatedOf } from './alert-evaluation.ts';
import type { AlertChange, AlertNotifier } from './alert-notifier.ts';
import type { AlertRuleService } from './alert-rules.ts';
import type { MetricsService } from './metrics-service.ts';

export interface AlertMonitorSummary {
  changes: AlertChange[];
  repaired: number;
  errors: Array<{ ruleId: string; addonId?: string; reason: string }>;
}

/**
 * Evaluates every enabled rule against the sampled series of the addons it covers (the local
 * target; on AWS CloudWatch alarms do this): one `MetricsService.series` query per (rule, addon)
 * over the rule's duration plus a few steps, `evaluateCondition` on the points, and a state change
 * through the notifier. Projects with addons get their default rules here too.
 */
export class AlertMonitor {
  private readonly now: () => Date;
  private readonly defaultsDone = new Set<string>();

  constructor(
    private readonly deps: {
      alerts: Pick<AlertStore, 'scanRules' | 'statesOf'>;
      addons: Pick<AddonStore, 'scanAddons'>;
      rules: Pick<AlertRuleService, 'ensureDefaults' | 'coveredAddons'>;
      metrics: Pick<MetricsService, 'series'>;
      notifier: Pick<AlertNotifier, 'transition' | 'repair'>;
      /** The sampling interval: the step of the series read. */
      stepSeconds: number;
      now?: () => Date;
    },
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  async run(): Promise<AlertMonitorSummary> {
    const summary: AlertMonitorSummary = { changes: [], repaired: 0, errors: [] };
    summary.repaired = await this.deps.notifier.repair();
    const addons = await this.deps.addons.scanAddons();
    for (const projectId of new Set(addons.map((addon) => addon.projectId))) {
      if (this.defaultsDone.has(projectId)) continue;
      await this.deps.rules.ensureDefaults(projectId);
      this.defaultsDone.add(projectId);
    }
    for (const rule of await this.deps.alerts.scanRules()) {
      // Backup health has no series: the backup-health monitor drives those rules.
      if (!rule.enabled || isPlatformEvaluated(rule.metric)) continue;
      try {
        await this.evaluateRule(rule, addons, summary);
      } catch (error) {
        summary.errors.push({ ruleId: rule.id, reason: errorMessage(error) });
      }
    }
    return summary;
  }

  private async evaluateRule(rule: AlertRuleRecord, all: AddonRecord[], summary: AlertMonitorSummary) {
    const covered = await this.deps.rules.coveredAddons(rule, all);
    if (covered.length === 0) return;
    const states = new Map(
      (await this.deps.alerts.statesOf(rule.projectId, rule.id)).map((state) => [state.addonId, state]),
    );
    for (const addon of covered) {
      try {
        const previous = states.get(addon.id);
        const now = this.now().getTime() / 1000;
        const next = evaluateCondition(
          rule,
          evaluatedOf(previous),
          await this.points(rule, addon, now),
          now,
          Math.max(3 * this.deps.stepSeconds, 30),
        );
        if (!next) continue;
        const change = await this.deps.notifier.transition(rule, addon.id, previous, next);
        if (change) summary.changes.push(change);
      } catch (error) {
        summary.errors.push({ ruleId: rule.id, addonId: addon.id, reason: errorMessage(error) });
      }
    }
  }

  /** The rule's metric over its duration and three more steps, oldest first, steps without a value left out. */
  private async points(rule: AlertRuleRecord, addon: AddonRecord, now: number): Promise<AlertPoint[]> {
    const inputs = alertMetricInputs(rule.metric, addon.engine);
    if (!inputs) return [];
    const step = this.deps.stepSeconds;
    const from = Math.floor((now - rule.durationSeconds - 3 * step) / step) * step;
    const window: MetricsWindow = { from, step, points: Math.floor((now - from) / step) + 1 };
    const series = await this.deps.metrics.series(
      { addonId: addon.id, resourceId: addon.resourceId, engine: addon.engine },
      inputs,
      window,
    );
    const points: AlertPoint[] = [];
    for (let index = 0; index < window.points; index += 1) {
      const value = combineAlertMetric(
        rule.metric,
        series.map((each) => each.values[index]),
      );
      if (value !== null) points.push({ at: from + index * step, value });
    }
    return points;
  }
}
