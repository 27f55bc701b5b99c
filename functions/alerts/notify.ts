import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SNSEvent } from 'aws-lambda';
import * as z from 'zod/mini';
import { documentClient } from '#functions/api/aws-clients.ts';
import { logger as defaultLogger } from '#functions/api/logger.ts';
import { lazyHandler } from '#shared/api/http-handler.ts';
import { AlertNotifyFunctionEnvSchema, parseEnv } from '#shared/config/env.ts';
import { parseAlarmName } from '#shared/providers/aws/cloudwatch-alarms.ts';
import { AlertDispatcher } from '#shared/services/alert-dispatcher.ts';
import type { AlertChange } from '#shared/services/alert-notifier.ts';
import { AlertNotifier } from '#shared/services/alert-notifier.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { AlertStore } from '#shared/store/alert-store.ts';

/** The part of CloudWatch's alarm notification this function reads. */
const AlarmMessageSchema = z.looseObject({
  AlarmName: z.string(),
  NewStateValue: z.string(),
  NewStateReason: z._default(z.string(), ''),
  StateChangeTime: z.string(),
});

const alarmMessage = (text: string) => {
  try {
    const parsed = AlarmMessageSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
};

/** `...+0000` as CloudWatch writes it, into an instant `Date.parse` reads everywhere. */
const instant = (time: string) => Date.parse(time.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));

/** The first data point CloudWatch quotes in its reason: `[95.2 (01/12/26 10:00:00)]`. */
const quotedValue = (reason: string): number | null => {
  const match = /\[(-?[0-9.]+(?:E-?\d+)?) \(/.exec(reason);
  return match ? Number(match[1]) : null;
};

/**
 * Subscribed to every alert rule's SNS topic: each CloudWatch alarm change (ALARM, OK) becomes the
 * rule's state for that addon, through the same notifier as the local target (state, event,
 * outbox), and the webhooks due are delivered, signed with the rule's secret. INSUFFICIENT_DATA
 * changes nothing. A failure throws: SNS retries the Lambda delivery, and the writes are
 * idempotent (conditional state write, event and deliveries keyed on the change).
 */
export const createNotifyHandler = (deps: {
  logger: Logger;
  deployment: string;
  alerts: AlertStore;
  notifier: AlertNotifier;
  dispatcher: Pick<AlertDispatcher, 'run'>;
}) => {
  const run = async (event: SNSEvent): Promise<{ changes: AlertChange[] }> => {
    const changes: AlertChange[] = [];
    for (const record of event.Records) {
      // The topic also carries the platform's own backup-health messages (for its e-mails): not alarms.
      const message = alarmMessage(record.Sns.Message);
      if (!message) continue;
      const owner = parseAlarmName(deps.deployment, message.AlarmName);
      const state =
        message.NewStateValue === 'ALARM' ? 'firing' : message.NewStateValue === 'OK' ? 'ok' : undefined;
      if (!owner?.addonId || !state) continue;
      const rule = await deps.alerts.findRule(owner.projectId, owner.ruleId);
      if (!rule) {
        deps.logger.warn('alarm of a deleted alert rule', { alarm: message.AlarmName });
        continue;
      }
      const previous = await deps.alerts.findState(rule.projectId, rule.id, owner.addonId);
      const change = await deps.notifier.transition(rule, owner.addonId, previous, {
        state,
        since: instant(message.StateChangeTime) / 1000,
        value: quotedValue(message.NewStateReason),
      });
      if (change) changes.push(change);
    }
    const delivered = await deps.dispatcher.run();
    for (const change of changes) deps.logger.info('alert state changed', { ...change });
    if (delivered.failed.length > 0)
      deps.logger.warn('alert deliveries gave up', { deliveries: delivered.failed });
    return { changes };
  };
  return middy(run).use(injectLambdaContext(deps.logger, { resetKeys: true }));
};

export const handler: (event: SNSEvent, context: Context) => Promise<{ changes: AlertChange[] }> =
  lazyHandler(() => {
    const env = parseEnv(AlertNotifyFunctionEnvSchema);
    const client = documentClient();
    const alerts = new AlertStore({ client, tableName: env.TABLE_NAME });
    const store = new AddonStore({ client, tableName: env.TABLE_NAME });
    return createNotifyHandler({
      logger: defaultLogger,
      deployment: env.DEPLOYMENT_NAME,
      alerts,
      notifier: new AlertNotifier({ alerts, events: store.events }),
      dispatcher: new AlertDispatcher({ alerts }),
    });
  });
