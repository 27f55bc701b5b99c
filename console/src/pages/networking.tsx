import { useState } from 'react';
import { toProblem, useApi } from '../hooks.ts';
import type { Addon, Credentials, NetworkingRequest, Problem } from '../types.ts';
import { CopyButton } from '../ui/copy.tsx';
import { Confirm } from '../ui/dialogs.tsx';
import { useTrack } from '../ui/operations.tsx';
import { FieldError, fieldMessages, ProblemView } from '../ui/problem.tsx';
import { notesAbout, useAddonType } from './data.tsx';

const cidrsOf = (text: string) => text.split(/[\s,]+/).filter(Boolean);
const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((value, i) => value === b[i]);

/** Saves `text` as a file the browser downloads (the CA certificate). */
const downloadText = (text: string, fileName: string) => {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/x-pem-file' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
};

/**
 * How the addon is reached: TLS, public or private, the allow list; the public connection
 * details and the CA certificate on request; a form to change them where the catalog says the
 * engine can (`networkingUpdate`), its notes otherwise.
 */
export const Networking = ({
  projectId,
  addon,
  onChange,
}: {
  projectId: string;
  addon: Addon;
  onChange: () => void;
}) => {
  const type = useAddonType(addon.engine);
  const capabilities = type?.capabilities;
  const allowed = addon.allowedCidrs ?? [];
  const notes = capabilities?.networkingUpdate
    ? notesAbout(type, 'publicAccess', 'public access')
    : notesAbout(type, 'networkingUpdate');
  return (
    <section aria-labelledby="networking-title">
      <h2 id="networking-title">Networking</h2>
      <dl className="facts">
        <dt>TLS</dt>
        <dd data-field="tls">{addon.tls ? 'required' : 'off'}</dd>
        <dt>Access</dt>
        <dd data-field="access">
          {addon.publicAccess ? 'public, from the allowed addresses only' : 'private'}
        </dd>
        <dt>Allowed addresses</dt>
        <dd data-field="allowed">
          {allowed.length ? allowed.join(', ') : 'none'}
          {allowed.length && !addon.publicAccess ? ' (kept, not enforced while private)' : ''}
        </dd>
      </dl>
      <ReachDetails projectId={projectId} addon={addon} />
      {capabilities?.networkingUpdate ? (
        <NetworkingForm
          key={`${addon.tls}|${addon.publicAccess}|${allowed.join(',')}`}
          projectId={projectId}
          addon={addon}
          canPublic={capabilities.publicAccess}
          canTls={capabilities.tls}
          onChange={onChange}
        />
      ) : null}
      {capabilities && (!capabilities.networkingUpdate || !capabilities.publicAccess) ? (
        <div className="note" data-testid="networking-notes">
          {notes.length ? (
            notes.map((note) => <p key={note}>{note}</p>)
          ) : (
            <p>
              {capabilities.networkingUpdate
                ? `${type?.displayName ?? addon.engine} addons cannot be public on this deployment.`
                : `The networking of ${type?.displayName ?? addon.engine} addons cannot be changed on this deployment.`}
            </p>
          )}
        </div>
      ) : null}
    </section>
  );
};

/** The public connection details and the CA certificate: fetched only when asked (they come with the password). */
const ReachDetails = ({ projectId, addon }: { projectId: string; addon: Addon }) => {
  const api = useApi();
  const [details, setDetails] = useState<Credentials['public']>();
  const [problem, setProblem] = useState<Problem>();
  const [message, setMessage] = useState('');
  const running = addon.status === 'running';
  const fetchCredentials = async () => {
    setProblem(undefined);
    setMessage('');
    try {
      return await api.credentials(projectId, addon.id);
    } catch (error) {
      setProblem(toProblem(error));
      return undefined;
    }
  };
  const showPublic = async () => {
    const credentials = await fetchCredentials();
    if (credentials) {
      setDetails(credentials.public);
      if (!credentials.public) setMessage('The connection details have no public endpoint yet.');
    }
  };
  const downloadCa = async () => {
    const credentials = await fetchCredentials();
    if (!credentials) return;
    if (credentials.caCertificate) {
      downloadText(credentials.caCertificate, `${addon.name}-ca.pem`);
      setMessage(`${addon.name}-ca.pem downloaded.`);
    } else {
      setMessage(
        "This deployment gives no CA certificate: the server's certificate is signed by the provider's CA.",
      );
    }
  };
  const rows: [string, string][] = details
    ? [
        ['Public host', details.host],
        ['Public port', String(details.port)],
        ['Public URI', details.uri],
      ]
    : [];
  return (
    <>
      {details ? (
        <dl className="facts secrets">
          {rows.map(([label, value]) => (
            <div key={label} className="secret-row">
              <dt>{label}</dt>
              <dd>
                <code data-field={label.toLowerCase().replace(' ', '-')}>{value}</code>{' '}
                <CopyButton value={value} label={label} />
              </dd>
            </div>
          ))}
        </dl>
      ) : null}
      <div className="inline">
        {addon.publicAccess && !details ? (
          <button type="button" className="small" onClick={showPublic} disabled={!running}>
            Show public connection details
          </button>
        ) : null}
        {details ? (
          <button type="button" className="small" onClick={() => setDetails(undefined)}>
            Hide public connection details
          </button>
        ) : null}
        {addon.tls ? (
          <button type="button" className="small" onClick={downloadCa} disabled={!running}>
            Download CA certificate
          </button>
        ) : null}
      </div>
      <p className="hint" aria-live="polite">
        {message}
      </p>
      <ProblemView problem={problem} />
    </>
  );
};

