import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import * as z from 'zod';
import type { RouteDef } from './route.ts';
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
    registry.registerPath({
      method: route.method,
      path: route.path,
      operationId: route.operationId,
      summary: route.summary,
      tags: route.tags,
      security: route.auth ? [{ [bearer.name]: [] }] : [],
      request: {
        ...(route.params ? { params: route.params } : {}),
        ...(route.query ? { query: route.query } : {}),
        ...(route.idempotent ? { headers: IdempotencyKeyHeader } : {}),
        ...(route.body
          ? { body: { required: true, content: { 'application/json': { schema: route.body } } } }
          : {}),
      },
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([status, response]) => [
          status,
          {
            description: response.description,
            ...(response.schema
              ? { content: { [response.contentType ?? 'application/json']: { schema: response.schema } } }
              : {}),
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
    },
    servers: [{ url: '/' }],
  });
};
