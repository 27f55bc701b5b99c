import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { UnsupportedError } from '../errors.ts';
import { MAX_PART_BYTES, MAX_UPLOAD_PARTS, MIN_PART_BYTES } from '../schemas/import.ts';
import { transientErrors } from './aws/aws-errors.ts';
import type { ArtifactRef } from './backup-artifacts.ts';

const MIB = 1024 ** 2;

export interface PartUrl {
  partNumber: number;
  sizeBytes: number;
  url: string;
}

/**
 * The part size of an upload: the preferred size, raised (in whole MiB) until the file fits in
 * MAX_UPLOAD_PARTS parts, within S3's bounds.
 */
export const partSizeFor = (sizeBytes: number, preferredBytes: number): number => {
  const fitting = Math.ceil(sizeBytes / MAX_UPLOAD_PARTS / MIB) * MIB;
  return Math.min(MAX_PART_BYTES, Math.max(MIN_PART_BYTES, preferredBytes, fitting));
};

/**
 * Multipart uploads of import files (files above the multipart threshold, or when the client asks):
 * the upload is created when the import is, each part gets a presigned UploadPart URL signed for
 * its exact Content-Length, and starting the import completes it with the parts' ETags the client
 * collected (the S3 emulator has no ListParts, so the client's list is the one source on both
 * targets). An upload never completed is aborted by the bucket's lifecycle rule on AWS (after a day).
 */
export class MultipartUploads {
  private readonly send: S3Client['send'];

  constructor(private readonly props: { client: S3Client; uploadUrlSeconds?: number }) {
    this.send = transientErrors(props.client, 'S3');
  }

  async create(
    object: ArtifactRef,
    sizeBytes: number,
    partSizeBytes: number,
  ): Promise<{ uploadId: string; parts: PartUrl[]; expiresAt: string }> {
    const created = await this.send(
      new CreateMultipartUploadCommand({ Bucket: object.bucket, Key: object.key }),
    );
    const uploadId = created.UploadId as string;
    const expiresIn = this.props.uploadUrlSeconds ?? 24 * 60 * 60;
    const count = Math.ceil(sizeBytes / partSizeBytes);
    const parts = await Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const partNumber = index + 1;
        const partBytes = Math.min(partSizeBytes, sizeBytes - index * partSizeBytes);
        const url = await getSignedUrl(
          this.props.client,
          new UploadPartCommand({
            Bucket: object.bucket,
            Key: object.key,
            UploadId: uploadId,
            PartNumber: partNumber,
            ContentLength: partBytes,
          }),
          { expiresIn, signableHeaders: new Set(['content-length']) },
        );
        return { partNumber, sizeBytes: partBytes, url };
      }),
    );
    return { uploadId, parts, expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString() };
  }

  /**
   * Completes the upload into its object. S3's refusals (a missing part, a wrong ETag, a part too
   * small) are the client's to fix: a 422 naming `body.parts`, the upload still open for another try.
   */
  async complete(
    object: ArtifactRef,
    uploadId: string,
    parts: Array<{ partNumber: number; etag: string }>,
  ): Promise<void> {
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    try {
      await this.send(
        new CompleteMultipartUploadCommand({
          Bucket: object.bucket,
          Key: object.key,
          UploadId: uploadId,
          MultipartUpload: {
            Parts: sorted.map((part) => ({
              PartNumber: part.partNumber,
              ETag: part.etag.startsWith('"') ? part.etag : `"${part.etag}"`,
            })),
          },
        }),
      );
    } catch (error) {
      const name = error instanceof Error ? error.name : '';
      if (/InvalidPart|InvalidPartOrder|EntityTooSmall|NoSuchUpload|NoSuchKey|MalformedXML/.test(name)) {
        throw new UnsupportedError(
          `The multipart upload could not be completed: ${(error as Error).message}`,
          [{ path: 'body.parts', message: `S3 refused the parts (${name})` }],
        );
      }
      throw error;
    }
  }
}
