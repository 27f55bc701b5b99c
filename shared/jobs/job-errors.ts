import { ProviderError } from '../errors.ts';

/** A job stopped by its AbortSignal (the task was stopped, the operation aborted). */
export const abortedError = (job: 'dump' | 'restore', signal: AbortSignal): ProviderError => {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? '');
  return new ProviderError(`The ${job} was aborted${reason ? `: ${reason}` : ''}`, 'Aborted', {
    cause: signal.reason,
  });
};

/**
 * libpq messages of a server that went away or is not there yet (a restart, a failover, a
 * terminated backend): running the job again later may well work.
 */
export const looksTransient = (message: string): boolean =>
  /server closed the connection unexpectedly|terminating connection|could not connect|Connection refused|connection timed out|timeout expired|the database system is (starting up|shutting down|in recovery mode)|too many clients/i.test(
    message,
  );

const TRANSIENT_NETWORK = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/** S3 throttling, 5xx and dropped connections: the SDK already retried, the job may retry later. */
export const isTransientS3Error = (error: unknown): boolean => {
  const e = error as {
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
    code?: string;
    name?: string;
  };
  const status = e.$metadata?.httpStatusCode;
  return (
    Boolean(e.$retryable) ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    (e.code !== undefined && TRANSIENT_NETWORK.has(e.code)) ||
    e.name === 'TimeoutError' ||
    e.name === 'SlowDown'
  );
};
