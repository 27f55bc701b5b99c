import { type FormEvent, useState } from 'react';
import { toProblem, useApi } from '../hooks.ts';
import type { Addon, Credentials, Problem } from '../types.ts';
import { Confirm, FormDialog } from '../ui/dialogs.tsx';
import { useTrack } from '../ui/operations.tsx';
import { FieldError, fieldMessages, ProblemView } from '../ui/problem.tsx';
import { when } from '../ui/status.tsx';
import { notesAbout, useAddonType } from './data.tsx';

/** How long the previous credentials may keep working (the API takes 1 s to 30 days). */
const GRACE: [number, string][] = [
  [3600, '1 hour'],
  [86_400, '24 hours'],
  [7 * 86_400, '7 days'],
  [30 * 86_400, '30 days'],
];

/** `in 3 hours`, `in 12 minutes`: how far off a deadline is, in the browser's language. */
const fromNow = (iso: string) => {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  if (Math.abs(seconds) < 3600) return format.format(Math.round(seconds / 60), 'minute');
  if (Math.abs(seconds) < 2 * 86_400) return format.format(Math.round(seconds / 3600), 'hour');
  return format.format(Math.round(seconds / 86_400), 'day');
};

/**
 * Credential rotation: new credentials at once while the previous ones keep working until the
 * deadline, then retired by `finish` (or by the platform at the deadline). Where the catalog says
 * the engine cannot rotate here, its note instead.
 */
export const Rotation = ({
  projectId,
  addon,
  onRotated,
}: {
  projectId: string;
  addon: Addon;
  onRotated: (credentials?: Credentials) => void;
}) => {
  const api = useApi();
  const track = useTrack();
  const type = useAddonType(addon.engine);
  const running = addon.status === 'running';
  const rotation = addon.credentialRotation;
  if (!type) return null;
  if (!type.capabilities.credentialRotation) {
    const notes = notesAbout(type, 'credentialRotation');
    return (
      <div className="note" data-testid="rotation-notes">
        {(notes.length ? notes : [`Credentials of ${type.displayName} addons cannot be rotated here.`]).map(
          (note) => (
            <p key={note}>{note}</p>
          ),
        )}
      </div>
    );
  }
  return (
    <div className="rotation">
      <h3 id="rotation-title">Rotation</h3>
      {rotation ? (
        <>
          <p data-testid="rotation-open">
            Rotated {when(rotation.rotatedAt)}. The previous credentials (user{' '}
            <code>{rotation.previousUsername}</code>) keep working until{' '}
            <strong>
              <time dateTime={rotation.deadline}>{when(rotation.deadline)}</time>
            </strong>{' '}
            ({fromNow(rotation.deadline)}), unless the rotation is finished before.
          </p>
          <Confirm
            title="Retire the previous credentials now?"
            description={
              <p>
                New connections with the previous credentials (user <code>{rotation.previousUsername}</code>)
                are refused from now on; sessions already open stay open. Finish once every client uses the
                new credentials.
              </p>
            }
            confirmLabel="Retire previous credentials"
            trigger={
              <button type="button" className="small danger" disabled={!running}>
                Finish rotation
              </button>
            }
            onConfirm={async () => {
              const { operation } = await api.finishRotation(projectId, addon.id);
              track(operation, `Finish the rotation of ${addon.name}`, () => onRotated());
              onRotated();
            }}
          />
        </>
      ) : (
        <>
          <p className="hint">
            New credentials work at once; the previous ones keep working until a deadline, so clients can move
            over at their own pace.
          </p>
          <FormDialog
            title={`Rotate the credentials of ${addon.name}`}
            trigger={
              <button type="button" className="small" disabled={!running}>
                Rotate credentials
              </button>
            }
          >
            {(close) => (
              <RotateForm
                submit={async (retireAfterSeconds) => {
                  const rotated = await api.rotateCredentials(projectId, addon.id, retireAfterSeconds);
                  // Begun (Redis on AWS): the new credentials are read once the operation completes.
                  const credentials = 'credentials' in rotated ? rotated.credentials : undefined;
                  track(rotated.operation, `Rotate the credentials of ${addon.name}`, () => onRotated());
                  close();
                  onRotated(credentials);
                }}
              />
            )}
          </FormDialog>
        </>
      )}
    </div>
  );
};

const RotateForm = ({ submit }: { submit: (retireAfterSeconds: number) => Promise<void> }) => {
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const seconds = Number(new FormData(event.currentTarget).get('retireAfterSeconds'));
    setBusy(true);
    setProblem(undefined);
    try {
      await submit(seconds);
    } catch (error) {
      setProblem(toProblem(error));
    } finally {
      setBusy(false);
    }
  };
  const errors = fieldMessages(problem, 'retireAfterSeconds');
  return (
    <form onSubmit={onSubmit} noValidate>
      <ProblemView problem={problem} />
      <label htmlFor="rotate-grace">The previous credentials keep working for</label>
      <select
        id="rotate-grace"
        name="retireAfterSeconds"
        defaultValue="86400"
        aria-invalid={errors.length > 0}
        aria-describedby="rotate-grace-hint rotate-grace-error"
      >
        {GRACE.map(([seconds, label]) => (
          <option key={seconds} value={seconds}>
            {label}
          </option>
        ))}
      </select>
      <span id="rotate-grace-hint" className="hint">
        Or until you finish the rotation. The new credentials are published at once, in the connection details
        and every secret group that links them.
      </span>
      <FieldError id="rotate-grace-error" messages={errors} />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Rotating…' : 'Rotate'}
        </button>
      </div>
    </form>
  );
};
