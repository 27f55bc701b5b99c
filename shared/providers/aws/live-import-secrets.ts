import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretStore } from '../../ports/secret-store.ts';
import { SecretsManagerStore } from './secrets-manager-store.ts';

/**
 * Where the API and the sweep keep (and delete) live imports' connection strings: the addons'
 * Secrets Manager prefix, one secret per import. Undefined without a prefix: live imports are
 * then refused with a 422 rather than stored anywhere else.
 */
export const liveImportSecrets = (
  env: { SECRET_NAME_PREFIX?: string | undefined; SECRETS_KMS_KEY_ID?: string | undefined },
  client: () => SecretsManagerClient = () => new SecretsManagerClient({}),
): SecretStore | undefined =>
  env.SECRET_NAME_PREFIX
    ? new SecretsManagerStore({
        client: client(),
        prefix: env.SECRET_NAME_PREFIX,
        ...(env.SECRETS_KMS_KEY_ID ? { kmsKeyId: env.SECRETS_KMS_KEY_ID } : {}),
      })
    : undefined;
