import { z } from 'zod';
import {
  AddonPageSchema,
  AddonPathSchema,
  AddonSchema,
  AddonWithOperationSchema,
  CreateAddonRequestSchema,
  CredentialsSchema,
} from '../schemas/addon.ts';
import { AddonTypeListSchema } from '../schemas/catalog.ts';
import { PaginationQuerySchema, pageOf } from '../schemas/common.ts';
import { OperationSchema } from '../schemas/operation.ts';
import { ProblemSchema } from '../schemas/problem.ts';
import { defineRoute } from './route.ts';

const problem = (description: string) => ({
  description,
  schema: ProblemSchema,
  contentType: 'application/problem+json',
});
const errors = {
  400: problem('The request is malformed; `errors` names each offending field'),
  401: problem('Missing or invalid bearer token'),
  404: problem('No such resource in this project'),
};

const ProjectPathSchema = z.object({ projectId: z.string().max(63) });
const OperationPathSchema = z.object({ projectId: z.string().max(63), operationId: z.string().max(80) });
const HealthSchema = z.object({ status: z.literal('ok'), target: z.string() }).meta({ id: 'Health' });
const OperationPageSchema = pageOf(OperationSchema, 'OperationPage');

/** The route table: the single source for routing (API Gateway and the local gateway), validation and OpenAPI. */
export const routes = {
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
  createAddon: defineRoute({
    operationId: 'createAddon',
    method: 'post',
    path: '/v1/projects/{projectId}/addons',
    summary: 'Create an addon; returns the addon and its create operation',
    tags: ['addons'],
    fn: 'addons',
    auth: true,
    idempotent: true,
    params: ProjectPathSchema,
    body: CreateAddonRequestSchema,
    responses: {
      202: { description: 'Accepted: poll the operation', schema: AddonWithOperationSchema },
      ...errors,
      409: problem('An addon with this name exists, or an idempotent request with this key is in flight'),
      422: problem('The engine, version, plan or option is not available here'),
    },
  }),
  listAddons: defineRoute({
    operationId: 'listAddons',
    method: 'get',
    path: '/v1/projects/{projectId}/addons',
    summary: 'List addons, oldest first',
    tags: ['addons'],
    fn: 'addons',
    auth: true,
    params: ProjectPathSchema,
    query: PaginationQuerySchema,
    responses: { 200: { description: 'A page of addons', schema: AddonPageSchema }, ...errors },
  }),
  getAddon: defineRoute({
    operationId: 'getAddon',
    method: 'get',
    path: '/v1/projects/{projectId}/addons/{addonId}',
    summary: 'Get an addon',
    tags: ['addons'],
    fn: 'addons',
    auth: true,
    params: AddonPathSchema,
    responses: { 200: { description: 'The addon', schema: AddonSchema }, ...errors },
  }),
  deleteAddon: defineRoute({
    operationId: 'deleteAddon',
    method: 'delete',
    path: '/v1/projects/{projectId}/addons/{addonId}',
    summary: 'Delete an addon, its instance, data and connection details',
    tags: ['addons'],
    fn: 'addons',
    auth: true,
    params: AddonPathSchema,
    responses: {
      202: { description: 'Accepted: poll the operation', schema: AddonWithOperationSchema },
      ...errors,
      409: problem('Another operation is in flight on this addon'),
    },
  }),
  getCredentials: defineRoute({
    operationId: 'getCredentials',
    method: 'get',
    path: '/v1/projects/{projectId}/addons/{addonId}/credentials',
    summary: 'Connection details of a running addon',
    tags: ['addons'],
    fn: 'credentials',
    auth: true,
    params: AddonPathSchema,
    responses: {
      200: { description: 'Connection details', schema: CredentialsSchema },
      ...errors,
      409: problem('The addon has no connection details yet (still creating, or failed)'),
    },
  }),
  listAddonOperations: defineRoute({
    operationId: 'listAddonOperations',
    method: 'get',
    path: '/v1/projects/{projectId}/addons/{addonId}/operations',
    summary: "The addon's operation history, newest first",
    tags: ['operations'],
    fn: 'operations',
    auth: true,
    params: AddonPathSchema,
    query: PaginationQuerySchema,
    responses: { 200: { description: 'A page of operations', schema: OperationPageSchema }, ...errors },
  }),
  getOperation: defineRoute({
    operationId: 'getOperation',
    method: 'get',
    path: '/v1/projects/{projectId}/operations/{operationId}',
    summary: 'Poll an operation',
    tags: ['operations'],
    fn: 'operations',
    auth: true,
    params: OperationPathSchema,
    responses: { 200: { description: 'The operation', schema: OperationSchema }, ...errors },
  }),
} as const;

export type Routes = typeof routes;
export type RouteId = keyof Routes;
export const allRoutes = Object.values(routes);
