import type * as z from 'zod/mini';

export type HttpMethod = 'get' | 'post' | 'patch' | 'delete';

/** The Lambda functions the API is split into; each serves a group of routes. */
export const API_FUNCTIONS = ['meta', 'catalog', 'addons', 'credentials', 'operations', 'backups'] as const;
export type ApiFunctionName = (typeof API_FUNCTIONS)[number];

export interface ResponseDef {
  description: string;
  schema?: z.ZodMiniType;
  /** Defaults to application/json; several when the body's type depends on what is asked for. */
  contentType?: string | readonly string[];
}

export interface RouteDef {
  operationId: string;
  method: HttpMethod;
  /** OpenAPI path template, also the API Gateway route path. */
  path: string;
  summary: string;
  tags: string[];
  fn: ApiFunctionName;
  /** Bearer token required (every route but health, openapi and docs). */
  auth: boolean;
  /** POST routes that honour an Idempotency-Key header. */
  idempotent?: boolean;
  params?: z.ZodMiniObject;
  query?: z.ZodMiniObject;
  body?: z.ZodMiniType;
  responses: Record<number, ResponseDef>;
  /** Hidden from the OpenAPI document (none is: the e2e contract check calls every route it uses). */
  hidden?: boolean;
}

export const defineRoute = <const R extends RouteDef>(route: R): R => route;

/** Routes by operation id: the whole API's (`routes.ts`) or one function's. */
export type RouteTable = Readonly<Record<string, RouteDef>>;

/** `GET /v1/x/{id}`: the API Gateway HTTP API routeKey of a route. */
export const routeKey = (route: Pick<RouteDef, 'method' | 'path'>): string =>
  `${route.method.toUpperCase()} ${route.path}`;

type Infer<T> = T extends z.ZodMiniType ? z.infer<T> : undefined;

export interface Principal {
  subject: string;
  /** Projects the caller may see; '*' for all. */
  projects: string[] | '*';
}

export interface ApiRequest<R extends RouteDef> {
  route: R;
  params: Infer<R['params']>;
  query: Infer<R['query']>;
  body: Infer<R['body']>;
  headers: Record<string, string>;
  principal: Principal | undefined;
  rawPath: string;
}

export interface ApiResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** A non-JSON body (docs page and its assets). */
  raw?: { contentType: string; data: Buffer | string };
}
