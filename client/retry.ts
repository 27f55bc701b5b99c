/** Statuses worth another try: the caller's rate limit, a dependency briefly unavailable. */
const RETRYABLE_STATUSES = new Set([429, 503]);
const MAX_DELAY_MS = 10_000;

/**
 * A request may be sent again when repeating it cannot do anything twice: reads, and requests
 * carrying an Idempotency-Key (the API answers a repeat with the first result).
 */
const isRepeatable = (request: Request): boolean =>
  request.method === 'GET' || request.method === 'HEAD' || request.headers.has('idempotency-key');

/** How long to wait before attempt `attempt + 1`: Retry-After when the API says, else backoff. */
const delayMs = (response: Response | undefined, attempt: number): number => {
  const retryAfter = Number(response?.headers.get('retry-after'));
  if (Number.isFinite(retryAfter) && retryAfter > 0) return Math.min(retryAfter * 1000, MAX_DELAY_MS);
  return Math.min(200 * 2 ** attempt + Math.random() * 100, MAX_DELAY_MS);
};

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export const pause = (ms: number, signal?: AbortSignal | null) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Wraps fetch with retries of repeatable requests on network failures, 429 and 503, up to
 * `attempts` tries in all; the same Request (so the same Idempotency-Key) is sent each time.
 */
export const retryingFetch =
  (fetch: (request: Request) => Promise<Response>, attempts: number) =>
  async (request: Request): Promise<Response> => {
    const tries = isRepeatable(request) ? Math.max(1, attempts) : 1;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= tries;
      let response: Response;
      try {
        response = await fetch(last ? request : request.clone());
      } catch (error) {
        if (last || request.signal.aborted) throw error;
        await pause(delayMs(undefined, attempt), request.signal);
        continue;
      }
      if (last || !RETRYABLE_STATUSES.has(response.status)) return response;
      await response.body?.cancel();
      await pause(delayMs(response, attempt), request.signal);
    }
  };
