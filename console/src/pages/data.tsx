import { type FormEvent, useState } from 'react';
import { toProblem, useApi, useLoad } from '../hooks.ts';
import { navigate } from '../router.ts';
import type { Addon, AddonType, Backup, Capabilities, Problem } from '../types.ts';
import { Confirm, FormDialog } from '../ui/dialogs.tsx';
import { useTrack } from '../ui/operations.tsx';
import { FieldError, fieldMessages, ProblemView } from '../ui/problem.tsx';
import { when } from '../ui/status.tsx';
import { Imports } from './imports.tsx';

/** The catalog's entry for an engine on this deployment (GET /v1/addon-types). */
export const useAddonType = (engine: Addon['engine']): AddonType | undefined => {
  const api = useApi();
  const types = useLoad(() => api.addonTypes(), [api]);
  return types.data?.items.find((type) => type.engine === engine);
};

/** The catalog's capabilities for an engine, so pages offer only what works. */
export const useCapabilities = (engine: Addon['engine']): Capabilities | undefined =>
  useAddonType(engine)?.capabilities;

/** The catalog's notes that explain one of these capabilities (they name it, e.g. `(networkingUpdate)`). */
export const notesAbout = (type: AddonType | undefined, ...capabilities: string[]): string[] =>
  (type?.notes ?? []).filter((note) => capabilities.some((name) => note.includes(name)));

/** `2026-11-30T12:34:56Z` → the `datetime-local` value of that second in the browser's zone. */
export const toLocalInput = (iso: string): string => {
  const date = new Date(iso);
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
};

/** A `datetime-local` value (the browser's zone) → RFC 3339 in UTC without fractions, as the API wants. */
export const fromLocalInput = (value: string): string => {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
};

const WindowText = ({ addon }: { addon: Addon }) =>
  addon.restorableWindow ? (
    <span className="hint" id="window-hint">
      Restorable window (UTC): {addon.restorableWindow.earliestRestorableTime} to{' '}
      {addon.restorableWindow.latestRestorableTime}.
    </span>
  ) : (
    <span className="hint" id="window-hint">
      No restorable window yet.
    </span>
  );

/** The time input bounded by the addon's restorable window; the API still checks the bounds. */
const PointInTimeInput = ({ id, addon, problem }: { id: string; addon: Addon; problem?: Problem }) => {
  const errors = fieldMessages(problem, 'pointInTime').concat(fieldMessages(problem, 'source.pointInTime'));
  const window = addon.restorableWindow;
  return (
    <>
      <label htmlFor={id}>Point in time (your time zone)</label>
      <input
        id={id}
        name="pointInTime"
        type="datetime-local"
        step={1}
        min={window ? toLocalInput(window.earliestRestorableTime) : undefined}
        max={window ? toLocalInput(window.latestRestorableTime) : undefined}
        defaultValue={window ? toLocalInput(window.latestRestorableTime) : undefined}
        aria-invalid={errors.length > 0}
        aria-describedby={`window-hint ${id}-error`}
      />
      <WindowText addon={addon} />
      <FieldError id={`${id}-error`} messages={errors} />
    </>
  );
};

/** Fork, point-in-time restore and imports of one addon, as far as its engine allows here. */
export const DataActions = ({
  projectId,
  addon,
  onChange,
}: {
  projectId: string;
  addon: Addon;
  onChange: () => void;
}) => {
  const capabilities = useCapabilities(addon.engine);
  if (!capabilities) return null;
  const imports = capabilities.importDump || capabilities.importLive;
  if (!capabilities.fork && !capabilities.pitr && !imports) return null;
  return (
    <section aria-labelledby="data-title">
      <h2 id="data-title">Data</h2>
      <div className="inline">
        {capabilities.fork ? <ForkAction projectId={projectId} addon={addon} /> : null}
        {capabilities.pitr ? <PitrAction projectId={projectId} addon={addon} onChange={onChange} /> : null}
      </div>
      {imports ? (
        <Imports projectId={projectId} addon={addon} capabilities={capabilities} onChange={onChange} />
      ) : null}
    </section>
  );
};

const ForkAction = ({ projectId, addon }: { projectId: string; addon: Addon }) => (
  <FormDialog
    title={`Fork ${addon.name}`}
    trigger={
      <button type="button" className="small">
        Fork
      </button>
    }
  >
    {(close) => <ForkForm projectId={projectId} addon={addon} close={close} />}
  </FormDialog>
);

