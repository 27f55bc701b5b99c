import { type FormEvent, useState } from 'react';
import { toProblem, useApi, useLoad } from '../hooks.ts';
import type { Engine, Problem } from '../types.ts';
import { FormDialog } from '../ui/dialogs.tsx';
import { useTrack } from '../ui/operations.tsx';
import { FieldError, fieldMessages, ProblemView } from '../ui/problem.tsx';

/** "Create addon": engines this deployment can provision, from the catalog. */
export const CreateAddon = ({ projectId, onCreated }: { projectId: string; onCreated: () => void }) => (
  <FormDialog
    title="Create an addon"
    trigger={
      <button type="button" className="primary">
        Create addon
      </button>
    }
  >
    {(close) => <CreateAddonForm projectId={projectId} onCreated={onCreated} close={close} />}
  </FormDialog>
);

const CreateAddonForm = ({
  projectId,
  onCreated,
  close,
}: {
  projectId: string;
  onCreated: () => void;
  close: () => void;
}) => {
  const api = useApi();
  const track = useTrack();
  const types = useLoad(() => api.addonTypes(), [api]);
  const offered = (types.data?.items ?? []).filter((type) => type.capabilities.provision);
  const [engine, setEngine] = useState<Engine>();
  const chosen = offered.find((type) => type.engine === engine) ?? offered[0];
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!chosen) return;
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setProblem(undefined);
    try {
      const name = String(form.get('name') ?? '');
      const { operation } = await api.createAddon(projectId, {
        name,
        engine: chosen.engine,
        version: String(form.get('version') ?? chosen.defaultVersion),
      });
      track(operation, `Create ${name}`, onCreated);
      onCreated();
      close();
    } catch (error) {
      setProblem(toProblem(error));
    } finally {
      setBusy(false);
    }
  };

  const nameErrors = fieldMessages(problem, 'name');
  return (
    <form onSubmit={submit} noValidate>
      <ProblemView problem={problem ?? types.problem} />
      <label htmlFor="addon-name">Name</label>
      <input
        id="addon-name"
        name="name"
        required
        autoCapitalize="none"
        spellCheck={false}
        aria-invalid={nameErrors.length > 0}
        aria-describedby="addon-name-hint addon-name-error"
      />
      <span id="addon-name-hint" className="hint">
        Lower-case letters, digits and dashes; unique in the project.
      </span>
      <FieldError id="addon-name-error" messages={nameErrors} />
      <label htmlFor="addon-engine">Engine</label>
      <select
        id="addon-engine"
        name="engine"
        value={chosen?.engine ?? ''}
        onChange={(event) => setEngine(event.target.value as Engine)}
      >
        {offered.map((type) => (
          <option key={type.engine} value={type.engine}>
            {type.displayName}
          </option>
        ))}
      </select>
      <label htmlFor="addon-version">Version</label>
      <select id="addon-version" name="version" key={chosen?.engine} defaultValue={chosen?.defaultVersion}>
        {chosen?.versions.map((version) => (
          <option key={version.version} value={version.version}>
            {version.version}
          </option>
        ))}
      </select>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy || !chosen}>
          {busy ? 'Creating…' : 'Create'}
        </button>
      </div>
    </form>
  );
};
