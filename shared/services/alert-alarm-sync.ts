import { errorMessage } from '../errors.ts';
import type { AlertAlarms } from '../ports/alert-alarms.ts';
import type { AddonStore } from '../store/addon-store.ts';
import type { AlertStore } from '../store/alert-store.ts';
import type { AlertDispatcher, DispatchSummary } from './alert-dispatcher.ts';
import type { AlertNotifier } from './alert-notifier.ts';
import type { AlertRuleService } from './alert-rules.ts';

export interface AlertSweepSummary extends DispatchSummary {
  repaired: number;
  synced: string[];
  errors: Array<{ ruleId?: string; reason: string }>;
}

/** Addons changed this recently (three 5-minute runs) bring their project's rules into a run. */
export const RECENT_CHANGE_MS = 15 * 60_000;

/**
 * The AWS reconciler's part in alerts. Every run: changes a crash left unannounced are announced
 * and due webhooks delivered (retries wait for this run, so their backoff is at least its period),
 * and the rules of projects with an addon changed in the last 15 minutes are synced (a new addon
 * of an `"all"` rule gets its alarm within a run of becoming available, a grown one its new
 * allocated storage). With `alarms` (the hourly run): every project with addons gets its default
 * rules, and every rule's alarms are put again for the addons it covers now (a deleted addon's
 * alarm goes).
 */
export class AlertSweep {
  constructor(
    private readonly deps: {
      alerts: Pick<AlertStore, 'scanRules'>;
      addons: Pick<AddonStore, 'scanAddons'>;
      rules: Pick<AlertRuleService, 'ensureDefaults' | 'coveredAddons'>;
      alarms: AlertAlarms;
      notifier: Pick<AlertNotifier, 'repair'>;
      dispatcher: Pick<AlertDispatcher, 'run'>;
      now?: () => Date;
    },
  ) {}

  async run(options: { alarms: boolean }): Promise<AlertSweepSummary> {
    const summary: AlertSweepSummary = {
      repaired: await this.deps.notifier.repair(),
      synced: [],
      errors: [],
      ...(await this.deps.dispatcher.run()),
    };
    const addons = await this.deps.addons.scanAddons();
    const since = (this.deps.now?.() ?? new Date()).getTime() - RECENT_CHANGE_MS;
    const projects = new Set(
      addons
        .filter((addon) => options.alarms || Date.parse(addon.updatedAt ?? addon.createdAt) >= since)
        .map((addon) => addon.projectId),
    );
    for (const projectId of projects) {
      await this.deps.rules.ensureDefaults(projectId);
    }
    for (const rule of await this.deps.alerts.scanRules()) {
      if (!options.alarms && !projects.has(rule.projectId)) continue;
      try {
        await this.deps.alarms.sync(rule, await this.deps.rules.coveredAddons(rule, addons));
        summary.synced.push(rule.id);
      } catch (error) {
        summary.errors.push({ ruleId: rule.id, reason: errorMessage(error) });
      }
    }
    return summary;
  }
}
