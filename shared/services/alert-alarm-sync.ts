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

/**
 * The AWS reconciler's part in alerts. Every run: changes a crash left unannounced are announced
 * and due webhooks delivered (retries wait for this run, so their backoff is at least its period).
 * With `alarms` (the hourly run): every project with addons gets its default rules, and every
 * rule's alarms are put again for the addons it covers now (an addon created since gets its alarm,
 * a deleted one loses it).
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
    },
  ) {}

  async run(options: { alarms: boolean }): Promise<AlertSweepSummary> {
    const summary: AlertSweepSummary = {
      repaired: await this.deps.notifier.repair(),
      synced: [],
      errors: [],
      ...(await this.deps.dispatcher.run()),
    };
    if (!options.alarms) return summary;
    const addons = await this.deps.addons.scanAddons();
    for (const projectId of new Set(addons.map((addon) => addon.projectId))) {
      await this.deps.rules.ensureDefaults(projectId);
    }
    for (const rule of await this.deps.alerts.scanRules()) {
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
