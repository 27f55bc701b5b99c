import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from 'react';
import { TERMINAL } from '../api.ts';
import { useApi } from '../hooks.ts';
import type { Operation } from '../types.ts';
import { Status } from './status.tsx';

interface Tracked {
  operation: Operation;
  label: string;
  onEnd?: (operation: Operation) => void;
}

const TrackerContext = createContext<(operation: Operation, label: string, onEnd?: Tracked['onEnd']) => void>(
  () => {},
);

/** Shows an operation an action started until it ends: `track(operation, 'Restore bkp-1')`. */
export const useTrack = () => useContext(TrackerContext);

const POLL_MS = 1000;

/**
 * The operations started from this tab, each polled until it ends, in a live region so a screen
 * reader hears how each one ends; finished ones stay until dismissed.
 */
export const OperationTracker = ({ children }: { children: ReactNode }) => {
  const api = useApi();
  const [tracked, setTracked] = useState<Tracked[]>([]);
  const track = useCallback((operation: Operation, label: string, onEnd?: Tracked['onEnd']) => {
    setTracked((list) => [
      { operation, label, onEnd },
      ...list.filter((item) => item.operation.id !== operation.id),
    ]);
  }, []);

  const running = tracked.filter((item) => !TERMINAL.has(item.operation.status));
  const runningKey = running.map((item) => item.operation.id).join(',');
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-arm when the set of running operations changes
  useEffect(() => {
    if (!running.length) return;
    const timer = setTimeout(async () => {
      const updates = await Promise.all(
        running.map((item) =>
          api.operation(item.operation.projectId, item.operation.id).catch(() => item.operation),
        ),
      );
      const byId = new Map(updates.map((update) => [update.id, update]));
      setTracked((list) =>
        list.map((item) => ({ ...item, operation: byId.get(item.operation.id) ?? item.operation })),
      );
      for (const item of running) {
        const update = byId.get(item.operation.id);
        if (update && TERMINAL.has(update.status)) item.onEnd?.(update);
      }
    }, POLL_MS);
    return () => clearTimeout(timer);
  }, [api, runningKey, tracked]);

  return (
    <TrackerContext.Provider value={track}>
      <section className="tracker" aria-label="Operations started here" aria-live="polite">
        {tracked.map(({ operation, label }) => (
          <div
            key={operation.id}
            className="tracked"
            data-operation={operation.id}
            data-status={operation.status}
          >
            <div className="tracked-head">
              <span>{label}</span> <Status value={operation.status} />
              {TERMINAL.has(operation.status) ? (
                <button
                  type="button"
                  className="small"
                  aria-label={`Dismiss ${label}`}
                  onClick={() =>
                    setTracked((list) => list.filter((item) => item.operation.id !== operation.id))
                  }
                >
                  Dismiss
                </button>
              ) : null}
            </div>
            <progress max={100} value={operation.progress.percent} aria-label={`${label} progress`} />
            <small>
              {operation.progress.step} · {operation.progress.percent}%
              {operation.error ? ` · ${operation.error.message}` : ''}
              {operation.message ? ` · ${operation.message}` : ''}
            </small>
          </div>
        ))}
      </section>
      {children}
    </TrackerContext.Provider>
  );
};
