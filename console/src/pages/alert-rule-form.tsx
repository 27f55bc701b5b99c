import { type FormEvent, useState } from 'react';
import { toProblem } from '../hooks.ts';
import type { Addon, AlertMetricName, AlertRule, CreateAlertRuleRequest, Problem } from '../types.ts';
import { FieldError, fieldMessages, ProblemView } from '../ui/problem.tsx';

/** What a rule can watch (shared/metrics/alert-metrics.ts): the derived ratios first, then the catalog. */
export const ALERT_METRICS = [
  'storage.used-percent',
  'connections.used-percent',
  'replication-lag',
  'backup.problems',
  'cpu',
  'memory',
  'memory.free',
  'storage.used',
  'storage.free',
  'connections',
  'connections.limit',
  'read.throughput',
  'write.throughput',
  'postgresql.transactions',
  'postgresql.replication-lag',
  'postgresql.oldest-transaction-age',
  'mysql.queries',
  'mysql.threads-running',
  'mysql.replication-lag',
  'redis.memory',
  'redis.evictions',
  'redis.hit-ratio',
  'mongodb.operations',
] as const satisfies readonly AlertMetricName[];
// Every metric of the API's enum is offered: one missing here fails the console's typecheck, naming it.
type Missing = Exclude<AlertMetricName, (typeof ALERT_METRICS)[number]>;
const everyMetric: [Missing] extends [never] ? true : Missing = true;
void everyMetric;

export const COMPARISON_LABELS = {
  '>': 'above (>)',
  '>=': 'at least (>=)',
  '<': 'below (<)',
  '<=': 'at most (<=)',
} as const;
type Comparison = keyof typeof COMPARISON_LABELS;

const lines = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);

/** The API's messages for a list and its items (`channels.webhooks.0.url`), each with the item it names. */
const itemMessages = (problem: Problem | undefined, field: string, noun = 'line') =>
  (problem?.errors ?? []).flatMap((error) => {
    const path = error.path.replace(/^body\./, '');
    if (path === field) return [error.message];
    const item = new RegExp(`^${field.replaceAll('.', '\\.')}\\.(\\d+)`).exec(path);
    return item ? [`${noun} ${Number(item[1]) + 1}: ${error.message}`] : [];
  });

/**
 * An alert rule's name, condition (metric, comparison, threshold, duration), the addons it covers
 * (all, now and later, or a chosen few), its channels (webhook URLs and e-mail addresses, one a
 * line) and whether it is enabled. Every input is labelled; the API's field messages land under
 * the input they name.
 */
