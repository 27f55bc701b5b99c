import { useCallback, useEffect, useRef, useState } from 'react';
import { allPages, toProblem, useApi, useLoad } from '../hooks.ts';
import { hrefOf, navigate } from '../router.ts';
import type { EventsQuery, PlatformEvent, Problem } from '../types.ts';
import { ProblemView } from '../ui/problem.tsx';
import { ProjectNav } from '../ui/project-nav.tsx';
import { Status, when } from '../ui/status.tsx';

type EventType = PlatformEvent['type'];
const TYPES: EventType[] = [
  'operation.created',
  'operation.completed',
  'operation.failed',
  'operation.aborted',
  'backup-health.degraded',
  'backup-health.recovered',
  'alert.firing',
  'alert.resolved',
  'storage.full',
  'storage.writable',
];
const PAGE = 20;
/** While the page is open (and the tab visible), the newest page is asked for this often. */
export const EVENTS_POLL_MS = 3000;

/** The feed's own order: time, then id (the table's sort key), newest first. */
const newestFirst = (a: PlatformEvent, b: PlatformEvent) =>
  `${b.occurredAt}#${b.id}`.localeCompare(`${a.occurredAt}#${a.id}`);

interface Feed {
  items: PlatformEvent[];
  nextCursor: string | null;
  problem?: Problem;
  loading: boolean;
  fresh: number;
}

/**
 * A project's events (docs/events.md), newest first: older pages on request ("Load more"),
 * filtered by addon (in the address, so it can be linked) and type, and new events added at the
 * top while the page is open unless paused.
 */
