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

/** The OpenAPI 3.1 document, generated from the route table and the zod schemas. */
export const buildOpenApiDocument = () => {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'On AWS, a Cognito access token; locally, the token printed by `npm start` (ADDONS_TOKEN)',
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
