/**
 * Named errors. The API maps them to problem+json in one place (`api/problem.ts`);
 * workflow task handlers throw them so ASL Retry/Catch can match on `name`.
 */
export interface FieldIssue {
  path: string;
  message: string;
}

export class PlatformError extends Error {
  override name = 'PlatformError';
}

export class ValidationError extends PlatformError {
  override name = 'ValidationError';
  constructor(
    message: string,
    readonly issues: FieldIssue[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export class UnauthorizedError extends PlatformError {
  override name = 'UnauthorizedError';
}

export class NotFoundError extends PlatformError {
  override name = 'NotFoundError';
}

export class ConflictError extends PlatformError {
  override name = 'ConflictError';
  constructor(
    message: string,
    readonly details: { operationId?: string; field?: string } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A request that is well-formed but that the engine, version or target cannot serve. */
export class UnsupportedError extends PlatformError {
  override name = 'UnsupportedError';
  constructor(
    message: string,
    readonly issues: FieldIssue[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The request is valid but would go over a configured per-project quota (a count, not a rate). */
export class QuotaExceededError extends PlatformError {
  override name = 'QuotaExceededError';
  constructor(
    message: string,
    /** Which quota, e.g. `addons-per-project`. */
    readonly quota: string,
    /** The configured value the request would exceed. */
    readonly limit: number,
    readonly issues: FieldIssue[] = [],
  ) {
    super(message);
  }
}

/** The caller sent more requests than its rate limit allows; retry after `retryAfterSeconds`. */
export class RateLimitedError extends PlatformError {
  override name = 'RateLimitedError';
  constructor(
    message: string,
    readonly limit: number,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** A dependency (the workflow service) refused or failed; the request can be retried. */
export class ServiceUnavailableError extends PlatformError {
  override name = 'ServiceUnavailableError';
}

/** Optimistic-lock failure: somebody else wrote the item first. Callers re-read and retry. */
export class StaleWriteError extends PlatformError {
  override name = 'StaleWriteError';
}

/** Worth retrying: throttling, a process still starting, a network blip. Matched by ASL Retry. */
export class TransientError extends PlatformError {
  override name = 'TransientError';
}

/** A provider gave up for good (quota, invalid parameters, engine failed to start). Matched by ASL Catch. */
export class ProviderError extends PlatformError {
  override name = 'ProviderError';
  constructor(
    message: string,
    readonly code = 'ProviderFailed',
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A tool the operation needs is not installed on this machine. */
export class MissingToolError extends ProviderError {
  override name = 'MissingToolError';
  constructor(tool: string, install: string) {
    super(`${tool} is not installed on this machine: ${install}`, 'MissingTool');
  }
}

/** An operation record from which no workflow can be started again (no workflow for its type, or a field missing). */
export class UnresumableOperationError extends PlatformError {
  override name = 'UnresumableOperationError';
}

export const errorMessage = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);
