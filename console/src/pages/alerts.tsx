import { type RefObject, useEffect, useRef, useState } from 'react';
import { allPages, toProblem, useApi, useLoad } from '../hooks.ts';
import { hrefOf } from '../router.ts';
import type { AlertDelivery, AlertRule, Problem } from '../types.ts';
import { CopyButton } from '../ui/copy.tsx';
import { Confirm, FormDialog } from '../ui/dialogs.tsx';
import { ProblemView } from '../ui/problem.tsx';
import { ProjectNav } from '../ui/project-nav.tsx';
import { Status, when } from '../ui/status.tsx';
import { AlertRuleForm } from './alert-rule-form.tsx';

/** While the page is open (and the tab visible), the rules and their states are asked for this often. */
const STATES_POLL_MS = 15_000;

const UNITS: Record<string, string> = { percent: ' %', seconds: ' s', bytes: ' bytes' };
export const condition = (rule: AlertRule) =>
  `${rule.metric} ${rule.comparison} ${rule.threshold}${UNITS[rule.unit] ?? ` ${rule.unit}`}`;
export const duration = (seconds: number) =>
  seconds === 0 ? 'at once' : seconds % 60 === 0 ? `for ${seconds / 60} min` : `for ${seconds} s`;

interface Secret {
  ruleName: string;
  value: string;
  rotated: boolean;
}

/**
 * A project's alert rules (docs/alerts.md): the condition, the addons and channels of each, and
 * the state it has on each addon (ok, pending, firing); create, edit, delete, rotate the webhook
 * signing secret (shown once, like on create), and each rule's delivery history.
 */
