import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import type { ApiEvent, ApiResponse } from '#shared/api/http-handler.ts';
import { PROJECTS_CLAIM } from '#shared/api/http-handler.ts';
import { type RateLimiter, rateLimitHeaders } from '#shared/api/rate-limit.ts';
import type { ApiFunctionName, RouteDef } from '#shared/api/route.ts';
import { routeKey } from '#shared/api/route.ts';
import { allRoutes } from '#shared/api/routes.ts';
import type { Problem } from '#shared/schemas/problem.ts';
import { type ConsoleAssets, isConsolePath, serveConsole } from './console-assets.ts';
import { localLambdaContext } from './lambda-context.ts';

export type ApiLambda = (event: ApiEvent, context: Context) => Promise<ApiResponse>;

export interface GatewayProps {
  handlers: Record<ApiFunctionName, ApiLambda>;
  token: string;
  maxBodyBytes?: number;
  /** Every request takes a token from its caller's bucket first, whatever it turns out to be. */
  rateLimiter: RateLimiter;
  /** Origins whose browser pages may call the API (CORS); none by default. */
  corsOrigins?: readonly string[];
  /** The web console, served at `/` and `/console/*` (see console-assets.ts); none when absent. */
  console?: ConsoleAssets;
}

/** What a browser page of an allowed origin may send and read. */
const CORS_ALLOW_HEADERS = 'authorization, content-type, idempotency-key';
const CORS_EXPOSE_HEADERS =
  'location, operation-location, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset';

interface CompiledRoute {
  route: RouteDef;
  pattern: RegExp;
  names: string[];
}

