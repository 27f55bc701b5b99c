import { ProviderError } from '../errors.ts';

/** A job stopped by its AbortSignal (the task was stopped, the operation aborted). */
export const abortedError = (job: 'dump' | 'restore', signal: AbortSignal): ProviderError => {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? '');
  return new ProviderError(`The ${job} was aborted${reason ? `: ${reason}` : ''}`, 'Aborted', {
    cause: signal.reason,
  });
};

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
