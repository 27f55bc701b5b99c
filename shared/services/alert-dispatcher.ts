import { errorMessage } from '../errors.ts';
import { MAX_MESSAGE_LENGTH } from '../schemas/bounds.ts';
import type { AlertOutboxRecord, AlertStore } from '../store/alert-store.ts';
import { SIGNATURE_HEADER, signatureOf } from './webhook-signing.ts';

/** One HTTP POST; resolves with the status (any), rejects on a network error or timeout. */
export type WebhookPost = (
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
) => Promise<{ status: number }>;

/** Redirects are not followed: a 3xx is a failed attempt, the body goes only where the rule says. */
export const fetchPost: WebhookPost = async (url, body, headers, timeoutMs) => {
  const response = await fetch(url, {
    method: 'POST',
    body,
    headers,
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  await response.body?.cancel();
  return { status: response.status };
};

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Wait after the first failure; doubled after each further one. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** How long a running attempt keeps the notification; after a crash it is due again then. */
  leaseMs: number;
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 6,
  baseDelayMs: 30_000,
  maxDelayMs: 15 * 60_000,
  leaseMs: 60_000,
  timeoutMs: 10_000,
};

/** Exponential backoff: the wait after failed attempt `attempt` (1-based). */
export const backoffMs = (policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, attempt: number) =>
  Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));

export interface DispatchSummary {
  delivered: string[];
  retrying: string[];
  failed: string[];
}

/**
 * Delivers queued notifications (the outbox the notifier fills): each due one is claimed (one
 * conditional write), POSTed signed with its rule's current secret, its attempt recorded in the
 * delivery history, then settled: delivered on a 2xx, due again after an exponential backoff
 * otherwise, failed after `maxAttempts`. At least once: a process that dies between the POST and
 * the settle leaves it due again when its lease ends, so a receiver may see a delivery twice
 * (the same `X-Addons-Delivery` and body `id`).
 */
export class AlertDispatcher {
  private readonly policy: RetryPolicy;
  private readonly post: WebhookPost;
  private readonly now: () => Date;

  constructor(
    private readonly deps: {
      alerts: Pick<AlertStore, 'due' | 'claim' | 'settle' | 'recordAttempt' | 'findRule'>;
      policy?: Partial<RetryPolicy>;
      post?: WebhookPost;
      now?: () => Date;
    },
  ) {
    this.policy = { ...DEFAULT_RETRY, ...deps.policy };
    this.post = deps.post ?? fetchPost;
    this.now = deps.now ?? (() => new Date());
  }

  async run(): Promise<DispatchSummary> {
    const summary: DispatchSummary = { delivered: [], retrying: [], failed: [] };
    const due = await this.deps.alerts.due(this.now().toISOString());
    await Promise.all(due.map((record) => this.deliver(record, summary)));
    return summary;
  }

  private async deliver(queued: AlertOutboxRecord, summary: DispatchSummary): Promise<void> {
    const started = this.now();
    const record = await this.deps.alerts.claim(
      queued,
      new Date(started.getTime() + this.policy.leaseMs).toISOString(),
    );
    if (!record) return; // another dispatcher took it
    const rule = await this.deps.alerts.findRule(record.projectId, record.ruleId);
    let statusCode: number | null = null;
    let error: string | null = null;
    if (!rule) {
      error = 'The rule was deleted';
    } else {
      const timestamp = Math.floor(started.getTime() / 1000);
      try {
        const response = await this.post(
          record.target,
          record.payload,
          {
            'content-type': 'application/json',
            'user-agent': 'addons-alerts/1',
            [SIGNATURE_HEADER]: signatureOf(rule.signingSecret, record.payload, timestamp),
            'x-addons-event': record.kind === 'firing' ? 'alert.firing' : 'alert.resolved',
            'x-addons-delivery': record.deliveryId,
          },
          this.policy.timeoutMs,
        );
        statusCode = response.status;
        if (response.status < 200 || response.status > 299)
          error = `The receiver answered ${response.status}`;
      } catch (cause) {
        error = errorMessage(cause).slice(0, MAX_MESSAGE_LENGTH);
      }
    }
    const ok = error === null;
    const last = ok || !rule || record.attempts >= this.policy.maxAttempts;
    const at = this.now();
    const retryAt = last
      ? null
      : new Date(at.getTime() + backoffMs(this.policy, record.attempts)).toISOString();
    await this.deps.alerts.recordAttempt(record.projectId, {
      deliveryId: record.deliveryId,
      ruleId: record.ruleId,
      addonId: record.addonId,
      eventId: record.eventId,
      kind: record.kind,
      channel: record.channel,
      target: record.target,
      attempt: record.attempts,
      outcome: ok ? 'succeeded' : 'failed',
      statusCode,
      error,
      at: at.toISOString(),
      nextAttemptAt: retryAt,
    });
    await this.deps.alerts.settle(record, retryAt, ok ? 'delivered' : last ? 'failed' : 'queued');
    (ok ? summary.delivered : last ? summary.failed : summary.retrying).push(record.deliveryId);
  }
}
