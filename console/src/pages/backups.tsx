import { type FormEvent, useState } from 'react';
import { TERMINAL } from '../api.ts';
import { toProblem, useApi, useLoad } from '../hooks.ts';
import type { Addon, Backup, Problem } from '../types.ts';
import { Confirm } from '../ui/dialogs.tsx';
import { useTrack } from '../ui/operations.tsx';
import { ProblemView } from '../ui/problem.tsx';
import { bytes, Status, when } from '../ui/status.tsx';
import { ExportBackup } from './data.tsx';

/** An addon's backups: take one, and per backup download, restore, pin and delete. */
export const Backups = ({
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
  const backups = useLoad(() => api.backups(projectId, addon.id), [api, projectId, addon.id], {
    pollMs: 1500,
    poll: (page) => page.items.some((backup) => !TERMINAL.has(backup.status)),
  });
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  const refresh = () => {
    backups.reload();
    onChange();
  };

  const create = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const type = new FormData(event.currentTarget).get('type') === 'snapshot' ? 'snapshot' : 'dump';
    setBusy(true);
    setProblem(undefined);
    try {
      const { backup, operation } = await api.createBackup(projectId, addon.id, { type });
      track(operation, `Backup ${backup.id}`, refresh);
      refresh();
    } catch (error) {
      setProblem(toProblem(error));
    } finally {
      setBusy(false);
    }
  };
  const act = (action: () => Promise<unknown>) => async () => {
    setProblem(undefined);
    try {
      await action();
      refresh();
    } catch (error) {
      setProblem(toProblem(error));
    }
  };

  return (
    <section aria-labelledby="backups-title">
      <h2 id="backups-title">Backups</h2>
      <form className="inline" onSubmit={create}>
        <label htmlFor="backup-type">Backup type</label>
        <select id="backup-type" name="type" defaultValue="dump">
          <option value="dump">Dump (portable file)</option>
          <option value="snapshot">Snapshot (storage copy)</option>
        </select>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Starting…' : 'Take backup'}
        </button>
      </form>
      <ProblemView problem={problem ?? backups.problem} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Backup</th>
              <th scope="col">Status</th>
              <th scope="col">Size</th>
              <th scope="col">Taken</th>
              <th scope="col">Kept until</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(backups.data?.items ?? []).map((backup) => (
              <tr key={backup.id} data-backup={backup.id}>
                <td data-label="Backup">
                  <code>{backup.id}</code>
                  <br />
                  <small>
                    {backup.type} · {backup.source}
                  </small>
                </td>
                <td data-label="Status">
                  <Status value={backup.status} />
                </td>
                <td data-label="Size">{bytes(backup.sizeBytes)}</td>
                <td data-label="Taken">{when(backup.createdAt)}</td>
                <td data-label="Kept until">{backup.pinned ? 'pinned' : when(backup.expiresAt)}</td>
                <td data-label="Actions" className="row-actions">
                  <BackupActions
                    backup={backup}
                    addonName={addon.name}
                    onRestore={async () => {
                      const { operation } = await api.restoreBackup(projectId, addon.id, backup.id);
                      track(operation, `Restore ${backup.id}`, refresh);
                      refresh();
                    }}
                    onPin={act(() => api.pinBackup(projectId, addon.id, backup.id, !backup.pinned))}
                    onDelete={async () => {
                      await api.deleteBackup(projectId, addon.id, backup.id);
                      refresh();
                    }}
                    onDownload={() => api.downloadBackup(projectId, addon.id, backup.id)}
                    onAbort={act(() => api.abortBackup(projectId, addon.id, backup.id))}
                  />
                  {backup.type === 'dump' && backup.status === 'completed' ? (
                    <ExportBackup projectId={projectId} addonId={addon.id} backup={backup} />
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {backups.data && !backups.data.items.length ? <p>No backups yet.</p> : null}
    </section>
  );
};

const BackupActions = ({
  backup,
  addonName,
  onRestore,
  onPin,
  onDelete,
  onDownload,
  onAbort,
}: {
  backup: Backup;
  addonName: string;
  onRestore: () => Promise<void>;
  onPin: () => Promise<void>;
  onDelete: () => Promise<void>;
  onDownload: () => Promise<{ url: string; expiresAt: string }>;
  onAbort: () => Promise<void>;
}) => {
  const [link, setLink] = useState<{ url: string; expiresAt: string }>();
  const [problem, setProblem] = useState<Problem>();
  const completed = backup.status === 'completed';
  const download = async () => {
    setProblem(undefined);
    try {
      setLink(await onDownload());
    } catch (error) {
      setProblem(toProblem(error));
    }
  };
  const running = backup.status === 'pending' || backup.status === 'in-progress';
  return (
    <>
      {running ? (
        <button type="button" className="small" onClick={onAbort}>
          Abort
        </button>
      ) : null}
      {completed ? (
        link ? (
          <a className="button small" href={link.url} download>
            Download file
          </a>
        ) : (
          <button type="button" className="small" onClick={download}>
            Download
          </button>
        )
      ) : null}
      {completed ? (
        <Confirm
          title={`Restore ${addonName} to ${backup.id}?`}
          description={
            <p>
              The addon's current data is replaced by the data of this backup, taken {when(backup.createdAt)}.
              Changes made since are lost.
            </p>
          }
          confirmLabel="Restore"
          trigger={
            <button type="button" className="small">
              Restore
            </button>
          }
          onConfirm={onRestore}
        />
      ) : null}
      <button type="button" className="small" onClick={onPin} aria-pressed={backup.pinned}>
        {backup.pinned ? 'Unpin' : 'Pin'}
      </button>
      <Confirm
        title={`Delete backup ${backup.id}?`}
        description={<p>The backup file is deleted for good.</p>}
        confirmLabel="Delete backup"
        trigger={
          <button type="button" className="small danger">
            Delete
          </button>
        }
        onConfirm={onDelete}
      />
      <ProblemView problem={problem} />
    </>
  );
};
