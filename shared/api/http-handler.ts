import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type {
  APIGatewayProxyEventV2WithJWTAuthorizer,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { NotFoundError, RateLimitedError, UnauthorizedError, ValidationError } from '../errors.ts';
import { type CursorSigner, isPaginated, openQueryCursor, sealNextCursor } from './cursors.ts';
import { toProblem } from './problem.ts';
import { type RateDecision, type RateLimiter, rateLimitHeaders } from './rate-limit.ts';
import type { ApiRequest, ApiResult, Principal, RouteDef, RouteTable } from './route.ts';
import { routeKey } from './route.ts';
import { parsePart } from './zod-issues.ts';

export type ApiEvent = APIGatewayProxyEventV2WithJWTAuthorizer;
export type ApiResponse = APIGatewayProxyStructuredResultV2;
export type RouteImpl<R extends RouteDef> = (request: ApiRequest<R>) => Promise<ApiResult>;
/** The implementations of a function's routes, by operation id (a function may leave some out: 404). */
export type RouteImpls<T extends RouteTable> = { [K in keyof T]?: RouteImpl<T[K]> };

/**
 * What an idempotent request is keyed on (`subject` to `key`) and must match on a replay
 * (`body`). The key is scoped to the method and the full path with its ids: the same key sent
 * to another addon's or backup's route is another request, not a replay of the first.
 */
export interface IdempotentInput {
  subject: string;
  projectId: string;
  method: string;
  /** The route's path with its validated parameters, e.g. `/v1/projects/p/addons/adn-1/backups`. */
  path: string;
  key: string;
  body: unknown;
}

/**
 * Runs the requests that carry an Idempotency-Key on an idempotent route: at most once per key,
 * replaying the first result. Injected by the composition root (`dynamoDbIdempotency` of
 * `./idempotency.ts`), so a function without idempotent routes does not bundle it.
 */
export interface IdempotencyOptions {
  run(input: IdempotentInput, context: Context, execute: () => Promise<ApiResult>): Promise<ApiResult>;
}

export interface HttpHandlerOptions {
  logger: Logger;
  idempotency?: IdempotencyOptions;
  /** Required when a served route paginates: its cursors are signed and bound to the listing. */
  cursors?: CursorSigner;
  /**
   * Per-caller rate limit (AWS: one per function instance). Locally the gateway limits every
   * request before it reaches a handler, so handlers get none there.
   */
  rateLimiter?: RateLimiter;
}

const JSON_TYPE = 'application/json';
const PROBLEM_TYPE = 'application/problem+json';

/** Claims set by the API Gateway JWT authorizer (Cognito) or, locally, by the gateway's token check. */
export const PROJECTS_CLAIM = 'custom:projects';

export const principalOf = (event: ApiEvent): Principal | undefined => {
  const claims = event.requestContext?.authorizer?.jwt?.claims;
  if (!claims?.sub) return undefined;
  const raw = claims[PROJECTS_CLAIM];
  const projects =
    raw === '*'
      ? '*'
      : String(raw ?? '')
          .split(/[,\s]+/)
          .filter((project) => project.length > 0);
  return { subject: String(claims.sub), projects };
};

/** The route's path with its parameters filled in: one spelling per resource, whatever the raw path was. */
const resolvedPath = (route: RouteDef, params: Record<string, string> | undefined): string =>
  route.path.replace(/\{(\w+)\}/g, (_match, name: string) => encodeURIComponent(params?.[name] ?? ''));

const readBody = (event: ApiEvent): unknown => {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(
      'The request body is not valid JSON',
      [{ path: 'body', message: 'is not valid JSON' }],
      {
        cause: error,
      },
    );
  }
};

const toResponse = (result: ApiResult): ApiResponse => {
  if (result.raw) {
    const isText = typeof result.raw.data === 'string';
    return {
      statusCode: result.status,
      headers: { 'content-type': result.raw.contentType, ...result.headers },
      body: isText ? (result.raw.data as string) : (result.raw.data as Buffer).toString('base64'),
      isBase64Encoded: !isText,
    };
  }
  return {
    statusCode: result.status,
    headers: { 'content-type': JSON_TYPE, ...result.headers },
    body: result.body === undefined ? '' : JSON.stringify(result.body),
  };
};

/** Last in the chain: every error becomes problem+json; nothing escapes as a bare 500. */
const problemErrorHandler = (logger: Logger): MiddlewareObj<ApiEvent, ApiResponse> => ({
  onError: async (request) => {
    const body = toProblem(request.error, logger);
    body.instance = request.event.rawPath;
    request.response = {
      statusCode: body.status,
      headers: { 'content-type': PROBLEM_TYPE },
      body: JSON.stringify(body),
    };
  },
});

/** Who a request counts against: the token's subject, or the source address when anonymous. */
export const callerOf = (event: ApiEvent): string => {
  const subject = principalOf(event)?.subject;
  return subject ? `sub:${subject}` : `ip:${event.requestContext?.http?.sourceIp ?? 'unknown'}`;
};

/**
 * Takes a token before anything else runs; every answer, errors included, carries the
 * `RateLimit-*` headers, and a refusal becomes a 429 with `Retry-After` (problem.ts).
 */
