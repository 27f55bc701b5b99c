import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AddonRef, ConnectionSecret, SecretStore } from '../../ports/secret-store.ts';
import { CredentialsSchema } from '../../schemas/addon.ts';
import { JsonSecrets } from './json-secrets.ts';

export interface SecretsManagerStoreProps {
  client: SecretsManagerClient;
  /** Every secret is named `${prefix}${projectId}/${addonId}`; IAM policies are scoped to the prefix. */
  prefix: string;
  kmsKeyId?: string;
}

/** Connection details as one JSON secret per addon in AWS Secrets Manager. */
export class SecretsManagerStore implements SecretStore {
  private readonly secrets: JsonSecrets;

  constructor(private readonly props: SecretsManagerStoreProps) {
    this.secrets = new JsonSecrets(props.client, props.kmsKeyId, {
      what: 'the connection details',
      secret: 'the connection details secret',
    });
  }

  secretName(ref: AddonRef): string {
    return `${this.props.prefix}${ref.projectId}/${ref.addonId}`;
  }

  put(ref: AddonRef, secret: ConnectionSecret): Promise<void> {
    const created = {
      description: `Connection details of addon ${ref.addonId} in project ${ref.projectId}`,
      tags: [
        { Key: 'addons:project', Value: ref.projectId },
        { Key: 'addons:addon', Value: ref.addonId },
      ],
    };
    return this.secrets.put(this.secretName(ref), secret, created, 'saving the connection details');
  }

  get(ref: AddonRef): Promise<ConnectionSecret | undefined> {
    return this.secrets.get(this.secretName(ref), (json) => CredentialsSchema.parse(json));
  }

  /** Credential rotation on ElastiCache: the new details wait as AWSPENDING until the user takes them. */
  stage(ref: AddonRef, secret: ConnectionSecret, token: string): Promise<void> {
    return this.secrets.stage(this.secretName(ref), secret, token);
  }

  async staged(ref: AddonRef, token: string): Promise<ConnectionSecret | undefined> {
    const pending = await this.secrets.getStage(this.secretName(ref), 'AWSPENDING', (json) =>
      CredentialsSchema.parse(json),
    );
    return pending?.versionId === token ? pending.value : undefined;
  }

  promote(ref: AddonRef, token: string): Promise<void> {
    return this.secrets.promote(this.secretName(ref), token);
  }

  discard(ref: AddonRef, token: string): Promise<void> {
    return this.secrets.unstage(this.secretName(ref), token);
  }

  delete(ref: AddonRef): Promise<void> {
    return this.secrets.delete(this.secretName(ref));
  }
}
