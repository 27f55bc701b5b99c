import type { Logger } from '@aws-lambda-powertools/logger';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createHttpHandler, lazyHandler } from '#shared/api/http-handler.ts';
import { type RateLimiter, rateLimiterFromEnv } from '#shared/api/rate-limit.ts';
import { CredentialsFunctionEnvSchema, parseEnv } from '#shared/config/env.ts';
import type { SecretStore } from '#shared/ports/secret-store.ts';
import { SecretsManagerStore } from '#shared/providers/aws/secrets-manager-store.ts';
import { readCredentials } from '#shared/services/addon-queries.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { documentClient, logger } from './aws-clients.ts';

export interface CredentialsDeps {
  logger: Logger;
  rateLimiter?: RateLimiter;
  store: AddonStore;
  secrets: SecretStore;
}

export const createCredentialsHandler = (deps: CredentialsDeps) =>
  createHttpHandler(
    {
      getCredentials: async ({ params }) => ({
        status: 200,
        headers: { 'cache-control': 'no-store' },
        body: await readCredentials(deps, params.projectId, params.addonId),
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