const ForkForm = ({ projectId, addon, close }: { projectId: string; addon: Addon; close: () => void }) => {
  const api = useApi();
  const track = useTrack();
  const backups = useLoad(() => api.backups(projectId, addon.id), [api, projectId, addon.id]);
  const completed = (backups.data?.items ?? []).filter((backup: Backup) => backup.status === 'completed');
  const [from, setFrom] = useState<'latest' | 'backup' | 'pointInTime'>('latest');
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const name = String(form.get('name') ?? '');
    const source =
      from === 'latest'
        ? { addonId: addon.id, latest: true as const }
        : from === 'backup'
          ? { addonId: addon.id, backupId: String(form.get('backupId') ?? '') }
          : { addonId: addon.id, pointInTime: fromLocalInput(String(form.get('pointInTime') ?? '')) };
    setBusy(true);
    setProblem(undefined);
    try {
      const created = await api.createAddon(projectId, { name, engine: addon.engine, source });
      track(created.operation, `Create ${name}`);
      close();
      navigate({ page: 'addon', projectId, addonId: created.addon.id });
    } catch (error) {
      setProblem(toProblem(error));
    } finally {
      setBusy(false);
    }
  };

  const nameErrors = fieldMessages(problem, 'name');
  const backupErrors = fieldMessages(problem, 'source.backupId');
  return (
    <form onSubmit={submit} noValidate>
      <ProblemView problem={problem ?? backups.problem} />
      <label htmlFor="fork-name">Name of the new addon</label>
      <input
        id="fork-name"
        name="name"
        required
        autoCapitalize="none"
        spellCheck={false}
        aria-invalid={nameErrors.length > 0}
        aria-describedby="fork-name-error"
      />
      <FieldError id="fork-name-error" messages={nameErrors} />
      <label htmlFor="fork-from">From</label>
      <select id="fork-from" value={from} onChange={(event) => setFrom(event.target.value as typeof from)}>
        <option value="latest">The latest backup</option>
        <option value="backup">A chosen backup</option>
        {addon.restorableWindow ? <option value="pointInTime">A point in time</option> : null}
      </select>
      {from === 'backup' ? (
        <>
          <label htmlFor="fork-backup">Backup</label>
          <select
            id="fork-backup"
            name="backupId"
            aria-invalid={backupErrors.length > 0}
            aria-describedby="fork-backup-error"
          >
            {completed.map((backup) => (
              <option key={backup.id} value={backup.id}>
                {backup.id} ({backup.type}, {when(backup.createdAt)})
              </option>
            ))}
          </select>
          <FieldError id="fork-backup-error" messages={backupErrors} />
        </>
      ) : null}
      {from === 'pointInTime' ? <PointInTimeInput id="fork-time" addon={addon} problem={problem} /> : null}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Forking…' : 'Fork'}
        </button>
      </div>
    </form>
  );
};

const PitrAction = ({
  projectId,
  addon,
  onChange,
}: {
  projectId: string;
  addon: Addon;
  onChange: () => void;
}) => {
  const api = useApi();
  const track = useTrack();
  const [value, setValue] = useState('');
  const [problem, setProblem] = useState<Problem>();
  const window = addon.restorableWindow;
  return (
    <Confirm
      title={`Restore ${addon.name} to a point in time?`}
      description={
        <>
          <p>The addon's current data is replaced by its data at that second. Changes made since are lost.</p>
          <label htmlFor="pitr-time">Point in time (your time zone)</label>
          <input
            id="pitr-time"
            type="datetime-local"
            step={1}
            value={value || (window ? toLocalInput(window.latestRestorableTime) : '')}
            min={window ? toLocalInput(window.earliestRestorableTime) : undefined}
            max={window ? toLocalInput(window.latestRestorableTime) : undefined}
            onChange={(event) => setValue(event.target.value)}
            aria-invalid={fieldMessages(problem, 'pointInTime').length > 0}
            aria-describedby="window-hint pitr-time-error"
          />
          <WindowText addon={addon} />
          <FieldError id="pitr-time-error" messages={fieldMessages(problem, 'pointInTime')} />
        </>
      }
      confirmLabel="Restore"
      trigger={
        <button type="button" className="small">
          Restore to a point in time
        </button>
      }
      onConfirm={async () => {
        setProblem(undefined);
        const chosen = value || (window ? toLocalInput(window.latestRestorableTime) : '');
        try {
          const { operation } = await api.restoreToPointInTime(projectId, addon.id, fromLocalInput(chosen));
          track(operation, `Restore ${addon.name} to ${fromLocalInput(chosen)}`, onChange);
          onChange();
        } catch (error) {
          setProblem(toProblem(error));
          throw error;
        }
      }}
    />
  );
};

/** Export of a completed dump backup to the user's bucket (bucket + prefix). */
export const ExportBackup = ({
  projectId,
  addonId,
  backup,
}: {
  projectId: string;
  addonId: string;
  backup: Backup;
}) => {
  const api = useApi();
  const track = useTrack();
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  return (
    <FormDialog
      title={`Export ${backup.id} to a bucket`}
      trigger={
        <button type="button" className="small">
          Export
        </button>
      }
    >
      {(close) => {
        const submit = async (event: FormEvent<HTMLFormElement>) => {
          event.preventDefault();
          const form = new FormData(event.currentTarget);
          const bucket = String(form.get('bucket') ?? '');
          setBusy(true);
          setProblem(undefined);
          try {
            const { operation } = await api.exportBackup(
              projectId,
              addonId,
              backup.id,
              bucket,
              String(form.get('prefix') ?? '') || undefined,
            );
            track(operation, `Export ${backup.id} to ${bucket}`);
            close();
          } catch (error) {
            setProblem(toProblem(error));
          } finally {
            setBusy(false);
          }
        };
        const bucketErrors = fieldMessages(problem, 'bucket');
        const prefixErrors = fieldMessages(problem, 'prefix');
        return (
          <form onSubmit={submit} noValidate>
            <ProblemView problem={problem} />
            <label htmlFor="export-bucket">Bucket</label>
            <input
              id="export-bucket"
              name="bucket"
              required
              autoCapitalize="none"
              spellCheck={false}
              aria-invalid={bucketErrors.length > 0}
              aria-describedby="export-bucket-error"
            />
            <FieldError id="export-bucket-error" messages={bucketErrors} />
            <label htmlFor="export-prefix">Prefix (optional)</label>
            <input
              id="export-prefix"
              name="prefix"
              autoCapitalize="none"
              spellCheck={false}
              aria-invalid={prefixErrors.length > 0}
              aria-describedby="export-prefix-hint export-prefix-error"
            />
            <span id="export-prefix-hint" className="hint">
              The file goes under {projectId}/ in the bucket, then this prefix.
            </span>
            <FieldError id="export-prefix-error" messages={prefixErrors} />
            <div className="actions">
              <button type="submit" className="primary" disabled={busy}>
                {busy ? 'Starting…' : 'Export'}
              </button>
            </div>
          </form>
        );
      }}
    </FormDialog>
  );
};
