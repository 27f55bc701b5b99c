import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { errorMessage, ProviderError, TransientError } from '../errors.ts';
import { awsErrorCode, transientOr } from './aws/aws-errors.ts';
import type { ArtifactRef } from './backup-artifacts.ts';

/** The largest object one CopyObject copies (S3's limit); larger ones are copied in parts. */
export const SINGLE_COPY_MAX_BYTES = 5 * 1024 ** 3;
const DEFAULT_PART_BYTES = 512 * 1024 ** 2;

export interface ExportCopy {
  /** The copy's SHA-256 as S3 computed it (hex), when the target computes full-object checksums. */
  sha256?: string;
}

/**
 * Copies a backup's file into a bucket the user owns, server-side (the bytes never pass through
 * the platform): one CopyObject up to 5 GiB, asking S3 for the copy's full-object SHA-256; larger
 * files by UploadPartCopy in parts, whose checksum S3 only gives as a checksum of part checksums,
 * so the copy is then read back and hashed (`readBackSha256`), as it is where S3 returns none (the
 * local emulator). Either way the export is judged by the copy's SHA-256 against the backup's.
 *
 * The copy takes the target bucket's default encryption, not the platform's key (which the owner
 * could not use), and belongs to the bucket owner where ACLs are disabled (S3's default).
 *
 * S3's refusals become readable failures naming the bucket: it does not exist, or its policy does
 * not let the platform write. A retry (Step Functions, a restarted local platform) copies again
 * onto the same key, which is harmless.
 */
export class BackupExporter {
  private readonly client: S3Client;
  private readonly partBytes: number;
  private readonly singleCopyMaxBytes: number;

  constructor(props: { client: S3Client; partBytes?: number; singleCopyMaxBytes?: number }) {
    this.client = props.client;
    this.partBytes = props.partBytes ?? DEFAULT_PART_BYTES;
    this.singleCopyMaxBytes = props.singleCopyMaxBytes ?? SINGLE_COPY_MAX_BYTES;
  }

  private async send<T>(call: () => Promise<T>, target: ArtifactRef): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw exportFailure(error, target);
    }
  }

  async copy(source: ArtifactRef, target: ArtifactRef, sizeBytes: number): Promise<ExportCopy> {
    const copySource = `${source.bucket}/${source.key.split('/').map(encodeURIComponent).join('/')}`;
    if (sizeBytes <= this.singleCopyMaxBytes) {
      const result = await this.send(
        () =>
          this.client.send(
            new CopyObjectCommand({
              Bucket: target.bucket,
              Key: target.key,
              CopySource: copySource,
              ChecksumAlgorithm: 'SHA256',
              // The copy belongs to the bucket's owner and takes the bucket's default encryption,
              // not the platform's key, which the owner could not use.
            }),
          ),
        target,
      );
      const checksum = result.CopyObjectResult?.ChecksumSHA256;
      return checksum ? { sha256: Buffer.from(checksum, 'base64').toString('hex') } : {};
    }
    const created = await this.send(
      () =>
        this.client.send(
          new CreateMultipartUploadCommand({
            Bucket: target.bucket,
            Key: target.key,
          }),
        ),
      target,
    );
    const uploadId = created.UploadId as string;
    try {
      const parts: Array<{ PartNumber: number; ETag: string }> = [];
      for (let offset = 0, partNumber = 1; offset < sizeBytes; offset += this.partBytes, partNumber++) {
        const last = Math.min(sizeBytes, offset + this.partBytes) - 1;
        const part = await this.send(
          () =>
            this.client.send(
              new UploadPartCopyCommand({
                Bucket: target.bucket,
                Key: target.key,
                UploadId: uploadId,
                PartNumber: partNumber,
                CopySource: copySource,
                CopySourceRange: `bytes=${offset}-${last}`,
              }),
            ),
          target,
        );
        parts.push({ PartNumber: partNumber, ETag: part.CopyPartResult?.ETag as string });
      }
      await this.send(
        () =>
          this.client.send(
            new CompleteMultipartUploadCommand({
              Bucket: target.bucket,
              Key: target.key,
              UploadId: uploadId,
              MultipartUpload: { Parts: parts },
            }),
          ),
        target,
      );
    } catch (error) {
      // Best effort: the role may not abort uploads in users' buckets; their lifecycle rule
      // (AbortIncompleteMultipartUpload) removes the parts of a failed export.
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: target.bucket, Key: target.key, UploadId: uploadId }))
        .catch(() => undefined);
      throw error;
    }
    return {};
  }

  /** Reads the copy back from the user's bucket and hashes it. */
  async readBackSha256(target: ArtifactRef): Promise<{ sha256: string; sizeBytes: number }> {
    const object = await this.send(
      () => this.client.send(new GetObjectCommand({ Bucket: target.bucket, Key: target.key })),
      target,
    );
    const hash = createHash('sha256');
    let sizeBytes = 0;
    try {
      for await (const chunk of (object.Body as Readable | undefined) ?? []) {
        hash.update(chunk as Buffer);
        sizeBytes += (chunk as Buffer).length;
      }
    } catch (error) {
      throw exportFailure(error, target);
    }
    return { sha256: hash.digest('hex'), sizeBytes };
  }
}

/** An S3 error of the export as the user reads it: the bucket named, and what to change. */
export const exportFailure = (error: unknown, target: ArtifactRef): Error => {
  const code = awsErrorCode(error) ?? (error instanceof Error ? error.name : 'Unknown');
  if (code === 'NoSuchBucket') {
    return new ProviderError(`The bucket '${target.bucket}' does not exist`, 'ExportBucketNotFound', {
      cause: error,
    });
  }
  if (code === 'AccessDenied' || code === 'AllAccessDisabled' || code === 'InvalidAccessKeyId') {
    return new ProviderError(
      `The platform may not write to bucket '${target.bucket}': its bucket policy must allow the platform's role s3:PutObject and s3:GetObject on ${target.bucket}/${target.key.split('/')[0]}/*`,
      'ExportAccessDenied',
      { cause: error },
    );
  }
  const transient = transientOr(error, `copying the backup to bucket '${target.bucket}'`);
  if (transient instanceof TransientError || transient instanceof ProviderError) return transient;
  return new ProviderError(
    `Copying the backup to bucket '${target.bucket}' failed: ${errorMessage(error)} (${code})`,
    'ExportFailed',
    { cause: error },
  );
};
