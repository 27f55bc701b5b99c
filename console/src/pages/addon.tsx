import { useState } from 'react';
import { TERMINAL } from '../api.ts';
import { useApi, useLoad } from '../hooks.ts';
import { hrefOf, navigate } from '../router.ts';
import { Confirm } from '../ui/dialogs.tsx';
import { useTrack } from '../ui/operations.tsx';
import { ProblemView } from '../ui/problem.tsx';
import { Status, when } from '../ui/status.tsx';
import { Backups } from './backups.tsx';
import { Connection } from './connection.tsx';
import { DataActions } from './data.tsx';
import { Metrics } from './metrics.tsx';
import { Networking } from './networking.tsx';
import { Schedules } from './schedules.tsx';

const SETTLED = new Set(['running', 'failed']);

/** One addon: its state, connection details, operations, backups and schedules. */
export const AddonPage = ({ projectId, addonId }: { projectId: string; addonId: string }) => {
  const api = useApi();
  const track = useTrack();
  const addon = useLoad(() => api.getAddon(projectId, addonId), [api, projectId, addonId], {
    pollMs: 2000,
    poll: (value) => !SETTLED.has(value.status),
  });
  const operations = useLoad(() => api.operations(projectId, addonId), [api, projectId, addonId], {
    pollMs: 1500,
    poll: (page) => page.items.some((operation) => !TERMINAL.has(operation.status)),
  });
  const refresh = () => {
    addon.reload();
    operations.reload();
  };
  const value = addon.data;
  const [finalBackup, setFinalBackup] = useState<'' | 'dump' | 'snapshot'>('');
  const [unlinkGroups, setUnlinkGroups] = useState(false);

  return (
    <section>
      <nav aria-label="Breadcrumb" className="crumbs">
        <a href={hrefOf({ page: 'projects' })}>Projects</a> /{' '}
        <a href={hrefOf({ page: 'project', projectId })}>{projectId}</a> /{' '}
        <span aria-current="page">{value?.name ?? addonId}</span>
      </nav>
      <ProblemView problem={addon.problem} />
      {value ? (
        <>
          <div className="heading">
            <h1>{value.name}</h1>
            <Status value={value.status} />
            <Confirm
              title={`Delete ${value.name}?`}
              description={
                <>
                  <p>
                    The addon and its data are deleted. Its backups stay for the grace period and can be
                    restored into a new addon.
                  </p>
                  <label htmlFor="final-backup">Final backup first</label>
                  <select
                    id="final-backup"
                    value={finalBackup}
                    onChange={(event) => setFinalBackup(event.target.value as typeof finalBackup)}
                  >
                    <option value="">None</option>
                    <option value="dump">Dump</option>
                    <option value="snapshot">Snapshot</option>
                  </select>
                  <span className="hint">If the final backup fails, the addon is not deleted.</span>
                  <label className="check">
                    <input
                      type="checkbox"
                      checked={unlinkGroups}
                      onChange={(event) => setUnlinkGroups(event.target.checked)}
                    />{' '}
                    Also remove it from the secret groups that link it
                  </label>
                  <span className="hint">
                    Without this, an addon linked into a secret group is not deleted.
                  </span>
                </>
              }
              confirmLabel="Delete addon"
              trigger={
                <button type="button" className="danger">
                  Delete addon
                </button>
              }
              onConfirm={async () => {
                const { operation } = await api.deleteAddon(
                  projectId,
                  addonId,
                  finalBackup || undefined,
                  unlinkGroups,
                );
                track(operation, `Delete ${value.name}`);
                navigate({ page: 'project', projectId });
              }}
            />
          </div>
          <dl className="facts">
            <dt>Engine</dt>
            <dd>
              {value.engine} {value.version}
            </dd>
            <dt>Plan</dt>
            <dd>
              {value.plan}, {value.storageGiB} GiB
            </dd>
            <dt>Endpoint</dt>
            <dd>{value.endpoint ? `${value.endpoint.host}:${value.endpoint.port}` : '—'}</dd>
            <dt>Created</dt>
            <dd>{when(value.createdAt)}</dd>
            <dt>Id</dt>
            <dd>
              <code>{value.id}</code>
            </dd>
          </dl>
          <Connection projectId={projectId} addon={value} onChange={refresh} />
          <Networking projectId={projectId} addon={value} onChange={refresh} />
          {value.status === 'running' ? <Metrics projectId={projectId} addon={value} /> : null}
          <Backups projectId={projectId} addon={value} onChange={refresh} />
          <Schedules projectId={projectId} addonId={addonId} />
          <DataActions projectId={projectId} addon={value} onChange={refresh} />
          <section aria-labelledby="operations-title">
            <div className="heading">
              <h2 id="operations-title">Operations</h2>
              <a href={hrefOf({ page: 'events', projectId, addonId })}>Events of {value.name}</a>
            </div>
            <ProblemView problem={operations.problem} />
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Type</th>
                    <th scope="col">Status</th>
                    <th scope="col">Progress</th>
                    <th scope="col">Started</th>
                  </tr>
                </thead>
                <tbody>
                  {(operations.data?.items ?? []).map((operation) => (
                    <tr key={operation.id} data-operation={operation.id}>
                      <td data-label="Type">{operation.type}</td>
                      <td data-label="Status">
                        <Status value={operation.status} />
                      </td>
                      <td data-label="Progress">
                        <progress
                          max={100}
                          value={operation.progress.percent}
                          aria-label={`${operation.type} progress`}
                        />{' '}
                        <small>
                          {operation.progress.step} {operation.progress.percent}%
                          {operation.error ? ` · ${operation.error.message}` : ''}
                        </small>
                      </td>
                      <td data-label="Started">{when(operation.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        </>
      ) : addon.loading ? (
        <p aria-busy="true">Loading…</p>
      ) : null}
    </section>
  );
};