export const AlertsPage = ({ projectId }: { projectId: string }) => {
  const api = useApi();
  // The listing has no states: each rule is read too (a project has a handful of rules).
  const rules = useLoad(
    async () => {
      const list = await allPages((cursor) => api.alertRules(projectId, cursor));
      return Promise.all(list.map((rule) => api.alertRule(projectId, rule.id)));
    },
    [api, projectId],
    { pollMs: STATES_POLL_MS, poll: () => true },
  );
  const addons = useLoad(() => allPages((cursor) => api.listAddons(projectId, cursor)), [api, projectId]);
  const addonList = (addons.data ?? []).filter((addon) => addon.status !== 'deleting');
  const names = new Map((addons.data ?? []).map((addon) => [addon.id, addon.name]));
  const [secret, setSecret] = useState<Secret>();
  // A secret just shown takes the focus from the dialog that got it (not the dialog's trigger).
  const secretHeading = useRef<HTMLHeadingElement>(null);
  const revealed = useRef(false);
  const reveal = (rule: AlertRule, rotated: boolean) => {
    if (!rule.signingSecret) return;
    revealed.current = true;
    setSecret({ ruleName: rule.name, value: rule.signingSecret, rotated });
  };
  const focusSecret = () => {
    const heading = revealed.current ? secretHeading.current : null;
    revealed.current = false;
    return heading;
  };

  return (
    <section>
      <nav aria-label="Breadcrumb" className="crumbs">
        <a href={hrefOf({ page: 'projects' })}>Projects</a> /{' '}
        <a href={hrefOf({ page: 'project', projectId })}>{projectId}</a> /{' '}
        <span aria-current="page">Alerts</span>
      </nav>
      <div className="heading">
        <h1>Alerts</h1>
        <FormDialog
          title="New alert rule"
          focusAfterClose={focusSecret}
          trigger={
            <button type="button" className="primary" disabled={!addons.data}>
              New alert rule
            </button>
          }
        >
          {(close) => (
            <AlertRuleForm
              addons={addonList}
              submitLabel="Create rule"
              onSubmit={async (body) => {
                reveal(await api.createAlertRule(projectId, body), false);
                rules.reload();
                close();
              }}
            />
          )}
        </FormDialog>
      </div>
      <ProjectNav projectId={projectId} current="alerts" />
      <p className="hint">
        A rule watches one metric of the project's addons and notifies its webhooks (signed) and e-mail
        addresses when it starts and stops firing; every change is also an event.
      </p>
      {secret ? (
        <SecretNotice secret={secret} headingRef={secretHeading} onDone={() => setSecret(undefined)} />
      ) : null}
      <ProblemView problem={rules.problem ?? addons.problem} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Rule</th>
              <th scope="col">Condition</th>
              <th scope="col">Addons</th>
              <th scope="col">Channels</th>
              <th scope="col">State</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(rules.data ?? []).map((rule) => (
              <tr key={rule.id} data-rule={rule.name}>
                <td data-label="Rule">
                  {/* One child per cell: on a narrow screen the cell is a label | content grid. */}
                  <div>
                    <strong>{rule.name}</strong>
                    <div className="inline">
                      {rule.isDefault ? <span className="muted">default rule</span> : null}
                      <Status value={rule.enabled ? 'enabled' : 'disabled'} />
                    </div>
                  </div>
                </td>
                <td data-label="Condition">
                  <span>
                    <code>{condition(rule)}</code> {duration(rule.durationSeconds)}
                  </span>
                </td>
                <td data-label="Addons">
                  {rule.addons === 'all' ? (
                    'all'
                  ) : (
                    <ul className="plain">
                      {rule.addons.map((addonId) => (
                        <li key={addonId}>
                          <a href={hrefOf({ page: 'addon', projectId, addonId })}>
                            {names.get(addonId) ?? addonId}
                          </a>
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td data-label="Channels">
                  <Channels rule={rule} />
                </td>
                <td data-label="State">
                  <States rule={rule} names={names} />
                </td>
                <td data-label="Actions" className="row-actions">
                  <FormDialog
                    title={`Edit ${rule.name}`}
                    trigger={
                      <button type="button" className="small" aria-label={`Edit ${rule.name}`}>
                        Edit
                      </button>
                    }
                  >
                    {(close) => (
                      <AlertRuleForm
                        initial={rule}
                        addons={addonList}
                        submitLabel="Save rule"
                        onSubmit={async (body) => {
                          await api.updateAlertRule(projectId, rule.id, body);
                          rules.reload();
                          close();
                        }}
                      />
                    )}
                  </FormDialog>
                  <FormDialog
                    title={`Deliveries of ${rule.name}`}
                    trigger={
                      <button type="button" className="small" aria-label={`Deliveries of ${rule.name}`}>
                        Deliveries
                      </button>
                    }
                  >
                    {() => <Deliveries projectId={projectId} rule={rule} names={names} />}
                  </FormDialog>
                  <Confirm
                    title={`Rotate the signing secret of ${rule.name}?`}
                    description={
                      <p>
                        The current secret stops at once: webhook receivers that check signatures refuse this
                        rule's notifications until they have the new one, which is shown once.
                      </p>
                    }
                    confirmLabel="Rotate secret"
                    focusAfterClose={focusSecret}
                    trigger={
                      <button type="button" className="small" aria-label={`Rotate secret of ${rule.name}`}>
                        Rotate secret
                      </button>
                    }
                    onConfirm={async () => {
                      reveal(
                        await api.updateAlertRule(projectId, rule.id, { rotateSigningSecret: true }),
                        true,
                      );
                      rules.reload();
                    }}
                  />
                  <Confirm
                    title={`Delete alert rule ${rule.name}?`}
                    description={
                      <p>
                        It stops being evaluated and notifying; its states go (on AWS its alarms and topic
                        too).{rule.isDefault ? ' A deleted default rule does not come back.' : ''}
                      </p>
                    }
                    confirmLabel="Delete rule"
                    trigger={
                      <button type="button" className="small danger" aria-label={`Delete ${rule.name}`}>
                        Delete
                      </button>
                    }
                    onConfirm={async () => {
                      await api.deleteAlertRule(projectId, rule.id);
                      rules.reload();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {rules.data && !rules.data.length ? <p>No alert rules.</p> : null}
      {rules.loading && !rules.data ? <p aria-busy="true">Loading alert rules…</p> : null}
    </section>
  );
};

const Channels = ({ rule }: { rule: AlertRule }) => {
  const { webhooks, emails } = rule.channels;
  if (!webhooks?.length && !emails?.length) return <span className="muted">none (events only)</span>;
  return (
    <ul className="plain">
      {(webhooks ?? []).map((hook) => (
        <li key={hook.url}>
          webhook <code>{hook.url}</code>
        </li>
      ))}
      {(emails ?? []).map((email) => (
        <li key={email}>e-mail {email}</li>
      ))}
    </ul>
  );
};

const States = ({ rule, names }: { rule: AlertRule; names: Map<string, string> }) => {
  const states = rule.states ?? [];
  if (!rule.enabled) return <span className="muted">not evaluated</span>;
  if (!states.length) return <span className="muted">not evaluated yet</span>;
  return (
    <ul className="plain">
      {states.map((state) => (
        <li key={state.addonId} data-state={state.addonId}>
          {names.get(state.addonId) ?? state.addonId}:{' '}
          <Status value={state.state} tone={`alert-${state.state}`} />
          <span className="muted">
            {' '}
            since {when(state.since)}
            {state.value === null ? '' : `, last ${Number(state.value.toFixed(2))}`}
          </span>
        </li>
      ))}
    </ul>
  );
};

/** A new signing secret, shown this once (the API never answers it again), with a copy button. */
const SecretNotice = ({
  secret,
  headingRef,
  onDone,
}: {
  secret: Secret;
  headingRef: RefObject<HTMLHeadingElement | null>;
  onDone: () => void;
}) => (
  <section className="note" aria-labelledby="secret-title" data-testid="signing-secret">
    <h2 id="secret-title" ref={headingRef} tabIndex={-1}>
      {secret.rotated ? 'New signing secret' : 'Signing secret'} of {secret.ruleName}
    </h2>
    <p>
      Shown this once: store it where your webhook receivers verify signatures
      {secret.rotated ? ' (the previous one no longer signs)' : ''}.
    </p>
    <div className="inline">
      <code data-value="signing-secret">{secret.value}</code>
      <CopyButton value={secret.value} label="signing secret" />
      <button type="button" className="small" onClick={onDone}>
        Done
      </button>
    </div>
  </section>
);

/** Every attempt at every notification of the rule, newest first, 20 at a time. */
const Deliveries = ({
  projectId,
  rule,
  names,
}: {
  projectId: string;
  rule: AlertRule;
  names: Map<string, string>;
}) => {
  const api = useApi();
  const [items, setItems] = useState<AlertDelivery[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [problem, setProblem] = useState<Problem>();
  const [loading, setLoading] = useState(true);
  const load = async (from?: string) => {
    setLoading(true);
    try {
      const page = await api.alertDeliveries(projectId, rule.id, from);
      setItems((previous) => (from ? [...previous, ...page.items] : page.items));
      setCursor(page.nextCursor ?? null);
      setProblem(undefined);
    } catch (error) {
      setProblem(toProblem(error));
    } finally {
      setLoading(false);
    }
  };
  // biome-ignore lint/correctness/useExhaustiveDependencies: the first page, once per opening
  useEffect(() => {
    void load();
  }, []);
  return (
    <div>
      <ProblemView problem={problem} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Notification</th>
              <th scope="col">Target</th>
              <th scope="col">Outcome</th>
            </tr>
          </thead>
          <tbody>
            {items.map((delivery) => (
              <tr key={`${delivery.deliveryId}#${delivery.attempt}`} data-delivery={delivery.deliveryId}>
                <td data-label="When">{when(delivery.at)}</td>
                <td data-label="Notification">
                  <div>
                    {delivery.kind} of {names.get(delivery.addonId) ?? delivery.addonId}
                    <div className="muted">attempt {delivery.attempt}</div>
                  </div>
                </td>
                <td data-label="Target">
                  <span>
                    {delivery.channel} <code>{delivery.target}</code>
                  </span>
                </td>
                <td data-label="Outcome">
                  <div>
                    <Status value={delivery.outcome} />
                    {delivery.statusCode ? ` HTTP ${delivery.statusCode}` : ''}
                    {delivery.error ? <div className="muted">{delivery.error}</div> : null}
                    {delivery.nextAttemptAt ? (
                      <div className="muted">next attempt {when(delivery.nextAttemptAt)}</div>
                    ) : null}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!loading && !items.length && !problem ? <p>No deliveries yet.</p> : null}
      {loading ? <p aria-busy="true">Loading deliveries…</p> : null}
      {cursor && !loading ? (
        <div className="actions">
          <button type="button" onClick={() => load(cursor)}>
            Load more
          </button>
        </div>
      ) : null}
    </div>
  );
};
