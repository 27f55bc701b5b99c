import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { tableDefinition } from '#shared/store/table.ts';
import { startEmulatorThread } from './emulator-thread.ts';

export interface DynamoEmulator {
  endpoint: string;
  client: DynamoDBClient;
  stop(): Promise<void>;
}

export const LOCAL_AWS = { region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };

/**
 * CreateTable returns while the table is CREATING, and dynalite answers ResourceNotFound to
 * item calls until it is ACTIVE (a fresh-clone CI run failed on exactly that).
 */
const untilActive = async (client: DynamoDBClient, tableName: string, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    // dynalite answers CreateTable before the table and its indexes are ACTIVE, even with
    // createTableMs 0: a first write or index query can still meet ResourceNotFoundException.
    const ready =
      Table?.TableStatus === 'ACTIVE' &&
      (Table.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === 'ACTIVE');
    if (ready) return;
    if (Date.now() > deadline)
      throw new Error(`Table ${tableName} is still ${Table?.TableStatus} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

/**
 * dynalite on LevelDB under the data directory, on its own thread (emulator-thread.ts): the real
 * DynamoDB API, persisted across restarts.
 */
export const startDynamo = async (dataDir: string, tableName: string): Promise<DynamoEmulator> => {
  const path = join(dataDir, 'dynamodb');
  await mkdir(path, { recursive: true });
  const server = await startEmulatorThread('dynamo', path);
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint: server.endpoint });
  try {
    await ensureTable(client, tableName);
  } catch (error) {
    client.destroy();
    await server.stop();
    throw error;
  }
  await untilActive(client, tableName);
  return {
    endpoint: server.endpoint,
    client,
    stop: async () => {
      client.destroy();
      await server.stop();
    },
  };
};

const TABLE_READY_TIMEOUT_MS = 30_000;

const tableStatus = async (client: DynamoDBClient, tableName: string) => {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return { status: Table?.TableStatus, indexes: Table?.GlobalSecondaryIndexes ?? [] };
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
};

/**
 * Create the table if it is missing, and return once it and its indexes are ACTIVE. CreateTable
 * answers while the table is still CREATING (dynalite too, however short its delay), and a
 * request in that window fails with ResourceNotFoundException: a fresh-clone test run did.
 */
export const ensureTable = async (client: DynamoDBClient, tableName: string): Promise<void> => {
  if (!(await tableStatus(client, tableName))) {
    try {
      await client.send(new CreateTableCommand(tableDefinition(tableName)));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error; // created meanwhile: fine
    }
  }
  const deadline = Date.now() + TABLE_READY_TIMEOUT_MS;
  for (;;) {
    const table = await tableStatus(client, tableName);
    if (table?.status === 'ACTIVE' && table.indexes.every((index) => index.IndexStatus === 'ACTIVE')) return;
    if (Date.now() > deadline) {
      throw new Error(
        `DynamoDB table ${tableName} is not ACTIVE after ${TABLE_READY_TIMEOUT_MS / 1000} s (${table?.status ?? 'absent'})`,
      );
    }
    await sleep(20);
  }
};
