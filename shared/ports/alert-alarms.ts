import type { PlatformEvent } from '../schemas/event.ts';
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

/**
 * E-mail for the rules no alarm watches (backup health, `isPlatformEvaluated`): on AWS a message
 * to the rule's SNS topic, whose e-mail subscribers get it; locally there are no e-mail channels.
 */
export interface AlertEmails {
  send(rule: AlertRuleRecord, event: PlatformEvent): Promise<void>;
}
