import type { Context } from 'aws-lambda';
import { localLambdaContext } from '#infra/local/lambda-context.ts';
import type { ApiEvent } from '#shared/api/http-handler.ts';
import { PROJECTS_CLAIM } from '#shared/api/http-handler.ts';
import type { RouteDef } from '#shared/api/route.ts';
import { routeKey } from '#shared/api/route.ts';

export interface EventOptions {
  pathParameters?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  /** Projects in the caller's token; null for no token at all. */
  projects?: string[] | '*' | null;
}

/** An API Gateway HTTP API v2 event as the JWT authorizer hands it to the function. */
export const apiEvent = (route: RouteDef, options: EventOptions = {}): ApiEvent => {
  const projects = options.projects === undefined ? '*' : options.projects;
  const claims =
    projects === null ? {} : { sub: 'user-1', [PROJECTS_CLAIM]: projects === '*' ? '*' : projects.join(',') };
  const path = route.path.replace(/\{(\w+)\}/g, (_m, name: string) => options.pathParameters?.[name] ?? name);
  return {
    version: '2.0',
    routeKey: routeKey(route),
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...options.headers },
    queryStringParameters: options.query,
    pathParameters: options.pathParameters,
    body: options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    isBase64Encoded: false,
    requestContext: {
      http: { method: route.method.toUpperCase(), path },
      routeKey: routeKey(route),
      authorizer: { jwt: { claims, scopes: [] } },
    },
  } as unknown as ApiEvent;
};

export const context = (): Context => localLambdaContext('test');

export const json = (response: { body?: string }) => JSON.parse(response.body ?? 'null');