export const AlertRuleForm = ({
  initial,
  addons,
  submitLabel,
  onSubmit,
}: {
  initial?: AlertRule;
  addons: Addon[];
  submitLabel: string;
  onSubmit: (body: CreateAlertRuleRequest) => Promise<void>;
}) => {
  const [scope, setScope] = useState<'all' | 'some'>(initial && initial.addons !== 'all' ? 'some' : 'all');
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  const chosen = new Set(initial && initial.addons !== 'all' ? initial.addons : []);
  // Addons of the rule that are gone from the project stay choosable, so an edit keeps them.
  const choices = [
    ...addons.map((addon) => ({ id: addon.id, label: `${addon.name} (${addon.engine})` })),
    ...[...chosen].filter((id) => !addons.some((addon) => addon.id === id)).map((id) => ({ id, label: id })),
  ];

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const thresholdText = String(form.get('threshold') ?? '').trim();
    const durationText = String(form.get('durationSeconds') ?? '').trim();
    const threshold = Number(thresholdText);
    const durationSeconds = durationText === '' ? 0 : Number(durationText);
    const local = [
      ...(thresholdText === '' || !Number.isFinite(threshold)
        ? [{ path: 'threshold', message: 'must be a number' }]
        : []),
      ...(!Number.isInteger(durationSeconds)
        ? [{ path: 'durationSeconds', message: 'must be whole seconds' }]
        : []),
    ];
    if (local.length) {
      setProblem({ type: 'about:blank', title: 'The rule is not valid', status: 400, errors: local });
      return;
    }
    const body: CreateAlertRuleRequest = {
      name: String(form.get('name') ?? ''),
      metric: String(form.get('metric')) as AlertMetricName,
      comparison: String(form.get('comparison')) as Comparison,
      threshold,
      durationSeconds,
      addons: scope === 'all' ? 'all' : (form.getAll('addons') as string[]),
      channels: {
        webhooks: lines(String(form.get('webhooks') ?? '')).map((url) => ({ url })),
        emails: lines(String(form.get('emails') ?? '')),
      },
      enabled: form.get('enabled') === 'on',
    };
    setBusy(true);
    setProblem(undefined);
    try {
      await onSubmit(body);
    } catch (error) {
      setProblem(toProblem(error));
    } finally {
      setBusy(false);
    }
  };

  const described = (name: string, hasHint = false) => ({
    'aria-invalid': fieldMessages(problem, name).length > 0,
    'aria-describedby': `${hasHint ? `rule-${name}-hint ` : ''}rule-${name}-error`,
  });
  const webhookErrors = itemMessages(problem, 'channels.webhooks');
  const emailErrors = itemMessages(problem, 'channels.emails');
  return (
    <form onSubmit={submit} noValidate>
      <ProblemView problem={problem} />
      <label htmlFor="rule-name">Name</label>
      <input id="rule-name" name="name" required defaultValue={initial?.name} {...described('name')} />
      <FieldError id="rule-name-error" messages={fieldMessages(problem, 'name')} />

      <label htmlFor="rule-metric">Metric</label>
      <select
        id="rule-metric"
        name="metric"
        defaultValue={initial?.metric ?? 'cpu'}
        {...described('metric', true)}
      >
        {ALERT_METRICS.map((metric) => (
          <option key={metric} value={metric}>
            {metric}
          </option>
        ))}
      </select>
      <span id="rule-metric-hint" className="hint">
        The unit is the metric's: percent for cpu and the *-percent ratios, bytes, seconds…
      </span>
      <FieldError id="rule-metric-error" messages={fieldMessages(problem, 'metric')} />

      <div className="editor-row">
        <div>
          <label htmlFor="rule-comparison">Comparison</label>
          <select
            id="rule-comparison"
            name="comparison"
            defaultValue={initial?.comparison ?? '>'}
            {...described('comparison')}
          >
            {Object.entries(COMPARISON_LABELS).map(([symbol, label]) => (
              <option key={symbol} value={symbol}>
                {label}
              </option>
            ))}
          </select>
          <FieldError id="rule-comparison-error" messages={fieldMessages(problem, 'comparison')} />
        </div>
        <div>
          <label htmlFor="rule-threshold">Threshold</label>
          <input
            id="rule-threshold"
            name="threshold"
            inputMode="decimal"
            defaultValue={initial ? String(initial.threshold) : ''}
            {...described('threshold')}
          />
          <FieldError id="rule-threshold-error" messages={fieldMessages(problem, 'threshold')} />
        </div>
        <div>
          <label htmlFor="rule-durationSeconds">For (seconds)</label>
          <input
            id="rule-durationSeconds"
            name="durationSeconds"
            inputMode="numeric"
            defaultValue={String(initial?.durationSeconds ?? 300)}
            {...described('durationSeconds', true)}
          />
          <span id="rule-durationSeconds-hint" className="hint">
            0 fires at once; 300 is 5 minutes; at most 86400
          </span>
          <FieldError id="rule-durationSeconds-error" messages={fieldMessages(problem, 'durationSeconds')} />
        </div>
      </div>

      <fieldset aria-describedby="rule-addons-error">
        <legend>Addons</legend>
        <label className="check">
          <input
            type="radio"
            name="scope"
            value="all"
            checked={scope === 'all'}
            onChange={() => setScope('all')}
          />{' '}
          All addons of the project, later ones too
        </label>
        <label className="check">
          <input
            type="radio"
            name="scope"
            value="some"
            checked={scope === 'some'}
            onChange={() => setScope('some')}
            disabled={!choices.length}
          />{' '}
          Only these addons
        </label>
        {scope === 'some'
          ? choices.map((choice) => (
              <label key={choice.id} className="check">
                <input
                  type="checkbox"
                  name="addons"
                  value={choice.id}
                  defaultChecked={chosen.has(choice.id)}
                />{' '}
                {choice.label}
              </label>
            ))
          : null}
        <FieldError id="rule-addons-error" messages={itemMessages(problem, 'addons', 'addon')} />
      </fieldset>

      <fieldset>
        <legend>Channels</legend>
        <label htmlFor="rule-webhooks">Webhook URLs (one a line, up to 5)</label>
        <textarea
          id="rule-webhooks"
          name="webhooks"
          rows={2}
          spellCheck={false}
          placeholder="https://hooks.example.com/addons"
          defaultValue={(initial?.channels.webhooks ?? []).map((hook) => hook.url).join('\n')}
          aria-invalid={webhookErrors.length > 0}
          aria-describedby="rule-webhooks-hint rule-webhooks-error"
        />
        <span id="rule-webhooks-hint" className="hint">
          Signed with the rule's secret (HMAC-SHA256, docs/alerts.md), retried and recorded.
        </span>
        <FieldError id="rule-webhooks-error" messages={webhookErrors} />
        <label htmlFor="rule-emails">E-mail addresses (one a line, up to 10)</label>
        <textarea
          id="rule-emails"
          name="emails"
          rows={2}
          spellCheck={false}
          defaultValue={(initial?.channels.emails ?? []).join('\n')}
          aria-invalid={emailErrors.length > 0}
          aria-describedby="rule-emails-hint rule-emails-error"
        />
        <span id="rule-emails-hint" className="hint">
          Amazon SNS subscriptions, on AWS only.
        </span>
        <FieldError id="rule-emails-error" messages={emailErrors} />
      </fieldset>

      <label className="check">
        <input type="checkbox" name="enabled" defaultChecked={initial?.enabled ?? true} /> Enabled
      </label>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Saving…' : submitLabel}
        </button>
      </div>
    </form>
  );
};