const rateLimit = (limiter: RateLimiter): MiddlewareObj<ApiEvent, ApiResponse> => {
  const decisions = new WeakMap<object, RateDecision>();
  const addHeaders = (request: { response?: ApiResponse | null }) => {
    const decision = decisions.get(request);
    if (!decision || !request.response) return;
    request.response.headers = { ...request.response.headers, ...rateLimitHeaders(decision) };
  };
  return {
    before: async (request) => {
      const decision = limiter.take(callerOf(request.event));
      decisions.set(request, decision);
      if (!decision.allowed) {
        throw new RateLimitedError(
          `Too many requests: at most ${decision.limit} at once; retry in ${decision.retryAfterSeconds} s`,
          decision.limit,
          decision.retryAfterSeconds,
        );
      }
    },
    after: async (request) => addHeaders(request),
    onError: async (request) => addHeaders(request),
  };
};

/**
 * Build one API Lambda handler from its function's route table (only its own routes, so its
 * bundle builds only their schemas: docs/performance.md) and the implementations it serves.
 * Order is decided here once: logger context, the rate limit, then the error handler that
 * turns anything thrown by the limit, parsing, auth or the route into problem+json.
 */
export const createHttpHandler = <T extends RouteTable>(
  table: T,
  impls: RouteImpls<T>,
  options: HttpHandlerOptions,
) => {
  const { logger, idempotency, cursors, rateLimiter } = options;
  const routesByKey = new Map(Object.values(table).map((route) => [routeKey(route), route as RouteDef]));
  const unknown = Object.keys(impls).filter((id) => !(id in table));
  if (unknown.length > 0) throw new Error(`${unknown.join(', ')}: not in this function's route table`);
  const paginated = Object.keys(impls).filter((id) => isPaginated(table[id] as RouteDef));
  if (paginated.length > 0 && !cursors) {
    throw new Error(`${paginated.join(', ')} paginate: the handler needs a cursor signer`);
  }

  const core = async (event: ApiEvent, context: Context): Promise<ApiResponse> => {
    const route = routesByKey.get(event.routeKey);
    const impl = route
      ? (impls as Record<string, RouteImpl<RouteDef> | undefined>)[route.operationId]
      : undefined;
    if (!route || !impl)
      throw new NotFoundError(`No route for ${event.requestContext?.http?.method} ${event.rawPath}`);

    const principal = principalOf(event);
    if (route.auth && !principal) throw new UnauthorizedError('A valid bearer token is required');
    const params = route.params ? parsePart(route.params, event.pathParameters ?? {}, 'path') : undefined;
    const query = route.query
      ? parsePart(route.query, event.queryStringParameters ?? {}, 'query string')
      : undefined;
    const rawBody = route.body ? readBody(event) : undefined;
    const body = route.body ? parsePart(route.body, rawBody ?? {}, 'request body', 'body') : undefined;

    const projectId = (params as { projectId?: string } | undefined)?.projectId;
    if (
      route.auth &&
      projectId &&
      principal &&
      principal.projects !== '*' &&
      !principal.projects.includes(projectId)
    ) {
      // Another project's resources are indistinguishable from missing ones.
      throw new NotFoundError(`Project '${projectId}' was not found`);
    }

    const pages =
      cursors && isPaginated(route)
        ? {
            signer: cursors,
            binding: { listing: route.operationId, params: (params ?? {}) as Record<string, string> },
          }
        : undefined;
    const request: ApiRequest<RouteDef> = {
      route,
      params,
      query: pages ? await openQueryCursor(pages.signer, query, pages.binding) : query,
      body,
      headers: event.headers ?? {},
      principal,
      rawPath: event.rawPath,
    } as ApiRequest<RouteDef>;

    const key = request.headers['idempotency-key'];
    if (route.idempotent && key !== undefined) {
      if (key.length < 1 || key.length > 255) {
        throw new ValidationError('The Idempotency-Key header is not valid', [
          { path: 'Idempotency-Key', message: 'must be 1 to 255 characters' },
        ]);
      }
      if (idempotency) {
        const input: IdempotentInput = {
          subject: principal?.subject ?? '',
          projectId: projectId ?? '',
          method: route.method.toUpperCase(),
          path: resolvedPath(route, params as Record<string, string> | undefined),
          key,
          body: rawBody ?? null,
        };
        return toResponse(await idempotency.run(input, context, () => impl(request)));
      }
    }
    const result = await impl(request);
    return toResponse(pages ? await sealNextCursor(pages.signer, result, pages.binding) : result);
  };

  const handler = middy<ApiEvent, ApiResponse>(core).use(injectLambdaContext(logger, { resetKeys: true }));
  // Before the error handler: onError runs in reverse, so the headers land on the problem it builds.
  if (rateLimiter) handler.use(rateLimit(rateLimiter));
  return handler.use(problemErrorHandler(logger));
};

/** Build the real handler on first use, so a module can be imported without its environment. */
export const lazyHandler = <E, R>(build: () => (event: E, context: Context) => Promise<R>) => {
  let built: ((event: E, context: Context) => Promise<R>) | undefined;
  return (event: E, context: Context): Promise<R> => {
    built ??= build();
    return built(event, context);
  };
};
