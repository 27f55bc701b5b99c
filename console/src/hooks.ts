import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';
import type { Api } from './api.ts';
import { problemOf } from './api.ts';
import type { Problem } from './types.ts';

export const ApiContext = createContext<Api | undefined>(undefined);

export const useApi = (): Api => {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside a signed-in page');
  return api;
};

export const toProblem = problemOf;

export interface Loaded<T> {
  data: T | undefined;
  problem: Problem | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads `fetcher` now and whenever `reload` is called or `deps` change; with `pollMs`, again
 * every so often while `poll(data)` says so (a status that is still moving). A stale answer
 * (deps changed meanwhile) is dropped.
 */
export const useLoad = <T>(
  fetcher: () => Promise<T>,
  deps: readonly unknown[],
  options: { pollMs?: number; poll?: (data: T) => boolean } = {},
): Loaded<T> => {
  const [state, setState] = useState<{ data?: T; problem?: Problem; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;
  const optionsRef = useRef(options);
  optionsRef.current = options;

  // biome-ignore lint/correctness/useExhaustiveDependencies: deps are the caller's, generation forces a reload
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      setState((previous) => ({ ...previous, loading: true }));
      try {
        const data = await fetcherRef.current();
        if (!live) return;
        setState({ data, loading: false });
        const { pollMs, poll } = optionsRef.current;
        if (pollMs && poll?.(data)) timer = setTimeout(run, pollMs);
      } catch (error) {
        if (live)
          setState((previous) => ({ data: previous.data, problem: toProblem(error), loading: false }));
      }
    };
    void run();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [...deps, generation]);

  return { data: state.data, problem: state.problem, loading: state.loading, reload };
};

/** Every page of a cursor-paginated list, followed to its end. */
export const allPages = async <T>(
  page: (cursor?: string) => Promise<{ items: T[]; nextCursor?: string | null }>,
): Promise<T[]> => {
  const all: T[] = [];
  let cursor: string | undefined;
  do {
    const next = await page(cursor);
    all.push(...next.items);
    cursor = next.nextCursor ?? undefined;
  } while (cursor);
  return all;
};
