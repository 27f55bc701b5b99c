import * as z from 'zod/mini';
import { text } from '../../schemas/bounds.ts';
import { meta } from '../../schemas/meta.ts';
import { defineRoute } from '../route.ts';
import { errors, HealthSchema } from './common.ts';

const openRecord = (description: string) =>
  meta(
    z.record(z.string().check(z.maxLength(300)), z.record(z.string().check(z.maxLength(300)), z.unknown())),
    { description },
  );

/** The top level of this document; what lies below each key is the OpenAPI 3.1 specification's. */
const OpenApiDocumentSchema = meta(
  z.object({
    openapi: z.literal('3.1.0'),
    info: z.object({
      title: text(100),
      version: text(20),
      description: text(1000),
      contact: z.object({ name: text(100) }),
    }),
    servers: z
      .array(z.object({ url: text(2048), description: text(300), 'x-internal': z.boolean() }))
      .check(z.maxLength(10)),
    tags: z.array(z.object({ name: text(50), description: text(300) })).check(z.maxLength(50)),
    paths: openRecord('Path items by path template'),
    components: openRecord('Reusable objects by kind (schemas, securitySchemes)'),
    webhooks: openRecord('Webhooks this API calls (none)'),
  }),
  { id: 'OpenApiDocument', description: 'This OpenAPI 3.1 document' },
);

/** Health, the OpenAPI document and its docs page (the meta function). */
export const metaRoutes = {
  getHealth: defineRoute({
    operationId: 'getHealth',
    method: 'get',
    path: '/health',
    summary: 'Liveness check',
    tags: ['meta'],
    fn: 'meta',
    auth: false,
    responses: { 200: { description: 'The platform is up', schema: HealthSchema } },
  }),
  getOpenApi: defineRoute({
    operationId: 'getOpenApi',
    method: 'get',
    path: '/openapi.json',
    summary: 'This OpenAPI document',
    tags: ['meta'],
    fn: 'meta',
    auth: false,
    responses: { 200: { description: 'OpenAPI 3.1 document', schema: OpenApiDocumentSchema } },
  }),
  getDocs: defineRoute({
    operationId: 'getDocs',
    method: 'get',
    path: '/docs',
    summary: 'API reference page (served by the platform, works offline)',
    tags: ['meta'],
    fn: 'meta',
    auth: false,
    responses: { 200: { description: 'HTML page', contentType: 'text/html' } },
  }),
  getDocsAsset: defineRoute({
    operationId: 'getDocsAsset',
    method: 'get',
    path: '/docs/{asset}',
    summary: 'Static asset of the docs page',
    tags: ['meta'],
    fn: 'meta',
    auth: false,
    params: z.object({ asset: z.string().check(z.maxLength(100)) }),
    responses: {
      200: {
        description: "The stylesheet or the script of the docs page (swagger-ui's own files)",
        contentType: ['text/css', 'text/javascript'],
      },
      404: errors[404],
    },
  }),
} as const;
