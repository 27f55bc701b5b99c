import type { Logger } from '@aws-lambda-powertools/logger';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createHttpHandler, lazyHandler } from '#shared/api/http-handler.ts';
import { type RateLimiter, rateLimiterFromEnv } from '#shared/api/rate-limit.ts';
import { CredentialsFunctionEnvSchema, parseEnv } from '#shared/config/env.ts';
import { UnsupportedError } from '#shared/errors.ts';
import type { SecretStore } from '#shared/ports/secret-store.ts';
import { SecretsManagerStore } from '#shared/providers/aws/secrets-manager-store.ts';
import { readCredentials } from '#shared/services/addon-queries.ts';
import type { CredentialRotationService } from '#shared/services/credential-rotation.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { documentClient, logger } from './aws-clients.ts';

export interface CredentialsDeps {
  logger: Logger;
  rateLimiter?: RateLimiter;
  store: AddonStore;
  secrets: SecretStore;
  /** Absent where no engine can rotate (AWS for now): rotations answer 422, as the catalog says. */
  rotation?: Pick<CredentialRotationService, 'rotate' | 'finish'>;
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

export const createCredentialsHandler = (deps: CredentialsDeps) =>
  createHttpHandler(
    {
      getCredentials: async ({ params }) => ({
        status: 200,
        headers: { 'cache-control': 'no-store' },
        body: await readCredentials(deps, params.projectId, params.addonId),
      }),
      rotateCredentials: async ({ params, body }) => ({
        status: 200,
        headers: { 'cache-control': 'no-store' },
        body: await rotationOf(deps).rotate(params.projectId, params.addonId, body.retireAfterSeconds),
      }),
      finishCredentialRotation: async ({ params }) => ({
        status: 200,
        headers: { 'cache-control': 'no-store' },
        body: await rotationOf(deps).finish(params.projectId, params.addonId),
      }),
    },
    { logger: deps.logger, rateLimiter: deps.rateLimiter },
  );

export const handler = lazyHandler(() => {
  const env = parseEnv(CredentialsFunctionEnvSchema);
  return createCredentialsHandler({
    logger,
    rateLimiter: rateLimiterFromEnv(env),
    store: new AddonStore({ client: documentClient(), tableName: env.TABLE_NAME }),
    secrets: new SecretsManagerStore({
      client: new SecretsManagerClient({}),
      prefix: env.SECRET_NAME_PREFIX,
    }),
  });
});
