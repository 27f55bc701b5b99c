import type { Logger } from '@aws-lambda-powertools/logger';
import {
  ConflictError,
  type FieldIssue,
  NotFoundError,
  QuotaExceededError,
  RateLimitedError,
  ServiceUnavailableError,
  TransientError,
  UnauthorizedError,
  UnsupportedError,
  ValidationError,
} from '../errors.ts';
import type { Problem } from '../schemas/problem.ts';
import { redactProviderText } from '../util/redact.ts';

const TYPE_BASE = 'https://addons.dev/problems/';

const problem = (status: number, slug: string, title: string, rest: Partial<Problem> = {}): Problem => ({
  type: `${TYPE_BASE}${slug}`,
  title,
  status,
  ...rest,
});

const withErrors = (issues: FieldIssue[]) => (issues.length ? { errors: issues } : {});

/**
 * The one place where errors become HTTP: named platform errors map to statuses, anything else
 * is a logged 500 that never echoes its message. Messages that reach the caller are redacted:
 * a named error may wrap a provider's text (a workflow that could not start, say).
 */
export const toProblem = (error: unknown, logger?: Logger): Problem => {
  const body = mapError(error, logger);
  return {
    ...body,
    ...(body.detail === undefined ? {} : { detail: redactProviderText(body.detail) }),
    ...(body.errors
      ? { errors: body.errors.map((issue) => ({ ...issue, message: redactProviderText(issue.message) })) }
      : {}),
  };
};

const mapError = (error: unknown, logger?: Logger): Problem => {
  if (error instanceof ValidationError) {
    return problem(400, 'validation', 'The request is not valid', {
      detail: error.message,
      ...withErrors(error.issues),
    });
  }
  if (error instanceof UnauthorizedError)
    return problem(401, 'unauthorized', 'Unauthorized', { detail: error.message });
  if (error instanceof NotFoundError)
    return problem(404, 'not-found', 'Not found', { detail: error.message });
  if (error instanceof ConflictError) {
    return problem(409, 'conflict', 'Conflict', {
      detail: error.message,
      ...(error.details.operationId ? { operationId: error.details.operationId } : {}),
      ...(error.details.field ? { errors: [{ path: error.details.field, message: error.message }] } : {}),
    });
  }
  if (error instanceof UnsupportedError) {
    return problem(422, 'unsupported', 'Not supported', {
      detail: error.message,
      ...withErrors(error.issues),
    });
  }
  if (error instanceof QuotaExceededError) {
    return problem(422, 'quota-exceeded', 'Quota exceeded', {
      detail: error.message,
      quota: error.quota,
      limit: error.limit,
      ...withErrors(error.issues),
    });
  }
  if (error instanceof RateLimitedError) {
    return problem(429, 'rate-limited', 'Too many requests', { detail: error.message, limit: error.limit });
  }
  // A throttled or failing dependency: the same request can succeed a moment later.
  if (error instanceof ServiceUnavailableError || error instanceof TransientError) {
    return problem(503, 'unavailable', 'Service unavailable', { detail: error.message });
  }
  // decodeURIComponent on a malformed escape (`%E0%A4%A`) in the path or a parameter.
  if (error instanceof URIError) {
    return problem(400, 'validation', 'The request is not valid', {
      detail: 'The path contains a malformed percent-escape',
      errors: [{ path: 'path', message: 'contains a malformed percent-escape' }],
    });
  }
  if (error instanceof Error) {
    switch (error.name) {
      case 'IdempotencyAlreadyInProgressError':
        return problem(409, 'idempotency-in-progress', 'Conflict', {
          detail: 'A request with this Idempotency-Key is still being processed; retry shortly',
          errors: [{ path: 'Idempotency-Key', message: 'is in use by a request in flight' }],
        });
      case 'IdempotencyValidationError':
        return problem(422, 'idempotency-mismatch', 'Idempotency-Key reused', {
          detail: 'This Idempotency-Key was used with a different request body',
          errors: [{ path: 'Idempotency-Key', message: 'was used with a different request body' }],
        });
    }
  }
  logger?.error('Unhandled error', { error: error as Error });
  return problem(500, 'internal', 'Internal error', {
    detail: 'An unexpected error occurred; it has been logged',
  });
};
