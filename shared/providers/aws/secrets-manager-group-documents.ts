import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import type {
  GroupValues,
  SecretGroupDocuments,
  SecretGroupRef,
} from '../../ports/secret-group-documents.ts';
import { toPlatformError, transientErrors } from './aws-errors.ts';

export interface SecretsManagerGroupDocumentsProps {
  client: SecretsManagerClient;
  /**
   * The addons' secret prefix: a group's secret is `${prefix}${projectId}/${groupId}`, and group
   * ids (`sgr-...`) never match an addon's (`adn-...`), so grants can tell them apart.
   */
  prefix: string;
  kmsKeyId?: string;
}

const ValuesSchema = z.record(z.string(), z.string());

const isNotFound = (error: unknown) =>
  error instanceof ResourceNotFoundException ||
  (error instanceof Error && error.name === 'ResourceNotFoundException');

/** A secret group's document as one JSON secret in AWS Secrets Manager, tagged and KMS-encrypted. */
export class SecretsManagerGroupDocuments implements SecretGroupDocuments {
  private readonly send: SecretsManagerClient['send'];

  constructor(private readonly props: SecretsManagerGroupDocumentsProps) {
    this.send = transientErrors(props.client, 'Secrets Manager');
  }

  locationOf(ref: SecretGroupRef): string {
    return `${this.props.prefix}${ref.projectId}/${ref.groupId}`;
  }

  async put(ref: SecretGroupRef, values: GroupValues): Promise<void> {
    const SecretId = this.locationOf(ref);
    const SecretString = JSON.stringify(values);
    try {
      await this.send(new PutSecretValueCommand({ SecretId, SecretString }));
      return;
    } catch (error) {
      if (!isNotFound(error)) throw toPlatformError(error, 'publishing the secret group');
    }
    try {
      await this.send(
        new CreateSecretCommand({
          Name: SecretId,
          SecretString,
          KmsKeyId: this.props.kmsKeyId,
          Description: `Secret group ${ref.groupId} of project ${ref.projectId}`,
          Tags: [
            { Key: 'addons:project', Value: ref.projectId },
            { Key: 'addons:secret-group', Value: ref.groupId },
          ],
        }),
      );
    } catch (error) {
      throw toPlatformError(error, 'creating the secret group secret');
    }
  }

  async get(ref: SecretGroupRef): Promise<GroupValues | undefined> {
    try {
      const result = await this.send(new GetSecretValueCommand({ SecretId: this.locationOf(ref) }));
      return result.SecretString ? ValuesSchema.parse(JSON.parse(result.SecretString)) : undefined;
    } catch (error) {
      // A secret scheduled for deletion answers InvalidRequestException: it is gone for us.
      if (isNotFound(error) || (error instanceof Error && error.name === 'InvalidRequestException'))
        return undefined;
      throw toPlatformError(error, 'reading the secret group');
    }
  }

  async delete(ref: SecretGroupRef): Promise<void> {
    try {
      await this.send(
        new DeleteSecretCommand({ SecretId: this.locationOf(ref), ForceDeleteWithoutRecovery: true }),
      );
    } catch (error) {
      if (!isNotFound(error)) throw toPlatformError(error, 'deleting the secret group');
    }
  }
}
