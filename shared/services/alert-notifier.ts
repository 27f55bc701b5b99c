import { isPlatformEvaluated } from '../metrics/alert-metrics.ts';
import type { AlertEmails } from '../ports/alert-alarms.ts';
import type { AlertNotificationKind } from '../schemas/alert.ts';
import type { PlatformEvent } from '../schemas/event.ts';
import type { AlertRuleRecord, AlertStateRecord, AlertStore } from '../store/alert-store.ts';
import type { EventStore } from '../store/event-store.ts';
import { deterministicId } from '../util/ids.ts';
import { type Evaluated, notificationOf } from './alert-evaluation.ts';

export interface AlertChange {
  ruleId: string;
  addonId: string;
  kind: AlertNotificationKind;
}

/**
 * Records alert state changes and announces the ones to or from `firing`, crash-safe:
 *
 * 1. the new state is written with a condition on the one it replaces (two evaluators never both
 *    announce a change), carrying the change's event id and `announced: false`;
 * 2. the `alert.firing`/`alert.resolved` event is appended to the feed (idempotent: its id);
 * 3. one notification per webhook is queued in the outbox (idempotent: its id derives from the
 *    event and the channel), and for a rule no alarm watches the e-mails are sent (at least once);
 * 4. the state is marked announced.
 *
 * A crash anywhere leaves the state unannounced, and `repair` (every evaluation pass) does 2-4
 * again: nothing is lost, nothing is queued twice. Pending and silent returns to ok make no event.
 */
export class AlertNotifier {
  constructor(
    private readonly deps: {
      alerts: Pick<
        AlertStore,
        'putState' | 'markAnnounced' | 'enqueue' | 'unannouncedStates' | 'findRule' | 'findState'
      >;
      events: Pick<EventStore, 'append'>;
      /** E-mails of rules without an alarm (AWS; an alarm's own topic mails the others). */
      emails?: AlertEmails;
    },
  ) {}

  /** Writes `next` if it differs from `previous`; the notification it made, if any. */
  async transition(
    rule: AlertRuleRecord,
    addonId: string,
    previous: AlertStateRecord | undefined,
    next: Evaluated,
  ): Promise<AlertChange | undefined> {
    if (previous && !previous.announced) await this.announce(rule, previous);
    if (previous?.state === next.state) return undefined;
    const kind = notificationOf(previous?.state, next.state);
    const since = new Date(next.since * 1000).toISOString();
    const record: AlertStateRecord = {
      projectId: rule.projectId,
      ruleId: rule.id,
      addonId,
      state: next.state,
      since,
      value: next.value,
      revision: (previous?.revision ?? 0) + 1,
      eventId: kind ? `${rule.id}.${addonId}.alert.${kind}.${Date.parse(since)}` : null,
      announced: kind === undefined,
    };
    if (!(await this.deps.alerts.putState(record, previous))) return undefined;
    if (!kind) return undefined;
    await this.announce(rule, record);
    return { ruleId: rule.id, addonId, kind };
  }

  /** Announces changes a crash left half-done (their rule gone: only marked). */
  async repair(): Promise<number> {
    let repaired = 0;
    for (const state of await this.deps.alerts.unannouncedStates()) {
      const rule = await this.deps.alerts.findRule(state.projectId, state.ruleId);
      if (rule) await this.announce(rule, state);
      else await this.deps.alerts.markAnnounced(state);
      repaired += 1;
    }
    return repaired;
  }

  private async announce(rule: AlertRuleRecord, state: AlertStateRecord): Promise<void> {
    if (!state.eventId) return;
    const kind: AlertNotificationKind = state.state === 'firing' ? 'firing' : 'resolved';
    const event: PlatformEvent = {
      id: state.eventId,
      type: kind === 'firing' ? 'alert.firing' : 'alert.resolved',
      projectId: rule.projectId,
      addonId: state.addonId,
      occurredAt: state.since,
      operation: null,
      backupHealth: null,
      alert: {
        ruleId: rule.id,
        ruleName: rule.name,
        metric: rule.metric,
        comparison: rule.comparison,
        threshold: rule.threshold,
        durationSeconds: rule.durationSeconds,
        state: kind === 'firing' ? 'firing' : 'ok',
        value: state.value,
      },
    };
    await this.deps.events.append(event);
    if (this.deps.emails && isPlatformEvaluated(rule.metric) && rule.channels.emails.length > 0) {
      await this.deps.emails.send(rule, event);
    }
    for (const [index, webhook] of rule.channels.webhooks.entries()) {
      const deliveryId = deterministicId(
        'dlv',
        Date.parse(state.since),
        `${event.id}#${index}#${webhook.url}`,
      );
      await this.deps.alerts.enqueue({
        projectId: rule.projectId,
        deliveryId,
        ruleId: rule.id,
        addonId: state.addonId,
        eventId: event.id,
        kind,
        channel: 'webhook',
        target: webhook.url,
        payload: JSON.stringify({
          id: event.id,
          type: event.type,
          deliveryId,
          occurredAt: event.occurredAt,
          projectId: event.projectId,
          addonId: event.addonId,
          alert: event.alert,
        }),
        attempts: 0,
        status: 'queued',
        dueAt: new Date().toISOString(),
      });
    }
    await this.deps.alerts.markAnnounced(state);
  }
}
