import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
  type Tag,
} from '@aws-sdk/client-secrets-manager';
import { toPlatformError, transientErrors } from './aws-errors.ts';

const isNotFound = (error: unknown) =>
  error instanceof ResourceNotFoundException ||
  (error instanceof Error && error.name === 'ResourceNotFoundException');

/** What a kind of secret is called in error messages, e.g. "the connection details". */
export interface JsonSecretKind {
  what: string;
  /** The Create message's noun, e.g. "the connection details secret". */
  secret: string;
}

/**
 * One JSON document per Secrets Manager secret, KMS-encrypted and tagged when created: the
 * addons' connection details and the secret groups' documents are both kept this way.
 */
export class JsonSecrets {
  private readonly send: SecretsManagerClient['send'];

  constructor(
    client: SecretsManagerClient,
    private readonly kmsKeyId: string | undefined,
    private readonly kind: JsonSecretKind,
  ) {
    this.send = transientErrors(client, 'Secrets Manager');
  }

  /** Writes a new version, creating the secret (with its description and tags) the first time. */
  async put(SecretId: string, value: unknown, created: { description: string; tags: Tag[] }, saving: string) {
    const SecretString = JSON.stringify(value);
    try {
      await this.send(new PutSecretValueCommand({ SecretId, SecretString }));
      return;
    } catch (error) {
      if (!isNotFound(error)) throw toPlatformError(error, saving);
    }
    try {
      await this.send(
        new CreateSecretCommand({
          Name: SecretId,
          SecretString,
          KmsKeyId: this.kmsKeyId,
          Description: created.description,
          Tags: created.tags,
        }),
      );
    } catch (error) {
      throw toPlatformError(error, `creating ${this.kind.secret}`);
    }
  }

  /** The parsed document; undefined when the secret does not exist or is scheduled for deletion. */
  async get<T>(SecretId: string, parse: (json: unknown) => T): Promise<T | undefined> {
    try {
      const result = await this.send(new GetSecretValueCommand({ SecretId }));
      return result.SecretString ? parse(JSON.parse(result.SecretString)) : undefined;
    } catch (error) {
      // A secret scheduled for deletion answers InvalidRequestException: it is gone for us.
      if (isNotFound(error) || (error instanceof Error && error.name === 'InvalidRequestException'))
        return undefined;
      throw toPlatformError(error, `reading ${this.kind.what}`);
    }
  }

  /** Deletes at once (no recovery window); an absent secret is already deleted. */
  async delete(SecretId: string): Promise<void> {
    try {
      await this.send(new DeleteSecretCommand({ SecretId, ForceDeleteWithoutRecovery: true }));
    } catch (error) {
      if (!isNotFound(error)) throw toPlatformError(error, `deleting ${this.kind.what}`);
    }
  }
}
