import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CursorKeySource } from '../../api/cursors.ts';

/** The cursor signing key: a string the stack generated into Secrets Manager (KMS-encrypted). */
export const secretsManagerCursorKey =
  (client: SecretsManagerClient, secretId: string): CursorKeySource =>
  async () => {
    const result = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (!result.SecretString) throw new Error(`Secret ${secretId} has no string value`);
    return Buffer.from(result.SecretString, 'utf8');
  };
