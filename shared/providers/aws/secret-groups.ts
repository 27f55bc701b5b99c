import type { Logger } from '@aws-lambda-powertools/logger';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { errorMessage } from '../../errors.ts';
import { type SecretGroupServices, secretGroupServices } from '../../services/secret-group-services.ts';
import type { AddonStore } from '../../store/addon-store.ts';
import { SecretsManagerGroupDocuments } from './secrets-manager-group-documents.ts';
import { SecretsManagerStore } from './secrets-manager-store.ts';

/**
 * Secret groups on AWS: connection details and group documents both in Secrets Manager under the
 * deployment's prefix (`<prefix><project>/adn-...`, `/ext-...`, `/sgr-...`), KMS-encrypted with the
 * addons' key. What it returns as `secrets` is the connection-detail store with the re-publish hook.
 */
export const awsSecretGroupServices = (props: {
  env: { TABLE_NAME: string; SECRET_NAME_PREFIX: string; SECRETS_KMS_KEY_ID?: string | undefined };
  client: DynamoDBDocumentClient;
  addons: Pick<AddonStore, 'findAddon'>;
  logger: Pick<Logger, 'error'>;
  secretsClient?: SecretsManagerClient;
}): SecretGroupServices => {
  const client = props.secretsClient ?? new SecretsManagerClient({});
  const kms = props.env.SECRETS_KMS_KEY_ID ? { kmsKeyId: props.env.SECRETS_KMS_KEY_ID } : {};
  return secretGroupServices({
    client: props.client,
    tableName: props.env.TABLE_NAME,
    addons: props.addons,
    secrets: new SecretsManagerStore({ client, prefix: props.env.SECRET_NAME_PREFIX, ...kms }),
    documents: new SecretsManagerGroupDocuments({ client, prefix: props.env.SECRET_NAME_PREFIX, ...kms }),
    // The reconciler's sweep publishes what the hook missed.
    onHookError: (error, ref) =>
      props.logger.error('secret groups not re-published; the reconciler will', {
        ...ref,
        error: errorMessage(error),
      }),
  });
};
