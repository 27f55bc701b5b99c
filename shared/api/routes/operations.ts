import { AddonPathSchema } from '../../schemas/addon.ts';
import { PaginationQuerySchema, ProjectPathSchema } from '../../schemas/common.ts';
import { EventPageSchema, EventsQuerySchema } from '../../schemas/event.ts';
import { OperationSchema } from '../../schemas/operation.ts';
import { defineRoute } from '../route.ts';
import { errors, OperationPageSchema, OperationPathSchema } from './common.ts';

/** Operations: the progress and outcome of every mutating request. */
export const operationsRoutes = {
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
  listEvents: defineRoute({
    operationId: 'listEvents',
    method: 'get',
    path: '/v1/projects/{projectId}/events',
    summary:
      "The project's events feed (operations created and ended, backup health changes), oldest first (or newest first with `order=newest`): append-only, kept 30 days",
    tags: ['operations'],
    fn: 'operations',
    auth: true,
    params: ProjectPathSchema,
    query: EventsQuerySchema,
    responses: { 200: { description: 'A page of events', schema: EventPageSchema }, ...errors },
  }),
} as const;
