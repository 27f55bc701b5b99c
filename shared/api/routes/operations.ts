import { AddonPathSchema } from '../../schemas/addon.ts';
import { PaginationQuerySchema } from '../../schemas/common.ts';
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
} as const;
