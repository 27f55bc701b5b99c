import { type FormEvent, useState } from 'react';
import { toProblem } from '../hooks.ts';
import type { Addon, CreateSecretGroupRequest, ExternalService, Problem, SecretGroup } from '../types.ts';
import { FieldError, fieldMessages, ProblemView } from '../ui/problem.tsx';

/** The keys every engine publishes in its connection details (shared/schemas/secret-group.ts). */
const KEYS = ['uri', 'host', 'port', 'database', 'username', 'password', 'tls', 'replicaUri'] as const;
type Key = (typeof KEYS)[number];

interface LinkDraft {
  /** An addon id (`adn-...`) or an external service id (`ext-...`). */
  source: string;
  keys: { key: Key; alias: string }[];
}
interface VariableDraft {
  name: string;
  value: string;
}

const draftOf = (group: SecretGroup | undefined) => ({
  links: (group?.links ?? []).map(
    (link): LinkDraft => ({ source: link.addonId ?? link.externalServiceId ?? '', keys: [...link.keys] }),
  ),
  variables: Object.entries(group?.variables ?? {}).map(([name, value]): VariableDraft => ({ name, value })),
});

/** Messages for exactly this field (not its children, which their own inputs show). */
const exactMessages = (problem: Problem | undefined, field: string) =>
  (problem?.errors ?? [])
    .filter((error) => error.path.replace(/^body\./, '') === field)
    .map((error) => error.message);

const Hidden = ({ text }: { text: string }) => <span className="visually-hidden">{text}</span>;

/**
 * A secret group's name, links (an addon's or external service's keys under aliases) and plain
 * variables. Every input is labelled (rows say which link and row they belong to, for screen
 * readers); the API's field messages land under the input they name.
 */