const NetworkingForm = ({
  projectId,
  addon,
  canTls,
  canPublic,
  onChange,
}: {
  projectId: string;
  addon: Addon;
  canTls: boolean;
  canPublic: boolean;
  onChange: () => void;
}) => {
  const api = useApi();
  const track = useTrack();
  const current = addon.allowedCidrs ?? [];
  const [tls, setTls] = useState(addon.tls);
  const [open, setOpen] = useState(addon.publicAccess);
  const [allowText, setAllowText] = useState(current.join('\n'));
  const [problem, setProblem] = useState<Problem>();
  const allow = cidrsOf(allowText);
  const change: NetworkingRequest = {
    ...(tls !== addon.tls ? { tls } : {}),
    ...(open !== addon.publicAccess ? { public: open } : {}),
    ...(!sameList(allow, current) ? { allow } : {}),
  };
  const changes = [
    change.tls === undefined ? '' : `TLS ${change.tls ? 'required' : 'off'}`,
    change.public === undefined ? '' : change.public ? 'public' : 'private',
    change.allow === undefined ? '' : `allowed: ${change.allow.join(', ') || 'none'}`,
  ].filter(Boolean);
  const running = addon.status === 'running';
  const errors = (field: string) => fieldMessages(problem, `networking.${field}`);
  const generalErrors = fieldMessages(problem, 'networking').filter(
    (message) => ![...errors('tls'), ...errors('public'), ...errors('allow')].includes(message),
  );

  return (
    <form className="networking-form" onSubmit={(event) => event.preventDefault()} noValidate>
      <fieldset disabled={!running}>
        <legend>Change networking</legend>
        {canTls ? (
          <label className="check">
            <input
              type="checkbox"
              checked={tls}
              onChange={(event) => setTls(event.target.checked)}
              aria-invalid={errors('tls').length > 0}
              aria-describedby="networking-tls-error"
            />{' '}
            Require TLS
          </label>
        ) : null}
        <FieldError id="networking-tls-error" messages={errors('tls')} />
        {canPublic ? (
          <>
            <label className="check">
              <input
                type="checkbox"
                checked={open}
                onChange={(event) => setOpen(event.target.checked)}
                aria-invalid={errors('public').length > 0}
                aria-describedby="networking-public-hint networking-public-error"
              />{' '}
              Public
            </label>
            <span id="networking-public-hint" className="hint">
              Reachable from outside, from the allowed addresses only; requires TLS.
            </span>
            <FieldError id="networking-public-error" messages={errors('public')} />
            <label htmlFor="networking-allow">Allowed addresses (CIDR)</label>
            <textarea
              id="networking-allow"
              rows={3}
              value={allowText}
              onChange={(event) => setAllowText(event.target.value)}
              autoCapitalize="none"
              spellCheck={false}
              aria-invalid={errors('allow').length > 0}
              aria-describedby="networking-allow-hint networking-allow-error"
            />
            <span id="networking-allow-hint" className="hint">
              One IPv4 CIDR per line, e.g. 203.0.113.7/32 for one address. Replaces the whole list.
            </span>
            <FieldError id="networking-allow-error" messages={errors('allow')} />
          </>
        ) : null}
        <FieldError id="networking-error" messages={generalErrors} />
        {!running ? (
          <span className="hint">Networking can be changed while the addon is running.</span>
        ) : null}
        <div className="actions">
          <Confirm
            title={`Change the networking of ${addon.name}?`}
            description={
              <>
                <p>{changes.join('; ')}.</p>
                <p>The server restarts to apply it: open connections are dropped.</p>
              </>
            }
            confirmLabel="Apply"
            trigger={
              <button type="button" className="primary" disabled={!running || !changes.length}>
                Apply networking changes
              </button>
            }
            onConfirm={async () => {
              setProblem(undefined);
              try {
                const { operation } = await api.updateNetworking(projectId, addon.id, change);
                track(operation, `Networking of ${addon.name}: ${changes.join('; ')}`, onChange);
                onChange();
              } catch (error) {
                setProblem(toProblem(error));
                throw error;
              }
            }}
          />
        </div>
      </fieldset>
    </form>
  );
};
