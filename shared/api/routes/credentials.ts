import {
  AddonPathSchema,
  CredentialRotationResponseSchema,
  CredentialRotationStartedSchema,
  CredentialsSchema,
  RotateCredentialsRequestSchema,
} from '../../schemas/addon.ts';
import { defineRoute } from '../route.ts';
import { errors, problem } from './common.ts';

/**
 * Connection details and their rotation, served by the credentials function, which owns them.
 * Each rotation call is one `rotate-credentials` operation: run by the API itself and completed
 * when it answers (200) where the engine applies a login at once (local), or carried by the
 * rotate-credentials workflow (202, the operation to poll) where it takes minutes (ElastiCache on
 * AWS) (credential-rotation.ts).
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
      202: {
        description:
          'Begun, where the engine takes minutes to let a new password in (Redis on AWS): the addon with its open rotation and the `rotate-credentials` operation to poll. The new credentials are published (`GET .../credentials`) once the operation completes; the previous ones work throughout',
        schema: CredentialRotationStartedSchema,
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
      202: {
        description:
          'Begun, where the engine takes minutes to retire a password (Redis on AWS): the addon and the `rotate-credentials` operation to poll; the rotation is closed once it completes',
        schema: CredentialRotationStartedSchema,
      },
      ...errors,
      409: problem('No rotation is open, another operation is in flight, or the addon is not running'),
      422: problem(
        'The engine cannot rotate credentials on this deployment (capability `credentialRotation`)',
      ),
    },
  }),
} as const;
