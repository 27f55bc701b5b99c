import * as z from 'zod/mini';
import { TargetSchema } from '../../schemas/catalog.ts';
import { OperationIdSchema, ProjectIdSchema, pageOf } from '../../schemas/common.ts';
import { meta } from '../../schemas/meta.ts';
import { OperationSchema } from '../../schemas/operation.ts';
import { ProblemSchema } from '../../schemas/problem.ts';

export const problem = (description: string) => ({
  description,
  schema: ProblemSchema,
  contentType: 'application/problem+json',
});
export const errors = {
  400: problem('The request is malformed; `errors` names each offending field'),
  401: problem('Missing or invalid bearer token'),
  404: problem('No such resource in this project'),
};

export const OperationPathSchema = z.object({ projectId: ProjectIdSchema, operationId: OperationIdSchema });
export const HealthSchema = meta(z.object({ status: z.literal('ok'), target: TargetSchema }), {
  id: 'Health',
});
export const OperationPageSchema = pageOf(OperationSchema, 'OperationPage');

/** The route table: the single source for routing (API Gateway and the local gateway), validation and OpenAPI. */