export const EventsPage = ({ projectId, addonId }: { projectId: string; addonId?: string }) => {
  const api = useApi();
  const addons = useLoad(() => allPages((cursor) => api.listAddons(projectId, cursor)), [api, projectId]);
  const names = new Map((addons.data ?? []).map((addon) => [addon.id, addon.name]));
  const [type, setType] = useState<EventType | ''>('');
  const [live, setLive] = useState(true);
  const [feed, setFeed] = useState<Feed>({ items: [], nextCursor: null, loading: true, fresh: 0 });
  const generation = useRef(0);

  const query = useCallback(
    (cursor?: string): EventsQuery => ({
      order: 'newest',
      limit: PAGE,
      ...(addonId ? { addonId } : {}),
      ...(type ? { type } : {}),
      ...(cursor ? { cursor } : {}),
    }),
    [addonId, type],
  );

  // The first page, again whenever a filter changes (an answer for old filters is dropped).
  useEffect(() => {
    const mine = ++generation.current;
    setFeed({ items: [], nextCursor: null, loading: true, fresh: 0 });
    api.events(projectId, query()).then(
      (page) => {
        if (mine === generation.current)
          setFeed({ items: page.items, nextCursor: page.nextCursor ?? null, loading: false, fresh: 0 });
      },
      (error) => {
        if (mine === generation.current)
          setFeed((previous) => ({ ...previous, loading: false, problem: toProblem(error) }));
      },
    );
  }, [api, projectId, query]);

  // Live: the newest page merged in at the top; a page with nothing already shown means more
  // happened than a page holds, so the list starts again from it (its cursor pages on).
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(async () => {
      if (document.hidden) return;
      const mine = generation.current;
      try {
        const page = await api.events(projectId, query());
        if (mine !== generation.current) return;
        setFeed((previous) => {
          const known = new Set(previous.items.map((event) => event.id));
          const fresh = page.items.filter((event) => !known.has(event.id));
          if (!fresh.length) return { ...previous, problem: undefined };
          if (fresh.length === page.items.length && page.nextCursor && previous.items.length) {
            return { ...previous, items: page.items, nextCursor: page.nextCursor, fresh: fresh.length };
          }
          return {
            ...previous,
            items: [...fresh, ...previous.items].sort(newestFirst),
            fresh: fresh.length,
            problem: undefined,
          };
        });
      } catch (error) {
        if (mine === generation.current) setFeed((previous) => ({ ...previous, problem: toProblem(error) }));
      }
    }, EVENTS_POLL_MS);
    return () => clearInterval(timer);
  }, [api, projectId, query, live]);

  const loadMore = async () => {
    const mine = generation.current;
    setFeed((previous) => ({ ...previous, loading: true }));
    try {
      const page = await api.events(projectId, query(feed.nextCursor ?? undefined));
      if (mine !== generation.current) return;
      setFeed((previous) => {
        const known = new Set(previous.items.map((event) => event.id));
        return {
          ...previous,
          items: [...previous.items, ...page.items.filter((event) => !known.has(event.id))],
          nextCursor: page.nextCursor ?? null,
          loading: false,
          fresh: 0,
        };
      });
    } catch (error) {
      setFeed((previous) => ({ ...previous, loading: false, problem: toProblem(error) }));
    }
  };

  return (
    <section>
      <nav aria-label="Breadcrumb" className="crumbs">
        <a href={hrefOf({ page: 'projects' })}>Projects</a> /{' '}
        <a href={hrefOf({ page: 'project', projectId })}>{projectId}</a> /{' '}
        <span aria-current="page">Events</span>
      </nav>
      <div className="heading">
        <h1>Events</h1>
        <button type="button" className="small" aria-pressed={!live} onClick={() => setLive(!live)}>
          {live ? 'Pause live updates' : 'Resume live updates'}
        </button>
      </div>
      <ProjectNav projectId={projectId} current="events" />
      <form className="inline" onSubmit={(event) => event.preventDefault()} aria-label="Filter events">
        <div>
          <label htmlFor="events-addon">Addon</label>
          <select
            id="events-addon"
            value={addonId ?? ''}
            onChange={(event) =>
              navigate({
                page: 'events',
                projectId,
                ...(event.target.value ? { addonId: event.target.value } : {}),
              })
            }
          >
            <option value="">All addons</option>
            {addonId && !names.has(addonId) ? <option value={addonId}>{addonId}</option> : null}
            {(addons.data ?? []).map((addon) => (
              <option key={addon.id} value={addon.id}>
                {addon.name}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="events-type">Type</label>
          <select
            id="events-type"
            value={type}
            onChange={(event) => setType(event.target.value as EventType | '')}
          >
            <option value="">All types</option>
            {TYPES.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
      </form>
      <p className="hint" aria-live="polite" data-testid="events-status">
        {live ? 'Live: new events appear at the top.' : 'Live updates paused.'}
        {feed.fresh ? ` ${feed.fresh} new event${feed.fresh === 1 ? '' : 's'}.` : ''}
      </p>
      <ProblemView problem={feed.problem} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Event</th>
              <th scope="col">Addon</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {feed.items.map((event) => (
              <tr key={event.id} data-event={event.id}>
                <td data-label="When">
                  <time dateTime={event.occurredAt}>{when(event.occurredAt)}</time>
                </td>
                <td data-label="Event">
                  <Status value={event.type} tone={event.type.split('.')[1]} />
                </td>
                <td data-label="Addon">
                  <a href={hrefOf({ page: 'addon', projectId, addonId: event.addonId })}>
                    {names.get(event.addonId) ?? event.addonId}
                  </a>
                </td>
                <td data-label="Details">
                  <Details event={event} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!feed.loading && !feed.items.length && !feed.problem ? <p>No events.</p> : null}
      {feed.nextCursor ? (
        <div className="inline">
          <button type="button" onClick={loadMore} disabled={feed.loading}>
            {feed.loading ? 'Loading…' : 'Load more'}
          </button>
        </div>
      ) : null}
      {feed.loading && !feed.items.length ? <p aria-busy="true">Loading events…</p> : null}
    </section>
  );
};

const Details = ({ event }: { event: PlatformEvent }) => {
  if (event.operation) {
    const { operation } = event;
    return (
      <>
        {operation.type} <code>{operation.id}</code>
        {operation.backupId ? (
          <>
            {' '}
            · backup <code>{operation.backupId}</code>
          </>
        ) : null}
        {operation.error ? <div className="field-error">{operation.error.message}</div> : null}
      </>
    );
  }
  if (event.backupHealth) {
    return (
      <>
        backups {event.backupHealth.state}
        {event.backupHealth.problems.map((problem) => (
          <div key={problem.code}>{problem.message}</div>
        ))}
      </>
    );
  }
  if (event.alert) {
    return (
      <>
        {event.alert.ruleName}: {event.alert.metric} {event.alert.state}
      </>
    );
  }
  if (event.storage) {
    const percent = Math.round((event.storage.usedBytes / Math.max(event.storage.allocatedBytes, 1)) * 100);
    return (
      <>
        {event.storage.readOnly
          ? `storage full (${percent} %): read-only`
          : `writable again (${percent} % used)`}
      </>
    );
  }
  return null;
};
