import * as z from 'zod/mini';
import { AddonPathSchema } from '../../schemas/addon.ts';
import { PaginationQuerySchema } from '../../schemas/common.ts';
import {
  CreateImportRequestSchema,
  ImportPageSchema,
  ImportPathSchema,
  ImportSchema,
  ImportUploadSchema,
  ImportWithOperationSchema,
  LiveImportCreatedSchema,
  StartImportRequestSchema,
} from '../../schemas/import.ts';
import { defineRoute } from '../route.ts';
import { errors, problem } from './common.ts';

/** Imports: data loaded into an addon from a file a user uploads. */
export const importsRoutes = {
  createImport: defineRoute({
    operationId: 'createImport',
    method: 'post',
    path: '/v1/projects/{projectId}/addons/{addonId}/imports',
    summary:
      "Create an import: `upload` returns a presigned URL to PUT the file to (a dump backup's download for PostgreSQL and MySQL, an RDB file for Redis); `live` takes a running database's connection string (kept only in the secret store). Then start it",
    tags: ['imports'],
    fn: 'backups',
    auth: true,
    idempotent: true,
    params: AddonPathSchema,
    body: CreateImportRequestSchema,
    responses: {
      201: {
        description: 'The import and where to upload its file (an upload), or the import to start (live)',
        schema: z.union([ImportUploadSchema, LiveImportCreatedSchema]),
      },
      ...errors,
      422: problem(
        'This engine cannot import files or live databases here (`kind`), `sizeBytes` is over the upload quota, or `connectionString` is invalid or of another engine',
      ),
    },
  }),
  listImports: defineRoute({
    operationId: 'listImports',
    method: 'get',
    path: '/v1/projects/{projectId}/addons/{addonId}/imports',
    summary: "The addon's imports, newest first",
    tags: ['imports'],
    fn: 'backups',
    auth: true,
    params: AddonPathSchema,
    query: PaginationQuerySchema,
    responses: { 200: { description: 'A page of imports', schema: ImportPageSchema }, ...errors },
  }),
  getImport: defineRoute({
    operationId: 'getImport',
    method: 'get',
    path: '/v1/projects/{projectId}/addons/{addonId}/imports/{importId}',
    summary: 'Get an import',
    tags: ['imports'],
    fn: 'backups',
    auth: true,
    params: ImportPathSchema,
    responses: { 200: { description: 'The import', schema: ImportSchema }, ...errors },
  }),
  startImport: defineRoute({
    operationId: 'startImport',
    method: 'post',
    path: '/v1/projects/{projectId}/addons/{addonId}/imports/{importId}/start',
    summary:
      'Load the uploaded file into the addon: its data is replaced all or nothing, as a restore does (a failure leaves it as it was; start again to retry)',
    tags: ['imports'],
    fn: 'backups',
    auth: true,
    idempotent: true,
    params: ImportPathSchema,
    body: StartImportRequestSchema,
    responses: {
      202: { description: 'Accepted: poll the operation', schema: ImportWithOperationSchema },
      ...errors,
      409: problem(
        'Nothing uploaded yet, the import is running, completed or expired, or another operation is in flight',
      ),
      422: problem('The uploaded file is not what the addon can load (`upload`, `sizeBytes`, `compression`)'),
    },
  }),
  abortImport: defineRoute({
    operationId: 'abortImport',
    method: 'post',
    path: '/v1/projects/{projectId}/addons/{addonId}/imports/{importId}/abort',
    summary:
      'Abort a running import: nothing of the file is committed, the addon keeps its data; the uploaded file is kept for a retry',
    tags: ['imports'],
    fn: 'backups',
    auth: true,
    params: ImportPathSchema,
    responses: {
      200: {
        description: 'The import, failed with code Aborted (or completed, if it finished first)',
        schema: ImportSchema,
      },
      ...errors,
      409: problem('The import is not running'),
    },
  }),
} as const;
