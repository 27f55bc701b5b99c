import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useRef } from 'react';
import { allPages, useApi, useLoad } from '../hooks.ts';
import { hrefOf } from '../router.ts';
import type { Addon } from '../types.ts';
import { ProjectNav } from '../ui/project-nav.tsx';
import { Status } from '../ui/status.tsx';
import { CreateAddon } from './create-addon.tsx';
import { rememberProject } from './projects.tsx';

const SETTLED = new Set(['running', 'failed']);
/** Past this many addons the list is not polled: a user watching one opens its page. */
const POLL_LIMIT = 200;
const ROW_PX = 56;

/** A project's addons with their status, every page of them, in a virtualized list. */
export const ProjectPage = ({ projectId }: { projectId: string }) => {
  const api = useApi();
  const addons = useLoad(() => allPages((cursor) => api.listAddons(projectId, cursor)), [api, projectId], {
    pollMs: 3000,
    poll: (list) => list.length <= POLL_LIMIT && list.some((addon) => !SETTLED.has(addon.status)),
  });
  useEffect(() => {
    if (addons.data) rememberProject(projectId);
  }, [addons.data, projectId]);

  return (
    <section>
      <nav aria-label="Breadcrumb" className="crumbs">
        <a href={hrefOf({ page: 'projects' })}>Projects</a> / <span aria-current="page">{projectId}</span>
      </nav>
      <div className="heading">
        <h1>Project {projectId}</h1>
        <CreateAddon projectId={projectId} onCreated={addons.reload} />
      </div>
      <ProjectNav projectId={projectId} current="project" />
      {addons.problem ? (
        <div className="problem" role="alert">
          <strong>{addons.problem.title}</strong>
          {addons.problem.detail ? <p>{addons.problem.detail}</p> : null}
        </div>
      ) : null}
      {addons.data ? <AddonList addons={addons.data} /> : <p aria-busy="true">Loading addons…</p>}
    </section>
  );
};

/** Only the rows in view are in the DOM, so a thousand addons render as fast as ten. */
const AddonList = ({ addons }: { addons: Addon[] }) => {
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: addons.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_PX,
    overscan: 8,
  });
  if (!addons.length) return <p>No addons in this project yet.</p>;
  return (
    <>
      <p className="count" data-testid="addon-count">
        {addons.length} addon{addons.length === 1 ? '' : 's'}
      </p>
      <div ref={scroller} className="scroller" tabIndex={-1}>
        <ul aria-label="Addons" className="rows" style={{ height: virtualizer.getTotalSize() }}>
          {virtualizer.getVirtualItems().map((row) => {
            const addon = addons[row.index] as Addon;
            return (
              <li
                key={addon.id}
                className="row"
                aria-setsize={addons.length}
                aria-posinset={row.index + 1}
                style={{ transform: `translateY(${row.start}px)`, height: ROW_PX }}
              >
                <a href={hrefOf({ page: 'addon', projectId: addon.projectId, addonId: addon.id })}>
                  {addon.name}
                </a>
                <span className="muted">
                  {addon.engine} {addon.version}
                </span>
                <Status value={addon.status} />
              </li>
            );
          })}
        </ul>
      </div>
    </>
  );
};
