import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
  type Tag,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { toPlatformError, transientErrors } from './aws-errors.ts';

/** Secrets Manager's staging labels (the ones its own rotation uses). */
const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';

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

  /**
   * Writes `value` as the AWSPENDING version `token` (a ClientRequestToken: the same token and
   * value again is a no-op), leaving AWSCURRENT where it is. The secret must exist.
   */
  async stage(SecretId: string, value: unknown, token: string): Promise<void> {
    try {
      await this.send(
        new PutSecretValueCommand({
          SecretId,
          SecretString: JSON.stringify(value),
          ClientRequestToken: token,
          VersionStages: [PENDING],
        }),
      );
    } catch (error) {
      throw toPlatformError(error, `staging ${this.kind.what}`);
    }
  }

  /** The version a stage labels, parsed, with its id; undefined when no version has it. */
  async getStage<T>(
    SecretId: string,
    VersionStage: string,
    parse: (json: unknown) => T,
  ): Promise<{ versionId: string; value: T } | undefined> {
    try {
      const result = await this.send(new GetSecretValueCommand({ SecretId, VersionStage }));
      if (!result.SecretString || !result.VersionId) return undefined;
      return { versionId: result.VersionId, value: parse(JSON.parse(result.SecretString)) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw toPlatformError(error, `reading ${this.kind.what} (${VersionStage})`);
    }
  }

  /**
   * Version `token` becomes AWSCURRENT (Secrets Manager labels the one it replaces AWSPREVIOUS)
   * and loses AWSPENDING. Idempotent: a version already current is only unlabelled pending.
   */
  async promote(SecretId: string, token: string): Promise<void> {
    const current = await this.getStage(SecretId, CURRENT, (json) => json);
    try {
      if (current?.versionId !== token) {
        await this.send(
          new UpdateSecretVersionStageCommand({
            SecretId,
            VersionStage: CURRENT,
            MoveToVersionId: token,
            ...(current ? { RemoveFromVersionId: current.versionId } : {}),
          }),
        );
      }
    } catch (error) {
      throw toPlatformError(error, `publishing the staged ${this.kind.what}`);
    }
    await this.unstage(SecretId, token);
  }

  /** Version `token` loses AWSPENDING, if it has it. */
  async unstage(SecretId: string, token: string): Promise<void> {
    const pending = await this.getStage(SecretId, PENDING, (json) => json);
    if (pending?.versionId !== token) return;
    try {
      await this.send(
        new UpdateSecretVersionStageCommand({ SecretId, VersionStage: PENDING, RemoveFromVersionId: token }),
      );
    } catch (error) {
      throw toPlatformError(error, `dropping the staged ${this.kind.what}`);
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
