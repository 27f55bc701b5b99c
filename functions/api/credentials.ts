import type { Logger } from '@aws-lambda-powertools/logger';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { CursorSigner } from '#shared/api/cursors.ts';
import { createHttpHandler, type IdempotencyOptions, lazyHandler } from '#shared/api/http-handler.ts';
import { dynamoDbIdempotency } from '#shared/api/idempotency.ts';
import { type RateLimiter, rateLimiterFromEnv } from '#shared/api/rate-limit.ts';
import type { ApiResult } from '#shared/api/route.ts';
import { credentialsRoutes } from '#shared/api/routes/credentials.ts';
import { secretGroupsRoutes } from '#shared/api/routes/secret-groups.ts';
import { CredentialsFunctionEnvSchema, parseEnv } from '#shared/config/env.ts';
import { UnsupportedError } from '#shared/errors.ts';
import type { SecretStore } from '#shared/ports/secret-store.ts';
import { awsSecretGroupServices } from '#shared/providers/aws/secret-groups.ts';
import { SfnWorkflowStarter } from '#shared/providers/aws/sfn-workflow-starter.ts';
import { readCredentials } from '#shared/services/addon-queries.ts';
import {
  CredentialRotationService,
  type RotationResult,
  type RotationStarted,
} from '#shared/services/credential-rotation.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { cursorSigner, documentClient, dynamoClient, logger } from './aws-clients.ts';
import { type SecretGroupRoutesDeps, secretGroupRoutes } from './secret-groups.ts';

export interface CredentialsDeps {
  logger: Logger;
  rateLimiter?: RateLimiter;
  store: AddonStore;
  secrets: SecretStore;
  /**
   * Absent: rotations answer 422. A rotation run here answers 200 with the new credentials; one
   * handed to the rotate-credentials workflow (AWS) answers 202 with its operation to poll.
   */
  rotation?: Pick<CredentialRotationService, 'rotate' | 'finish'>;
  /** Secret groups and external services: a group's document holds secrets, so it is served here. */
  groups?: SecretGroupRoutesDeps;
  /** Needed with `groups`: their lists page with signed cursors. */
  cursors?: CursorSigner;
  idempotency?: IdempotencyOptions;
}

const rotationOf = (deps: CredentialsDeps) => {
  if (!deps.rotation) {
    throw new UnsupportedError(
      'Credential rotation is not available on this deployment (capability credentialRotation is off)',
      [{ path: 'engine', message: 'credential rotation is not available here' }],
    );
  }
  return deps.rotation;
};

/** Done (200, with the credentials that now work) or begun (202, its operation to poll). */
const answer = (result: RotationResult | RotationStarted): ApiResult =>
  'credentials' in result
    ? { status: 200 as const, headers: { 'cache-control': 'no-store' }, body: result }
    : {
        status: 202 as const,
        headers: {
          'cache-control': 'no-store',
          'operation-location': `/v1/projects/${result.operation.projectId}/operations/${result.operation.id}`,
        },
        body: result,
      };

/** The routes this function serves (its bundle holds no other route's schemas). */
export const credentialsFunctionRoutes = { ...credentialsRoutes, ...secretGroupsRoutes } as const;

export const createCredentialsHandler = (deps: CredentialsDeps) =>
  createHttpHandler(
    credentialsFunctionRoutes,
    {
      getCredentials: async ({ params }) => ({
        status: 200,
        headers: { 'cache-control': 'no-store' },
        body: await readCredentials(deps, params.projectId, params.addonId),
      }),
      rotateCredentials: async ({ params, body }) =>
        answer(await rotationOf(deps).rotate(params.projectId, params.addonId, body.retireAfterSeconds)),
      finishCredentialRotation: async ({ params }) =>
        answer(await rotationOf(deps).finish(params.projectId, params.addonId)),
      ...(deps.groups ? secretGroupRoutes(deps.groups) : {}),
    },
    {
      logger: deps.logger,
      rateLimiter: deps.rateLimiter,
      cursors: deps.cursors,
      idempotency: deps.idempotency,
    },
  );

export const handler = lazyHandler(() => {
  const env = parseEnv(CredentialsFunctionEnvSchema);
  const client = documentClient();
  const store = new AddonStore({ client, tableName: env.TABLE_NAME });
  const groups = awsSecretGroupServices({ env, client, addons: store, logger });
  // Rotations of engines that take minutes over a login change run as the rotate-credentials workflow.
  const rotation = new CredentialRotationService({
    store,
    secrets: groups.secrets,
    target: 'aws',
    workflows: new SfnWorkflowStarter({
      client: new SFNClient({}),
      stateMachineArns: { 'rotate-credentials': env.ROTATE_CREDENTIALS_STATE_MACHINE_ARN },
    }),
  });
  return createCredentialsHandler({
    logger,
    rateLimiter: rateLimiterFromEnv(env),
    store,
    secrets: groups.secrets,
    rotation,
    groups,
    cursors: cursorSigner(env.CURSOR_SECRET_ARN),
    idempotency: dynamoDbIdempotency({ client: dynamoClient(), tableName: env.TABLE_NAME }),
  });
});
