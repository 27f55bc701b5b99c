import * as z from 'zod/mini';
import { PaginationQuerySchema, ProjectPathSchema } from '../../schemas/common.ts';
import { meta } from '../../schemas/meta.ts';
import {
  CreateExternalServiceRequestSchema,
  CreateSecretGroupRequestSchema,
  ExternalServicePageSchema,
  ExternalServicePathSchema,
  ExternalServiceSchema,
  SecretGroupDocumentSchema,
  SecretGroupPageSchema,
  SecretGroupPathSchema,
  SecretGroupSchema,
  UpdateSecretGroupRequestSchema,
} from '../../schemas/secret-group.ts';
import { defineRoute } from '../route.ts';
import { errors, problem } from './common.ts';

export const DeleteExternalServiceQuerySchema = z.object({
  unlinkGroups: meta(z.optional(z.enum(['true', 'false'])), {
    description: 'Remove its links from every secret group first; without it a linked service is a 409',
  }),
});

const invalidGroup = problem(
  'The request is malformed: an alias used twice, an unknown key, or a link to an addon or external service that is not in this project (`errors` names each field)',
);

/**
 * Secret groups and external services. Served by the credentials function, which owns connection
 * details: a group's document holds secrets, read with the same authorization as credentials.
 */
export const secretGroupsRoutes = {
  createSecretGroup: defineRoute({
    operationId: 'createSecretGroup',
    method: 'post',
    path: '/v1/projects/{projectId}/secret-groups',
    summary:
      "Create a secret group: chosen keys of addons' and external services' connection details under aliases, plus plain variables, published as one document",
    tags: ['secret-groups'],
    fn: 'credentials',
    auth: true,
    idempotent: true,
    params: ProjectPathSchema,
    body: CreateSecretGroupRequestSchema,
    responses: {
      201: { description: 'The group, published', schema: SecretGroupSchema },
      ...errors,
      400: invalidGroup,
    },
  }),
  listSecretGroups: defineRoute({
    operationId: 'listSecretGroups',
    method: 'get',
    path: '/v1/projects/{projectId}/secret-groups',
    summary: "The project's secret groups",
    tags: ['secret-groups'],
    fn: 'credentials',
    auth: true,
    params: ProjectPathSchema,
    query: PaginationQuerySchema,
    responses: { 200: { description: 'A page of secret groups', schema: SecretGroupPageSchema }, ...errors },
  }),
  getSecretGroup: defineRoute({
    operationId: 'getSecretGroup',
    method: 'get',
    path: '/v1/projects/{projectId}/secret-groups/{groupId}',
    summary: 'Get a secret group (its links and variables; the values are in its document)',
    tags: ['secret-groups'],
    fn: 'credentials',
    auth: true,
    params: SecretGroupPathSchema,
    responses: { 200: { description: 'The group', schema: SecretGroupSchema }, ...errors },
  }),
  updateSecretGroup: defineRoute({
    operationId: 'updateSecretGroup',
    method: 'patch',
    path: '/v1/projects/{projectId}/secret-groups/{groupId}',
    summary: 'Change a secret group (links and variables are replaced as a whole) and publish it again',
    tags: ['secret-groups'],
    fn: 'credentials',
    auth: true,
    params: SecretGroupPathSchema,
    body: UpdateSecretGroupRequestSchema,
    responses: {
      200: { description: 'The group, published', schema: SecretGroupSchema },
      ...errors,
      400: invalidGroup,
      409: problem('The group changed at the same time; retry'),
    },
  }),
  deleteSecretGroup: defineRoute({
    operationId: 'deleteSecretGroup',
    method: 'delete',
    path: '/v1/projects/{projectId}/secret-groups/{groupId}',
    summary: 'Delete a secret group and its published document (the linked addons stay)',
    tags: ['secret-groups'],
    fn: 'credentials',
    auth: true,
    params: SecretGroupPathSchema,
    responses: { 204: { description: 'Deleted' }, ...errors },
  }),
  getSecretGroupDocument: defineRoute({
    operationId: 'getSecretGroupDocument',
    method: 'get',
    path: '/v1/projects/{projectId}/secret-groups/{groupId}/document',
    summary: "The group's published document: every alias and variable with its (secret) value",
    tags: ['secret-groups'],
    fn: 'credentials',
    auth: true,
    params: SecretGroupPathSchema,
    responses: { 200: { description: 'The document', schema: SecretGroupDocumentSchema }, ...errors },
  }),
  registerExternalService: defineRoute({
    operationId: 'registerExternalService',
    method: 'post',
    path: '/v1/projects/{projectId}/external-services',
    summary:
      'Register an existing database by connection string so secret groups can link it (the string is never shown again)',
    tags: ['secret-groups'],
    fn: 'credentials',
    auth: true,
    idempotent: true,
    params: ProjectPathSchema,
    body: CreateExternalServiceRequestSchema,
    responses: {
      201: {
        description: 'The service: host, port, database, user and TLS, never the string',
        schema: ExternalServiceSchema,
      },
      ...errors,
      400: problem(
        'The request or its connection string is malformed (`errors` names `body.connectionString`)',
      ),
    },
  }),
  listExternalServices: defineRoute({
    operationId: 'listExternalServices',
    method: 'get',
    path: '/v1/projects/{projectId}/external-services',
    summary: "The project's external services",
    tags: ['secret-groups'],
    fn: 'credentials',
    auth: true,
    params: ProjectPathSchema,
    query: PaginationQuerySchema,
    responses: {
      200: { description: 'A page of external services', schema: ExternalServicePageSchema },
      ...errors,
    },
  }),
  getExternalService: defineRoute({
    operationId: 'getExternalService',
    method: 'get',
    path: '/v1/projects/{projectId}/external-services/{externalServiceId}',
    summary: 'Get an external service',
    tags: ['secret-groups'],
    fn: 'credentials',
    auth: true,
    params: ExternalServicePathSchema,
    responses: { 200: { description: 'The service', schema: ExternalServiceSchema }, ...errors },
  }),
  deleteExternalService: defineRoute({
    operationId: 'deleteExternalService',
    method: 'delete',
    path: '/v1/projects/{projectId}/external-services/{externalServiceId}',
    summary: 'Forget an external service and its connection details',
    tags: ['secret-groups'],
    fn: 'credentials',
    auth: true,
    params: ExternalServicePathSchema,
    query: DeleteExternalServiceQuerySchema,
    responses: {
      204: { description: 'Deleted' },
      ...errors,
      409: problem(
        'It is linked into secret groups (named in the detail) and `unlinkGroups=true` was not asked',
      ),
    },
  }),
} as const;
