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

/** The job's S3 client: the emulator at `endpoint` when given (local target), AWS otherwise. */
export const createJobS3Client = (endpoint?: string): S3Client =>
  new S3Client(endpoint ? s3EndpointConfig(endpoint) : {});
