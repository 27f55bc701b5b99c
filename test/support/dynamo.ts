import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startDynamo } from '#infra/local/emulators.ts';
import { AddonStore } from '#shared/store/addon-store.ts';
import { BackupStore } from '#shared/store/backup-store.ts';

export const TEST_TABLE = 'addons-test';

/** A real DynamoDB API (dynalite) on a temp dir, with the addon and backup stores on top. */
export const startTestStore = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'addons-store-'));
  const dynamo = await startDynamo(dir, TEST_TABLE);
  const documentClient = DynamoDBDocumentClient.from(dynamo.client, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const store = new AddonStore({ client: documentClient, tableName: TEST_TABLE });
  const backups = new BackupStore({ client: documentClient, tableName: TEST_TABLE });
  return {
    dir,
    store,
    backups,
    documentClient,
    dynamoClient: dynamo.client,
    stop: async () => {
      await dynamo.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
};
