import {
  CreateSecretCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-secrets-manager';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { mockClient } from 'aws-sdk-client-mock';
import { ImportStore } from '#shared/store/import-store.ts';
import { newId } from '#shared/util/ids.ts';

type Record_ = (service: 'secretsmanager', command: string) => (input: object) => object;

/** Secrets Manager as a first live import meets it: no secret yet (PutSecretValue), then created. */
export const installLiveImportSecretFakes = (
  secretsManager: ReturnType<typeof mockClient>,
  record: Record_,
): void => {
  secretsManager.on(PutSecretValueCommand).callsFake((input: object) => {
    record('secretsmanager', 'PutSecretValue')(input);
    throw new ResourceNotFoundException({ $metadata: {}, message: 'Secrets Manager cannot find the secret' });
  });
  secretsManager
    .on(CreateSecretCommand)
    .callsFake((input: object) => ({ ...record('secretsmanager', 'CreateSecret')(input), ARN: 'arn' }));
};

/**
 * A live import through the backups function (its connection string put in Secrets Manager, read
 * back by the start, deleted by the abort), and an expired one for the sweep (its secret deleted).
 */
export const exerciseLiveImport = async (
  call: (
    label: string,
    route: 'createImport' | 'startImport' | 'abortImport',
    options: object,
  ) => Promise<Record<string, unknown>>,
  path: { projectId: string; addonId: string },
  documentClient: DynamoDBDocumentClient,
  tableName: string,
): Promise<void> => {
  const created = await call('createLiveImport', 'createImport', {
    pathParameters: path,
    body: { kind: 'live', connectionString: 'postgresql://shop:s3cret@db.example.com:5432/shop' },
  });
  const importId = (created.import as { id: string }).id;
  await call('startLiveImport', 'startImport', { pathParameters: { ...path, importId }, body: {} });
  await call('abortLiveImport', 'abortImport', { pathParameters: { ...path, importId } });
  const imports = new ImportStore({ client: documentClient, tableName });
  const record = await imports.getImport(path.projectId, importId);
  await imports.putImport({
    ...record,
    id: newId('imp'),
    status: 'awaiting-start',
    operationId: null,
    expiresAt: '2020-01-01T00:00:00.000Z',
  });
};

/**
 * Addons created with `source.import` through the addons function: a live one refused (the name
 * is taken) puts the connection string, then takes it back; an upload one answers its URL,
 * presigned with the function's role (the user's PUT is recorded as the function's).
 */
export const exerciseImportedAddons = async (
  call: (label: string, body: object) => Promise<Record<string, unknown>>,
  takenName: string,
  recordUpload: (uploadUrl: string) => void,
): Promise<void> => {
  await call('createFromLiveTaken', {
    name: takenName,
    engine: 'postgresql',
    source: {
      import: { kind: 'live', connectionString: 'postgresql://shop:s3cret@db.example.com:5432/shop' },
    },
  });
  const created = await call('createFromUpload', {
    name: 'iam-from-upload',
    engine: 'postgresql',
    source: { import: { kind: 'upload', sizeBytes: 2 } },
  });
  recordUpload(String((created.import as { uploadUrl: string }).uploadUrl));
};
