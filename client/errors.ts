import type { components } from './generated/api.ts';

/** An RFC 9457 problem as the API answers it (`application/problem+json`). */
export type Problem = components['schemas']['Problem'];
/** One offending field of a problem: a dotted path (`body.name`, `Idempotency-Key`) and why. */
export type FieldIssue = NonNullable<Problem['errors']>[number];

/**
 * A request the API refused or failed: every non-2xx answer becomes one, with the problem's
 * fields at hand (`status`, `title`, `detail`, field `errors`, and `operationId` on a 409 caused
 * by an operation in flight, `quota`/`limit` on a quota refusal). An answer that is not a problem
 * (a proxy's HTML 502, say) still becomes one, titled after the HTTP status.
 */
export class AddonsApiError extends Error {
  override readonly name = 'AddonsApiError';
  readonly status: number;
  /** The problem type URI, e.g. `https://addons.dev/problems/validation`. */
  readonly type: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** Field issues (`[]` when the problem names none). */
  readonly errors: FieldIssue[];
  /** The operation in flight that caused a 409. */
  readonly operationId: string | undefined;
  readonly quota: string | undefined;
  readonly limit: number | undefined;
  /** The problem body as received (undefined when the answer was not a problem). */
  readonly problem: Problem | undefined;
  /** `METHOD url` of the request that failed. */
  readonly request: string;

  constructor(status: number, problem: Problem | undefined, request: string, fallbackTitle?: string) {
    const title = problem?.title ?? fallbackTitle ?? `HTTP ${status}`;
    super(problem?.detail ? `${title}: ${problem.detail}` : title);
    this.status = status;
    this.type = problem?.type ?? 'about:blank';
    this.title = title;
    this.detail = problem?.detail;
    this.errors = problem?.errors ?? [];
    this.operationId = problem?.operationId;
    this.quota = problem?.quota;
    this.limit = problem?.limit;
    this.problem = problem;
    this.request = request;
  }

  /** The problem type's last segment: `validation`, `not-found`, `conflict`, `unsupported`... */
  get kind(): string {
    return this.type.slice(this.type.lastIndexOf('/') + 1);
  }
}

const isProblem = (body: unknown): body is Problem =>
  typeof body === 'object' &&
  body !== null &&
  typeof (body as Problem).title === 'string' &&
  typeof (body as Problem).status === 'number';

/**
 * The error for a non-2xx response whose body openapi-fetch already read (JSON if it parsed);
 * `path` (the route's template) names the request when the response does not carry its URL.
 */
export const toApiError = (
  response: Response,
  body: unknown,
  method: string,
  path: string,
): AddonsApiError => {
  const request = `${method} ${response.url || path}`;
  if (isProblem(body)) return new AddonsApiError(response.status, body, request);
  const text = typeof body === 'string' && body.length > 0 ? body.slice(0, 200) : undefined;
  return new AddonsApiError(
    response.status,
    undefined,
    request,
    [response.statusText || `HTTP ${response.status}`, text].filter(Boolean).join(': '),
  );
};

/** waitForOperation gave up: the operation is still going on (it was not aborted). */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  constructor(
    readonly operationId: string,
    readonly timeoutMs: number,
    /** The operation as last seen. */
    readonly last: components['schemas']['Operation'] | undefined,
  ) {
    super(`Operation ${operationId} had not ended after ${timeoutMs} ms (it goes on)`);
  }
}
