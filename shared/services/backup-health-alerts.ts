import { errorMessage } from '../errors.ts';
import { isPlatformEvaluated } from '../metrics/alert-metrics.ts';
import type { AddonRecord } from '../store/addon-store.ts';
import type { AlertStore } from '../store/alert-store.ts';
import { evaluateCondition, evaluatedOf } from './alert-evaluation.ts';
import type { AlertChange, AlertNotifier } from './alert-notifier.ts';

/** What one backup-health run found for an addon with an enabled schedule. */
export interface HealthEvaluation {
  addon: Pick<AddonRecord, 'projectId' | 'id'>;
  /** How many built-in rules it breaks (`backupHealth.problems`): 0 when healthy. */
  problems: number;
}

/** Any value is fresh: it was evaluated this run. */
const FRESH_SECONDS = 60;

/**
 * Backup health through the alert channels: each enabled rule on `backup.problems` (the project's
 * default "Backup health degraded", or one a team made) is evaluated on what the backup-health
 * monitor found this run, for every addon the rule covers, and a change goes through the same
 * notifier as any alert (state, `alert.firing`/`alert.resolved` event, signed webhooks, and on
 * AWS the e-mails of its topic): one notification per change of state. An addon the rule had
 * firing that has no backup health any more (its schedules disabled or deleted, the addon gone)
 * resolves.
 */
export class BackupHealthAlerts {
  private readonly now: () => Date;

  constructor(
    private readonly deps: {
      alerts: Pick<AlertStore, 'scanRules' | 'statesOf'>;
      notifier: Pick<AlertNotifier, 'transition'>;
      now?: () => Date;
    },
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  async run(evaluated: readonly HealthEvaluation[]): Promise<AlertChange[]> {
    const rules = (await this.deps.alerts.scanRules()).filter(
      (rule) => rule.enabled && isPlatformEvaluated(rule.metric),
    );
    const changes: AlertChange[] = [];
    const failures: string[] = [];
    for (const rule of rules) {
      try {
        const states = new Map(
          (await this.deps.alerts.statesOf(rule.projectId, rule.id)).map((state) => [state.addonId, state]),
        );
        const values = new Map<string, number>();
        for (const { addon, problems } of evaluated) {
          if (addon.projectId !== rule.projectId) continue;
          if (rule.addons !== 'all' && !rule.addons.includes(addon.id)) continue;
          values.set(addon.id, problems);
        }
        for (const [addonId, state] of states) {
          if (!values.has(addonId) && state.state !== 'ok') values.set(addonId, 0);
        }
        const now = this.now().getTime() / 1000;
        for (const [addonId, value] of values) {
          const previous = states.get(addonId);
          const next = evaluateCondition(
            rule,
            evaluatedOf(previous),
            [{ at: now, value }],
            now,
            FRESH_SECONDS,
          );
          if (!next) continue;
          const change = await this.deps.notifier.transition(rule, addonId, previous, next);
          if (change) changes.push(change);
        }
      } catch (error) {
        failures.push(`${rule.id}: ${errorMessage(error)}`);
      }
    }
    if (failures.length > 0) {
      throw new Error(`Backup-health alert rules failed: ${failures.join('; ')}`);
    }
    return changes;
  }
}
