import { useState } from 'react';
import { toProblem, useApi } from '../hooks.ts';
import type { Addon, Credentials, Problem } from '../types.ts';
import { CopyButton } from '../ui/copy.tsx';
import { ProblemView } from '../ui/problem.tsx';
import { Rotation } from './rotation.tsx';

/**
 * Connection details are fetched only when the user asks (the password never sits in the page
 * otherwise), and hidden again on request; their rotation below them.
 */
export const Connection = ({
  projectId,
  addon,
  onChange,
}: {
  projectId: string;
  addon: Addon;
  onChange: () => void;
}) => {
  const api = useApi();
  const addonId = addon.id;
  const running = addon.status === 'running';
  const [credentials, setCredentials] = useState<Credentials>();
  const [problem, setProblem] = useState<Problem>();
  const show = async () => {
    setProblem(undefined);
    try {
      setCredentials(await api.credentials(projectId, addonId));
    } catch (error) {
      setProblem(toProblem(error));
    }
  };
  const rows: [string, string][] = credentials
    ? [
        ['Host', credentials.host],
        ['Port', String(credentials.port)],
        ['Database', credentials.database],
        ['Username', credentials.username],
        ['Password', credentials.password],
        ['URI', credentials.uri],
      ]
    : [];
  return (
    <section aria-labelledby="connection-title">
      <h2 id="connection-title">Connection details</h2>
      {credentials ? (
        <>
          <dl className="facts secrets">
            {rows.map(([label, value]) => (
              <div key={label} className="secret-row">
                <dt>{label}</dt>
                <dd>
                  <code data-field={label.toLowerCase()}>{value}</code>{' '}
                  <CopyButton value={value} label={label} />
                </dd>
              </div>
            ))}
          </dl>
          <button type="button" onClick={() => setCredentials(undefined)}>
            Hide connection details
          </button>
        </>
      ) : (
        <button type="button" onClick={show} disabled={!running}>
          Show connection details
        </button>
      )}
      {!running && !credentials ? <p className="hint">Available once the addon is running.</p> : null}
      <ProblemView problem={problem} />
      <Rotation
        projectId={projectId}
        addon={addon}
        onRotated={(rotated) => {
          // Shown already: show the new ones (the previous ones keep working until the deadline).
          if (credentials) setCredentials(rotated);
          onChange();
        }}
      />
    </section>
  );
};
