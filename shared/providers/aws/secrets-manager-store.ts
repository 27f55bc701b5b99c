import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { AddonRef, ConnectionSecret, SecretStore } from '../../ports/secret-store.ts';
import { CredentialsSchema } from '../../schemas/addon.ts';
import { toPlatformError, transientErrors } from './aws-errors.ts';

export interface SecretsManagerStoreProps {
  client: SecretsManagerClient;
  /** Every secret is named `${prefix}${projectId}/${addonId}`; IAM policies are scoped to the prefix. */
  prefix: string;
  kmsKeyId?: string;
}

const isNotFound = (error: unknown) =>
  error instanceof ResourceNotFoundException ||
  (error instanceof Error && error.name === 'ResourceNotFoundException');

/** Connection details as one JSON secret per addon in AWS Secrets Manager. */
export class SecretsManagerStore implements SecretStore {
  private readonly send: SecretsManagerClient['send'];

  constructor(private readonly props: SecretsManagerStoreProps) {
    this.send = transientErrors(props.client, 'Secrets Manager');
  }

  secretName(ref: AddonRef): string {
    return `${this.props.prefix}${ref.projectId}/${ref.addonId}`;
  }

  async put(ref: AddonRef, secret: ConnectionSecret): Promise<void> {
    const SecretId = this.secretName(ref);
    const SecretString = JSON.stringify(secret);
    try {
      await this.send(new PutSecretValueCommand({ SecretId, SecretString }));
    } catch (error) {
      if (!isNotFound(error)) throw toPlatformError(error, 'saving the connection details');
      await this.createSecret(SecretId, SecretString, ref);
    }
  }

  private async createSecret(SecretId: string, SecretString: string, ref: AddonRef): Promise<void> {
    try {
      await this.send(
        new CreateSecretCommand({
          Name: SecretId,
          SecretString,
          KmsKeyId: this.props.kmsKeyId,
          Description: `Connection details of addon ${ref.addonId} in project ${ref.projectId}`,
          Tags: [
            { Key: 'addons:project', Value: ref.projectId },
            { Key: 'addons:addon', Value: ref.addonId },
          ],
        }),
      );
    } catch (error) {
      throw toPlatformError(error, 'creating the connection details secret');
    }
  }

  async get(ref: AddonRef): Promise<ConnectionSecret | undefined> {
    try {
      const result = await this.send(new GetSecretValueCommand({ SecretId: this.secretName(ref) }));
      return result.SecretString ? CredentialsSchema.parse(JSON.parse(result.SecretString)) : undefined;
    } catch (error) {
      // A secret scheduled for deletion answers InvalidRequestException: it is gone for us.
      if (isNotFound(error) || (error instanceof Error && error.name === 'InvalidRequestException'))
        return undefined;
      throw toPlatformError(error, 'reading the connection details');
    }
  }

  async delete(ref: AddonRef): Promise<void> {
    try {
      await this.send(
        new DeleteSecretCommand({ SecretId: this.secretName(ref), ForceDeleteWithoutRecovery: true }),
      );
    } catch (error) {
      if (!isNotFound(error)) throw toPlatformError(error, 'deleting the connection details');
    }
  }
}
