import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/**
 * The S3 client settings for an S3-compatible endpoint (s3rver locally). s3rver stores streamed
 * bodies corrupted when the SDK adds its default CRC32 trailing checksums (aws-chunked encoding),
 * and it only understands path-style addressing. It knows one access key, its built-in S3RVER.
 */
export const s3EndpointConfig = (endpoint: string): S3ClientConfig => ({
  endpoint,
  region: 'local',
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
});

/**
 * Signs the requests of a client of the local emulator without hashing their bodies
 * (`x-amz-content-sha256: UNSIGNED-PAYLOAD`): SigV4 otherwise computes the SHA-256 of every
 * in-memory body it signs (each part of a dump's upload, each WAL segment), which s3rver never
 * checks. The artifact's own SHA-256 (the job's) is unchanged. Not for AWS: there the client
 * keeps its default signing.
 */
const withUnsignedPayloads = (client: S3Client): S3Client => {
  client.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string> } | undefined;
      if (request?.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'localUnsignedPayload' },
  );
  return client;
};

/** The job's S3 client: the emulator at `endpoint` when given (local target), AWS otherwise. */
export const createJobS3Client = (endpoint?: string): S3Client =>
  endpoint ? withUnsignedPayloads(new S3Client(s3EndpointConfig(endpoint))) : new S3Client({});
