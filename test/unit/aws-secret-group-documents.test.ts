import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { SecretsManagerGroupDocuments } from '#shared/providers/aws/secrets-manager-group-documents.ts';

/**
 * A secret group's document in Secrets Manager, as deployed: the exact calls (a put first, a
 * tagged, KMS-encrypted create when the secret does not exist yet), the read, and the delete
 * without a recovery window.
 */
const secretsManager = mockClient(SecretsManagerClient);
const ref = { projectId: 'proj-a', groupId: 'sgr-01abc' };
const documents = () =>
  new SecretsManagerGroupDocuments({
    client: new SecretsManagerClient({}),
    prefix: 'addons/Stack/',
    kmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/k',
  });
const notFound = () => new ResourceNotFoundException({ $metadata: {}, message: 'no such secret' });

afterEach(() => secretsManager.reset());

describe('SecretsManagerGroupDocuments', () => {
  it('updates an existing secret with a put only', async () => {
    // Prepare
    secretsManager.on(PutSecretValueCommand).resolves({});

    // Act
    await documents().put(ref, { DATABASE_URL: 'postgresql://x' });

    // Assess
    expect(secretsManager.commandCalls(PutSecretValueCommand).map((call) => call.args[0].input)).toEqual([
      { SecretId: 'addons/Stack/proj-a/sgr-01abc', SecretString: '{"DATABASE_URL":"postgresql://x"}' },
    ]);
    expect(secretsManager.commandCalls(CreateSecretCommand)).toHaveLength(0);
  });

  it('creates the first version tagged with its project and group, under the addons key', async () => {
    // Prepare
    secretsManager.on(PutSecretValueCommand).rejects(notFound());
    secretsManager.on(CreateSecretCommand).resolves({});

    // Act
    await documents().put(ref, { A: '1' });

    // Assess
    expect(secretsManager.commandCalls(CreateSecretCommand)[0]?.args[0].input).toEqual({
      Name: 'addons/Stack/proj-a/sgr-01abc',
      SecretString: '{"A":"1"}',
      KmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/k',
      Description: 'Secret group sgr-01abc of project proj-a',
      Tags: [
        { Key: 'addons:project', Value: 'proj-a' },
        { Key: 'addons:secret-group', Value: 'sgr-01abc' },
      ],
    });
  });

  it('reads the document, and a missing one as undefined', async () => {
    secretsManager
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: '{"A":"1"}' })
      .rejectsOnce(notFound());
    expect(await documents().get(ref)).toEqual({ A: '1' });
    expect(await documents().get(ref)).toBeUndefined();
  });

  it('deletes without a recovery window, and a missing secret is already deleted', async () => {
    secretsManager.on(DeleteSecretCommand).resolvesOnce({}).rejectsOnce(notFound());
    await documents().delete(ref);
    await documents().delete(ref);
    expect(secretsManager.commandCalls(DeleteSecretCommand)[0]?.args[0].input).toEqual({
      SecretId: 'addons/Stack/proj-a/sgr-01abc',
      ForceDeleteWithoutRecovery: true,
    });
  });

  it('names the secret a workload reads', () => {
    expect(documents().locationOf(ref)).toBe('addons/Stack/proj-a/sgr-01abc');
  });
});
