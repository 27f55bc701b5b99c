import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { MetricsSource } from '#shared/ports/metrics-source.ts';
import { AlertDispatcher, type RetryPolicy } from '#shared/services/alert-dispatcher.ts';
import { AlertMonitor } from '#shared/services/alert-monitor.ts';
import { AlertNotifier } from '#shared/services/alert-notifier.ts';
import { AlertRuleService, availabilityFromSource } from '#shared/services/alert-rules.ts';
import { BackupHealthAlerts } from '#shared/services/backup-health-alerts.ts';
import { MetricsService } from '#shared/services/metrics-service.ts';
import type { AddonStore } from '#shared/store/addon-store.ts';
import { AlertStore } from '#shared/store/alert-store.ts';

/**
 * Alerts on the local target: rules in the table, evaluated by the scheduler's tick on the
 * sampler's series (`MetricsService.series`), webhooks delivered from the outbox on the same tick.
 */
export const localAlerts = (props: {
  client: DynamoDBDocumentClient;
  tableName: string;
  store: AddonStore;
  source: MetricsSource;
  stepSeconds: number;
  retry?: Partial<RetryPolicy>;
}) => {
  const alerts = new AlertStore({ client: props.client, tableName: props.tableName });
  const rules = new AlertRuleService({
    alerts,
    addons: props.store,
    target: 'local',
    available: availabilityFromSource(props.source),
  });
  const notifier = new AlertNotifier({ alerts, events: props.store.events });
  const monitor = new AlertMonitor({
    alerts,
    addons: props.store,
    rules,
    metrics: new MetricsService({ store: props.store, source: props.source }),
    notifier,
    stepSeconds: props.stepSeconds,
  });
  const dispatcher = new AlertDispatcher({ alerts, ...(props.retry ? { policy: props.retry } : {}) });
  return {
    rules,
    /** Rules on `backup.problems`: the backup-health monitor's findings through the channels. */
    backupHealth: new BackupHealthAlerts({ alerts, notifier }),
    /** One pass: evaluate every rule, then deliver what is due. */
    run: async () => {
      const evaluated = await monitor.run();
      const dispatched = await dispatcher.run();
      return { ...evaluated, ...dispatched };
    },
  };
};
