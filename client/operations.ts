import { WaitTimeoutError } from './errors.ts';
import type { components } from './generated/api.ts';
import { pause } from './retry.ts';

type Operation = components['schemas']['Operation'];

/** The statuses an operation never leaves. */
export const ENDED_STATUSES: readonly Operation['status'][] = ['completed', 'failed', 'aborted'];

export interface WaitOptions {
  /**
   * Called with the operation on the first poll and whenever its status, step or percent
   * changes (the last call is the ended operation).
   */
  onProgress?: (operation: Operation) => void;
  /** Stops waiting (the promise rejects with the signal's reason); the operation goes on. */
  signal?: AbortSignal;
  /** Gives up with a WaitTimeoutError after this long; the operation goes on. None by default. */
  timeoutMs?: number;
  /** Time between polls; 1 s by default. */
  intervalMs?: number;
}

const progressKey = (operation: Operation) =>
  `${operation.status}|${operation.progress.step}|${operation.progress.percent}`;

/**
 * Polls `fetchOperation` until the operation has ended and returns it (completed, failed or
 * aborted: the caller judges). API errors while polling (a 404 for an unknown operation, say)
 * reject at once; the fetch under it already retries rate limits and brief outages.
 */
export const waitForOperation = async (
  fetchOperation: (signal: AbortSignal) => Promise<Operation>,
  operationId: string,
  { onProgress, signal, timeoutMs, intervalMs = 1000 }: WaitOptions = {},
): Promise<Operation> => {
  const controller = new AbortController();
  const stop = (reason: unknown) => controller.abort(reason);
  const onAbort = () => stop(signal?.reason);
  if (signal?.aborted) throw signal.reason;
  signal?.addEventListener('abort', onAbort, { once: true });
  let last: Operation | undefined;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => stop(new WaitTimeoutError(operationId, timeoutMs, last)), timeoutMs);
  try {
    let seen = '';
    for (;;) {
      const operation = await fetchOperation(controller.signal);
      last = operation;
      if (progressKey(operation) !== seen) {
        seen = progressKey(operation);
        onProgress?.(operation);
      }
      if (ENDED_STATUSES.includes(operation.status)) return operation;
      await pause(intervalMs, controller.signal);
    }
  } catch (error) {
    // An abort mid-request surfaces as fetch's AbortError: give the caller the real reason.
    throw controller.signal.aborted ? controller.signal.reason : error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
};
