import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, HeadBucketCommand, PutBucketCorsCommand, S3Client } from '@aws-sdk/client-s3';
import { s3EndpointConfig } from '#shared/jobs/s3-client.ts';
import { startEmulatorThread } from './emulator-thread.ts';

export interface S3Emulator {
  endpoint: string;
  client: S3Client;
  stop(): Promise<void>;
}

/**
 * s3rver on 127.0.0.1 (a free port) on its own thread (emulator-thread.ts), persisting under
 * `${dataDir}/s3`, with an S3 client set up for it. The real SDK talks to it, so the code under
 * test is the code that runs on AWS.
 */
export const startS3 = async (dataDir: string): Promise<S3Emulator> => {
  const directory = join(dataDir, 's3');
  await mkdir(directory, { recursive: true });
  const server = await startEmulatorThread('s3', directory);
  const client = new S3Client(s3EndpointConfig(server.endpoint));
  return {
    endpoint: server.endpoint,
    client,
    stop: async () => {
      client.destroy();
      await server.stop();
    },
  };
};

/** Creates the bucket unless it exists (idempotent across restarts of the local target). */
export const ensureBucket = async (client: S3Client, name: string): Promise<void> => {
  try {
    await client.send(new HeadBucketCommand({ Bucket: name }));
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status !== 404 && (error as Error).name !== 'NotFound') throw error;
    await client.send(new CreateBucketCommand({ Bucket: name }));
  }
};

/**
 * Lets browser pages PUT to and GET from the bucket through presigned URLs (the web console
 * uploads an import's file with fetch, from the platform's origin, which is not s3rver's). The
 * presigned signature is what grants access; CORS only lets the browser send the request.
 */
export const allowBrowserTransfers = async (client: S3Client, name: string): Promise<void> => {
  await client.send(
    new PutBucketCorsCommand({
      Bucket: name,
      CORSConfiguration: {
        CORSRules: [
          {
            AllowedOrigins: ['*'],
            AllowedMethods: ['GET', 'PUT'],
            AllowedHeaders: ['*'],
            ExposeHeaders: ['ETag'],
            MaxAgeSeconds: 3000,
          },
        ],
      },
    }),
  );
};
