import { ProviderError, TransientError } from '../errors.ts';

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

/**
 * What a failed dump or restore tool's message means, for engines whose tools say it in their
 * stderr: `transient` matches what a later attempt may get past (the job is retried), `refused`
 * a server that could not be reached (`ConnectionFailed`); anything else failed the phase.
 */
export const classifyToolMessage = (
  message: string,
  phase: 'dump' | 'restore',
  patterns: { transient: RegExp; refused: RegExp },
): Error => {
  if (patterns.transient.test(message)) return new TransientError(message);
  if (patterns.refused.test(message)) return new ProviderError(message, 'ConnectionFailed');
  return new ProviderError(message, phase === 'dump' ? 'DumpFailed' : 'RestoreFailed');
};
