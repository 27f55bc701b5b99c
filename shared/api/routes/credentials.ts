import {
  AddonPathSchema,
  CredentialRotationResponseSchema,
  CredentialsSchema,
  RotateCredentialsRequestSchema,
} from '../../schemas/addon.ts';
import { defineRoute } from '../route.ts';
import { errors, problem } from './common.ts';

/**
 * Connection details and their rotation, served by the credentials function, which owns them.
 * Each rotation call is one short `rotate-credentials` operation run by the API itself,
 * completed when it answers (credential-rotation.ts).
 */
export const credentialsRoutes = {
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
  rotateCredentials: defineRoute({
    operationId: 'rotateCredentials',
    method: 'post',
    path: '/v1/projects/{projectId}/addons/{addonId}/credentials/rotate',
    summary:
      'Publish new credentials at once while the previous ones keep working until the rotation is finished or its deadline (default 24 h) passes',
    tags: ['addons'],
    fn: 'credentials',
    auth: true,
    params: AddonPathSchema,
    body: RotateCredentialsRequestSchema,
    responses: {
      200: {
        description:
          'Rotated: the new credentials, the addon with its open rotation, and the completed operation',
        schema: CredentialRotationResponseSchema,
      },
      ...errors,
      409: problem(
        'Another operation is in flight on this addon, a rotation is already open, or the addon is not running',
      ),
      422: problem(
        'The engine cannot rotate credentials on this deployment (capability `credentialRotation`)',
      ),
    },
  }),
  finishCredentialRotation: defineRoute({
    operationId: 'finishCredentialRotation',
    method: 'post',
    path: '/v1/projects/{projectId}/addons/{addonId}/credentials/rotate/finish',
    summary:
      'Retire the previous credentials of the open rotation now: only the published ones work afterwards',
    tags: ['addons'],
    fn: 'credentials',
    auth: true,
    params: AddonPathSchema,
    responses: {
      200: {
        description: 'Finished: the credentials that remain, the addon, and the completed operation',
        schema: CredentialRotationResponseSchema,
      },
      ...errors,
      409: problem('No rotation is open, another operation is in flight, or the addon is not running'),
      422: problem(
        'The engine cannot rotate credentials on this deployment (capability `credentialRotation`)',
      ),
    },
  }),
} as const;
