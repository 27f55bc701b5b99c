import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod/mini';
import type {
  GroupValues,
  SecretGroupDocuments,
  SecretGroupRef,
} from '../../ports/secret-group-documents.ts';
import { JsonSecrets } from './json-secrets.ts';

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

/** A secret group's document as one JSON secret in AWS Secrets Manager, tagged and KMS-encrypted. */
export class SecretsManagerGroupDocuments implements SecretGroupDocuments {
  private readonly secrets: JsonSecrets;

  constructor(private readonly props: SecretsManagerGroupDocumentsProps) {
    this.secrets = new JsonSecrets(props.client, props.kmsKeyId, {
      what: 'the secret group',
      secret: 'the secret group secret',
    });
  }

  locationOf(ref: SecretGroupRef): string {
    return `${this.props.prefix}${ref.projectId}/${ref.groupId}`;
  }

  put(ref: SecretGroupRef, values: GroupValues): Promise<void> {
    const created = {
      description: `Secret group ${ref.groupId} of project ${ref.projectId}`,
      tags: [
        { Key: 'addons:project', Value: ref.projectId },
        { Key: 'addons:secret-group', Value: ref.groupId },
      ],
    };
    return this.secrets.put(this.locationOf(ref), values, created, 'publishing the secret group');
  }

  get(ref: SecretGroupRef): Promise<GroupValues | undefined> {
    return this.secrets.get(this.locationOf(ref), (json) => ValuesSchema.parse(json));
  }

  delete(ref: SecretGroupRef): Promise<void> {
    return this.secrets.delete(this.locationOf(ref));
  }
}
