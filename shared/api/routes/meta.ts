import * as z from 'zod';
import { AddonTypeListSchema } from '../../schemas/catalog.ts';
import { defineRoute } from '../route.ts';
import { errors, HealthSchema } from './common.ts';

/** Health, the OpenAPI document, its docs page and the addon-type catalog. */
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
    responses: { 200: { description: 'OpenAPI 3.1 document' } },
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
    hidden: true,
    params: z.object({ asset: z.string().max(100) }),
    responses: { 200: { description: 'Asset' }, 404: errors[404] },
  }),
  listAddonTypes: defineRoute({
    operationId: 'listAddonTypes',
    method: 'get',
    path: '/v1/addon-types',
    summary: 'Engine catalog: versions, plans, upgrade targets and capabilities on this deployment',
    tags: ['catalog'],
    fn: 'catalog',
    auth: true,
    responses: { 200: { description: 'The catalog', schema: AddonTypeListSchema }, 401: errors[401] },
  }),
} as const;
