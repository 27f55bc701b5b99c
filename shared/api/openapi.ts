import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import * as z from 'zod';
import { ProblemSchema } from '../schemas/problem.ts';
import type { ResponseDef, RouteDef } from './route.ts';
import { allRoutes } from './routes.ts';

const IdempotencyKeyHeader = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .optional()
    .meta({ description: 'Repeat the request safely: the same key and body return the first result' }),
});

/** Which token to send: the one mistake every new user makes is sending the wrong one. */
const BEARER_DESCRIPTION =
  'Send `Authorization: Bearer <token>`. Local target: the value of `ADDONS_TOKEN`, or, when it is ' +
  'unset, the token `npm start` generates into `.addons/token` (the data directory) and prints. AWS: ' +
  'the Cognito **ID token** of your user (not the access token): only the ID token carries the ' +
  '`custom:projects` claim that says which projects you may use.';
const seconds = (description: string, minimum: number) => ({
  description,
  schema: { type: 'integer' as const, format: 'int32', minimum, maximum: 86_400 },
});

/** Sent with every answer the platform itself gives (API Gateway's own 401s on AWS carry none). */
const RATE_LIMIT_HEADERS = {
  'RateLimit-Limit': {
    description: 'Requests this caller may send at once (the bucket size); it refills at the configured rate',
    schema: { type: 'integer' as const, format: 'int32', minimum: 1, maximum: 1_000_000 },
  },
  'RateLimit-Remaining': {
    description: 'Requests left right now',
    schema: { type: 'integer' as const, format: 'int32', minimum: 0, maximum: 1_000_000 },
  },
  'RateLimit-Reset': seconds('Seconds until the caller has its whole allowance again', 0),
  'Access-Control-Allow-Origin': {
    description:
      "The request's Origin, only when it is one of the deployment's allowed origins (none by default): " +
      'browsers on other origins cannot read the answer',
    schema: { type: 'string' as const, format: 'uri', maxLength: 2048 },
  },
};

const problem = (description: string): ResponseDef => ({
  description,
  schema: ProblemSchema,
  contentType: 'application/problem+json',
});

/** Answers any route can give, whatever it does. */
const defaultResponses = (route: RouteDef): Record<number, ResponseDef> => {
  const responses: Record<number, ResponseDef> = {
    429: problem('Too many requests from this caller: wait `Retry-After` seconds'),
    500: problem('Unexpected error; it has been logged and the detail says nothing more'),
  };
  if (route.auth) responses[401] = problem('Missing or invalid bearer token');
  return responses;
};

const PUBLIC_REASON =
  'Public by design (no token): it carries no project data, and load balancers and the docs page need it.';

const TAGS = [
  { name: 'meta', description: 'Health, this document and the reference page' },
  { name: 'catalog', description: 'What this deployment can run' },
  { name: 'addons', description: 'Database addons of a project' },
  { name: 'backups', description: 'Backups, restores and backup schedules of an addon' },
  { name: 'operations', description: 'Long-running operations to poll' },
  {
    name: 'metrics',
    description:
      'Time series of an addon, each with its unit: sampled by the platform locally, read from CloudWatch on AWS (the `MetricName` enum is the catalog)',
  },
  {
    name: 'alerts',
    description:
      'Alert rules on metrics, their per-addon states and their signed webhook deliveries: evaluated by the platform locally, CloudWatch alarms on AWS',
  },
];

const headersOf = (status: number) => {
  if (status === 429) {
    return { ...RATE_LIMIT_HEADERS, 'Retry-After': seconds('Seconds to wait before retrying', 1) };
  }
  return RATE_LIMIT_HEADERS;
};

/** A response's media types, with its schema when it has one (HTML and docs assets have none). */
const contentOf = (response: ResponseDef) => {
  const types = [response.contentType ?? 'application/json'].flat();
  if (!response.schema && !response.contentType) return {};
  return {
    content: Object.fromEntries(
      types.map((type) => [type, response.schema ? { schema: response.schema } : {}]),
    ),
  };
};

/** The OpenAPI 3.1 document, generated from the route table and the zod schemas. */
export const buildOpenApiDocument = () => {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: BEARER_DESCRIPTION,
  });
  for (const route of allRoutes as readonly RouteDef[]) {
    if (route.hidden) continue;
    const responses = { ...defaultResponses(route), ...route.responses };
    registry.registerPath({
      method: route.method,
      path: route.path,
      operationId: route.operationId,
      summary: route.summary,
      description: `${route.summary}. ${route.auth ? 'Requires a bearer token.' : PUBLIC_REASON} Rate limited per caller.`,
      tags: route.tags,
      // `{}` is the empty requirement: anyone may call it (see the description for why); a client
      // that sends its bearer token anyway (a generated client does, on every call) is just as welcome.
      security: route.auth ? [{ [bearer.name]: [] }] : [{}, { [bearer.name]: [] }],
      request: {
        ...(route.params ? { params: route.params } : {}),
        ...(route.query ? { query: route.query } : {}),
        ...(route.idempotent ? { headers: IdempotencyKeyHeader } : {}),
        ...(route.body
          ? { body: { required: true, content: { 'application/json': { schema: route.body } } } }
          : {}),
      },
      responses: Object.fromEntries(
        Object.entries(responses)
          .sort(([a], [b]) => Number(a) - Number(b))
          .map(([status, response]) => [
            status,
            {
              description: response.description,
              headers: headersOf(Number(status)),
              ...contentOf(response),
            },
          ]),
      ),
    });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Addons platform API',
      version: '1.0.0',
      description:
        'Managed PostgreSQL, MySQL, Redis and MongoDB addons. Every mutating request returns 202 with an ' +
        'operation to poll; errors are RFC 9457 problem+json naming the offending fields.',
      contact: { name: 'The team that operates this deployment' },
    },
    servers: [
      {
        url: '/',
        description:
          'This deployment, production on AWS or local under `npm start`: the origin that serves this document',
        'x-internal': false,
      },
    ],
    tags: TAGS,
  });
};