const compile = (route: RouteDef): CompiledRoute => {
  const names: string[] = [];
  const source = route.path.replace(/[.]/g, '\\.').replace(/\{(\w+)\}/g, (_match, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { route, pattern: new RegExp(`^${source}/?$`), names };
};

const send = (res: ServerResponse, problem: Problem, headers: Record<string, string> = {}) => {
  res.writeHead(problem.status, { 'content-type': 'application/problem+json', ...headers });
  res.end(JSON.stringify(problem));
};

const problem = (
  status: number,
  slug: string,
  title: string,
  detail: string,
  instance: string,
  limit?: number,
): Problem => ({
  type: `https://addons.dev/problems/${slug}`,
  title,
  status,
  detail,
  instance,
  ...(limit === undefined ? {} : { limit }),
});

/** Decoded as API Gateway does; undefined when an escape is malformed (`%E0%A4%A`): a 400, not a 500. */
const decodePathParameters = (names: string[], match: RegExpExecArray) => {
  const parameters: Record<string, string> = {};
  try {
    names.forEach((name, index) => {
      parameters[name] = decodeURIComponent(match[index + 1] ?? '');
    });
  } catch (error) {
    if (error instanceof URIError) return undefined;
    throw error;
  }
  return parameters;
};

const safeEqual = (a: string, b: string) => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

/**
 * The local API Gateway: matches the route table, checks the bearer token the way the JWT
 * authorizer would, and invokes the same Lambda handlers with HTTP API v2 events.
 */
export class LocalGateway {
  private readonly compiled = (allRoutes as readonly RouteDef[]).map(compile);
  private readonly server: Server;
  private readonly maxBodyBytes: number;

  constructor(private readonly props: GatewayProps) {
    this.maxBodyBytes = props.maxBodyBytes ?? 1024 * 1024;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        console.error('gateway error', error);
        if (!res.headersSent) {
          send(res, problem(500, 'internal', 'Internal error', 'The gateway failed', req.url ?? '/'));
        } else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 5_000;
  }

  async listen(port: number, host: string): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    const address = this.server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${shownHost}:${address.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private presentsToken(req: IncomingMessage): boolean {
    const [scheme, presented] = (req.headers.authorization ?? '').split(' ');
    return scheme?.toLowerCase() === 'bearer' && !!presented && safeEqual(presented, this.props.token);
  }

  /** CORS answers only for an allowed origin; other origins get none, so browsers block them. */
  private corsHeaders(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (!this.props.corsOrigins?.length) return {};
    if (!origin || !this.props.corsOrigins.includes(origin)) return { vary: 'Origin' };
    return {
      'access-control-allow-origin': origin,
      'access-control-expose-headers': CORS_EXPOSE_HEADERS,
      vary: 'Origin',
    };
  }

  private async readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > this.maxBodyBytes) return 'too-large';
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toLowerCase();
    const path = url.pathname;

    // Rate limit first, so that bad tokens and unknown paths count too. The one local token is
    // one caller; anything else counts against its source address.
    const decision = this.props.rateLimiter.take(
      this.presentsToken(req) ? 'sub:local-operator' : `ip:${req.socket.remoteAddress ?? 'unknown'}`,
    );
    const extra = { ...rateLimitHeaders(decision), ...this.corsHeaders(req) };
    const sendProblem = (problem: Problem, headers: Record<string, string> = {}) =>
      send(res, problem, { ...extra, ...headers });
    if (!decision.allowed) {
      return sendProblem(
        problem(
          429,
          'rate-limited',
          'Too many requests',
          `Too many requests: at most ${decision.limit} at once; retry in ${decision.retryAfterSeconds} s`,
          path,
          decision.limit,
        ),
      );
    }
    if (method === 'options' && extra['access-control-allow-origin']) {
      res.writeHead(204, {
        ...extra,
        'access-control-allow-methods': 'GET, POST, PATCH, DELETE',
        'access-control-allow-headers': CORS_ALLOW_HEADERS,
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    if (this.props.console && isConsolePath(method, path)) {
      return serveConsole(this.props.console, method, path, res, extra);
    }
    const candidates = this.compiled
      .map((compiled) => ({ compiled, match: compiled.pattern.exec(path) }))
      .filter((candidate) => candidate.match !== null);
    const found = candidates.find((candidate) => candidate.compiled.route.method === method);
    if (!found) {
      if (candidates.length > 0) {
        const allow = candidates.map((candidate) => candidate.compiled.route.method.toUpperCase()).join(', ');
        return sendProblem(
          problem(405, 'method-not-allowed', 'Method not allowed', `Allowed: ${allow}`, path),
          {
            allow,
          },
        );
      }
      return sendProblem(
        problem(404, 'not-found', 'Not found', `No route for ${method.toUpperCase()} ${path}`, path),
      );
    }
    const { route, names } = found.compiled;
    const match = found.match as RegExpExecArray;

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
    }

    let claims: Record<string, string> | undefined;
    if (route.auth) {
      if (!this.presentsToken(req)) {
        return sendProblem(
          problem(
            401,
            'unauthorized',
            'Unauthorized',
            'A valid bearer token is required (Authorization: Bearer <token>)',
            path,
          ),
          { 'www-authenticate': 'Bearer' },
        );
      }
      // The local token is the operator's: it sees every project.
      claims = { sub: 'local-operator', [PROJECTS_CLAIM]: '*' };
    }

    const body = await this.readBody(req);
    if (body === 'too-large') {
      return sendProblem(
        problem(
          413,
          'too-large',
          'Payload too large',
          `Request bodies are limited to ${this.maxBodyBytes} bytes`,
          path,
        ),
      );
    }

    const pathParameters = decodePathParameters(names, match);
    if (!pathParameters) {
      return sendProblem({
        ...problem(400, 'validation', 'The request is not valid', 'The path is not valid', path),
        errors: [{ path: 'path', message: 'contains a malformed percent-escape' }],
      });
    }
    const queryStringParameters: Record<string, string> = {};
    for (const key of new Set(url.searchParams.keys()))
      queryStringParameters[key] = url.searchParams.getAll(key).join(',');

    const now = new Date();
    const event = {
      version: '2.0',
      routeKey: routeKey(route),
      rawPath: path,
      rawQueryString: url.search.slice(1),
      headers,
      queryStringParameters: Object.keys(queryStringParameters).length ? queryStringParameters : undefined,
      pathParameters: names.length ? pathParameters : undefined,
      body: body.length ? body.toString('utf8') : undefined,
      isBase64Encoded: false,
      requestContext: {
        accountId: 'local',
        apiId: 'local',
        domainName: headers.host ?? 'localhost',
        domainPrefix: 'local',
        http: {
          method: method.toUpperCase(),
          path,
          protocol: `HTTP/${req.httpVersion}`,
          sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
          userAgent: headers['user-agent'] ?? '',
        },
        requestId: randomUUID(),
        routeKey: routeKey(route),
        stage: '$default',
        time: now.toISOString(),
        timeEpoch: now.getTime(),
        authorizer: { principalId: '', integrationLatency: 0, jwt: { claims: claims ?? {}, scopes: [] } },
      },
    } as unknown as ApiEvent;

    const response = await this.props.handlers[route.fn](
      event,
      localLambdaContext(`api-${route.fn}`, 30_000),
    );
    const responseBody = response.body ?? '';
    res.writeHead(response.statusCode ?? 200, { ...(response.headers as Record<string, string>), ...extra });
    res.end(response.isBase64Encoded ? Buffer.from(responseBody, 'base64') : responseBody);
  }
}
