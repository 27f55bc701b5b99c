import type { AddonRecord } from '../store/addon-store.ts';
import type { AlertRuleRecord } from '../store/alert-store.ts';

/**
 * Where a target evaluates rules itself: CloudWatch alarms on AWS, one per (rule, addon), with
 * the rule's SNS topic as their actions. Locally there is none: the scheduler's tick evaluates.
 */
export interface AlertAlarms {
  /** Makes the rule's alarms and topic match the rule and the addons it covers (idempotent). */
  sync(rule: AlertRuleRecord, addons: readonly AddonRecord[]): Promise<void>;
  /** Removes the rule's alarms and topic (idempotent). */
  remove(rule: Pick<AlertRuleRecord, 'id' | 'projectId'>): Promise<void>;
}
