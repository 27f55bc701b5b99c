import * as z from 'zod/mini';
import { meta } from '../schemas/meta.ts';
import { ProblemSchema } from '../schemas/problem.ts';
import { SchemaComponents } from './openapi-schemas.ts';
import type { ResponseDef, RouteDef } from './route.ts';
import { allRoutes } from './routes.ts';

const IdempotencyKeyHeader = z.object({
  'idempotency-key': meta(z.optional(z.string().check(z.minLength(1), z.maxLength(255))), {
    description: 'Repeat the request safely: the same key and body return the first result',
  }),
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
const contentOf = (response: ResponseDef, components: SchemaComponents) => {
  const types = [response.contentType ?? 'application/json'].flat();
  if (!response.schema && !response.contentType) return {};
  const schema = response.schema ? { schema: components.convert(response.schema, 'output') } : {};
  return { content: Object.fromEntries(types.map((type) => [type, schema])) };
};

/** The operation of one route: its parameters and body converted as inputs, its responses as outputs. */
const operationOf = (route: RouteDef, components: SchemaComponents) => {
  // Responses first: their components come first in the document, as they always have.
  const responses = Object.fromEntries(
    Object.entries({ ...defaultResponses(route), ...route.responses })
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([status, response]) => [
        status,
        {
          description: response.description,
          headers: headersOf(Number(status)),
          ...contentOf(response, components),
        },
      ]),
  );
  const parameters = [
    ...(route.params ? components.parameters(route.params, 'path') : []),
    ...(route.query ? components.parameters(route.query, 'query') : []),
    ...(route.idempotent ? components.parameters(IdempotencyKeyHeader, 'header') : []),
  ];
  const body = route.body && { 'application/json': { schema: components.convert(route.body, 'input') } };
  return {
    operationId: route.operationId,
    summary: route.summary,
    description: `${route.summary}. ${route.auth ? 'Requires a bearer token.' : PUBLIC_REASON} Rate limited per caller.`,
    tags: route.tags,
    // `{}` is the empty requirement: anyone may call it (see the description for why); a client
    // that sends its bearer token anyway (a generated client does, on every call) is just as welcome.
    security: route.auth ? [{ bearerAuth: [] }] : [{}, { bearerAuth: [] }],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(body ? { requestBody: { required: true, content: body } } : {}),
    responses,
  };
};

/**
 * The OpenAPI 3.1 document, generated from the route table (or the routes given) and the zod
 * schemas: every schema with an id is a component.
 */
export const buildOpenApiDocument = (routes: readonly RouteDef[] = allRoutes as readonly RouteDef[]) => {
  const components = new SchemaComponents();
  const paths: Record<string, Record<string, ReturnType<typeof operationOf>>> = {};
  for (const route of routes) {
    if (route.hidden) continue;
    paths[route.path] = { ...paths[route.path], [route.method]: operationOf(route, components) };
  }
  return {
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
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: BEARER_DESCRIPTION },
      },
      schemas: components.schemas,
      parameters: {},
    },
    paths,
    webhooks: {},
  };
};