export const SecretGroupForm = ({
  initial,
  addons,
  services,
  submitLabel,
  onSubmit,
}: {
  initial?: SecretGroup;
  addons: Addon[];
  services: ExternalService[];
  submitLabel: string;
  onSubmit: (body: CreateSecretGroupRequest) => Promise<void>;
}) => {
  const [links, setLinks] = useState<LinkDraft[]>(() => draftOf(initial).links);
  const [variables, setVariables] = useState<VariableDraft[]>(() => draftOf(initial).variables);
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  const firstSource = addons[0]?.id ?? services[0]?.id ?? '';

  const setLink = (index: number, change: (link: LinkDraft) => LinkDraft) =>
    setLinks((list) => list.map((link, i) => (i === index ? change(link) : link)));
  const setVariable = (index: number, change: Partial<VariableDraft>) =>
    setVariables((list) => list.map((item, i) => (i === index ? { ...item, ...change } : item)));

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const names = variables.map((variable) => variable.name);
    const twice = names.find((name, i) => name && names.indexOf(name) !== i);
    if (twice) {
      setProblem({
        type: 'about:blank',
        title: 'A variable is named twice',
        status: 400,
        errors: [{ path: `variables.${twice}`, message: 'is used twice' }],
      });
      return;
    }
    const description = String(form.get('description') ?? '');
    const body: CreateSecretGroupRequest = {
      name: String(form.get('name') ?? ''),
      ...(description ? { description } : {}),
      links: links.map((link) => ({
        ...(link.source.startsWith('ext-') ? { externalServiceId: link.source } : { addonId: link.source }),
        keys: link.keys,
      })),
      variables: Object.fromEntries(variables.map((variable) => [variable.name, variable.value])),
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

  const nameErrors = fieldMessages(problem, 'name');
  return (
    <form onSubmit={submit} noValidate>
      <ProblemView problem={problem} />
      <label htmlFor="group-name">Name</label>
      <input
        id="group-name"
        name="name"
        required
        defaultValue={initial?.name}
        autoCapitalize="none"
        spellCheck={false}
        aria-invalid={nameErrors.length > 0}
        aria-describedby="group-name-hint group-name-error"
      />
      <span id="group-name-hint" className="hint">
        Lower-case letters, digits and hyphens, e.g. web.
      </span>
      <FieldError id="group-name-error" messages={nameErrors} />
      <label htmlFor="group-description">Description (optional)</label>
      <input id="group-description" name="description" defaultValue={initial?.description ?? ''} />

      <fieldset>
        <legend>Links</legend>
        {links.length ? null : (
          <p className="hint">No links: the group publishes its plain variables only.</p>
        )}
        {links.map((link, i) => {
          const n = i + 1;
          const sourceErrors = exactMessages(problem, `links.${i}.addonId`).concat(
            exactMessages(problem, `links.${i}.externalServiceId`),
          );
          return (
            <fieldset key={`link-${n}`} data-link={n}>
              <legend>Link {n}</legend>
              <label htmlFor={`link-${n}-source`}>
                Source
                <Hidden text={` of link ${n}`} />
              </label>
              <select
                id={`link-${n}-source`}
                value={link.source}
                onChange={(event) => setLink(i, (draft) => ({ ...draft, source: event.target.value }))}
                aria-invalid={sourceErrors.length > 0}
                aria-describedby={`link-${n}-source-error`}
              >
                {addons.length ? (
                  <optgroup label="Addons">
                    {addons.map((addon) => (
                      <option key={addon.id} value={addon.id}>
                        {addon.name} ({addon.engine})
                      </option>
                    ))}
                  </optgroup>
                ) : null}
                {services.length ? (
                  <optgroup label="External services">
                    {services.map((service) => (
                      <option key={service.id} value={service.id}>
                        {service.name} ({service.engine}, external)
                      </option>
                    ))}
                  </optgroup>
                ) : null}
              </select>
              <FieldError id={`link-${n}-source-error`} messages={sourceErrors} />
              {link.keys.map((key, j) => {
                const m = j + 1;
                const id = `link-${n}-key-${m}`;
                const aliasErrors = fieldMessages(problem, `links.${i}.keys.${j}.alias`);
                const keyErrors = fieldMessages(problem, `links.${i}.keys.${j}.key`);
                return (
                  <div className="editor-row" key={id}>
                    <div>
                      <label htmlFor={id}>
                        Key
                        <Hidden text={` ${m} of link ${n}`} />
                      </label>
                      <select
                        id={id}
                        value={key.key}
                        onChange={(event) =>
                          setLink(i, (draft) => ({
                            ...draft,
                            keys: draft.keys.map((item, k) =>
                              k === j ? { ...item, key: event.target.value as Key } : item,
                            ),
                          }))
                        }
                        aria-invalid={keyErrors.length > 0}
                        aria-describedby={`${id}-key-error`}
                      >
                        {KEYS.map((name) => (
                          <option key={name} value={name}>
                            {name}
                          </option>
                        ))}
                      </select>
                      <FieldError id={`${id}-key-error`} messages={keyErrors} />
                    </div>
                    <div>
                      <label htmlFor={`${id}-alias`}>
                        Published as
                        <Hidden text={` key ${m} of link ${n}`} />
                      </label>
                      <input
                        id={`${id}-alias`}
                        value={key.alias}
                        placeholder="DATABASE_URL"
                        autoCapitalize="none"
                        spellCheck={false}
                        onChange={(event) =>
                          setLink(i, (draft) => ({
                            ...draft,
                            keys: draft.keys.map((item, k) =>
                              k === j ? { ...item, alias: event.target.value } : item,
                            ),
                          }))
                        }
                        aria-invalid={aliasErrors.length > 0}
                        aria-describedby={`${id}-alias-error`}
                      />
                      <FieldError id={`${id}-alias-error`} messages={aliasErrors} />
                    </div>
                    <button
                      type="button"
                      className="small"
                      aria-label={`Remove key ${m} of link ${n}`}
                      onClick={() =>
                        setLink(i, (draft) => ({ ...draft, keys: draft.keys.filter((_, k) => k !== j) }))
                      }
                    >
                      Remove
                    </button>
                  </div>
                );
              })}
              <FieldError id={`link-${n}-keys-error`} messages={exactMessages(problem, `links.${i}.keys`)} />
              <div className="inline">
                <button
                  type="button"
                  className="small"
                  aria-label={`Add key to link ${n}`}
                  onClick={() =>
                    setLink(i, (draft) => ({ ...draft, keys: [...draft.keys, { key: 'host', alias: '' }] }))
                  }
                >
                  Add key
                </button>
                <button
                  type="button"
                  className="small danger"
                  aria-label={`Remove link ${n}`}
                  onClick={() => setLinks((list) => list.filter((_, k) => k !== i))}
                >
                  Remove link
                </button>
              </div>
            </fieldset>
          );
        })}
        <div className="inline">
          <button
            type="button"
            className="small"
            disabled={!firstSource}
            onClick={() =>
              setLinks((list) => [...list, { source: firstSource, keys: [{ key: 'uri', alias: '' }] }])
            }
          >
            Add link
          </button>
        </div>
      </fieldset>

      <fieldset>
        <legend>Plain variables</legend>
        {variables.map((variable, i) => {
          const n = i + 1;
          const errors = exactMessages(problem, `variables.${variable.name}`);
          return (
            <div className="editor-row" key={`variable-${n}`}>
              <div>
                <label htmlFor={`variable-${n}-name`}>
                  Name
                  <Hidden text={` of variable ${n}`} />
                </label>
                <input
                  id={`variable-${n}-name`}
                  value={variable.name}
                  placeholder="NODE_ENV"
                  autoCapitalize="none"
                  spellCheck={false}
                  onChange={(event) => setVariable(i, { name: event.target.value })}
                  aria-invalid={errors.length > 0}
                  aria-describedby={`variable-${n}-error`}
                />
                <FieldError id={`variable-${n}-error`} messages={errors} />
              </div>
              <div>
                <label htmlFor={`variable-${n}-value`}>
                  Value
                  <Hidden text={` of variable ${n}`} />
                </label>
                <input
                  id={`variable-${n}-value`}
                  value={variable.value}
                  spellCheck={false}
                  onChange={(event) => setVariable(i, { value: event.target.value })}
                />
              </div>
              <button
                type="button"
                className="small"
                aria-label={`Remove variable ${n}`}
                onClick={() => setVariables((list) => list.filter((_, k) => k !== i))}
              >
                Remove
              </button>
            </div>
          );
        })}
        <FieldError id="variables-error" messages={exactMessages(problem, 'variables')} />
        <div className="inline">
          <button
            type="button"
            className="small"
            onClick={() => setVariables((list) => [...list, { name: '', value: '' }])}
          >
            Add variable
          </button>
        </div>
      </fieldset>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Saving…' : submitLabel}
        </button>
      </div>
    </form>
  );
};
