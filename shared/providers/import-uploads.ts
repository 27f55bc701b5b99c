import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { assertSafeIds } from '../util/safe-ids.ts';
import { transientErrors } from './aws/aws-errors.ts';
import type { ArtifactRef } from './backup-artifacts.ts';

const isMissing = (error: unknown) =>
  error instanceof Error && (error.name === 'NotFound' || error.name === 'NoSuchKey');

/**
 * Uploaded import files in the backup bucket, under `imports/<project>/<addon>/<import>`, so IAM
 * and lifecycle rules can be scoped by prefix (the AWS bucket expires `imports/` objects after a
 * few days, whatever happens to the records).
 *
 * The upload is a presigned PUT signed with `content-length`: S3 refuses a body of any other size,
 * which is how the size quota holds without a presigned POST policy (content-length-range). The
 * size is checked again when the import starts, since the local S3 emulator verifies no signature.
 */
export class ImportUploads {
  private readonly send: S3Client['send'];

  constructor(private readonly props: { client: S3Client; bucket: string; uploadUrlSeconds?: number }) {
    this.send = transientErrors(props.client, 'S3');
  }

  objectFor(ref: { projectId: string; addonId: string; importId: string }): ArtifactRef {
    assertSafeIds({ projectId: ref.projectId, addonId: ref.addonId, importId: ref.importId });
    return { bucket: this.props.bucket, key: `imports/${ref.projectId}/${ref.addonId}/${ref.importId}` };
  }

  async uploadUrl(
    object: ArtifactRef,
    sizeBytes: number,
  ): Promise<{ url: string; headers: Record<string, string>; expiresAt: string }> {
    const expiresIn = this.props.uploadUrlSeconds ?? 60 * 60;
    const url = await getSignedUrl(
      this.props.client,
      new PutObjectCommand({ Bucket: object.bucket, Key: object.key, ContentLength: sizeBytes }),
      { expiresIn, signableHeaders: new Set(['content-length']) },
    );
    return {
      url,
      headers: { 'content-length': String(sizeBytes) },
      expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString(),
    };
  }

  /** The uploaded object's size; undefined when nothing was uploaded (yet). */
  async size(object: ArtifactRef): Promise<number | undefined> {
    try {
      const head = await this.send(new HeadObjectCommand({ Bucket: object.bucket, Key: object.key }));
      return head.ContentLength;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** The first `bytes` bytes of the object (its magic number and header). */
  async head(object: ArtifactRef, bytes = 512): Promise<Buffer> {
    const result = await this.send(
      new GetObjectCommand({ Bucket: object.bucket, Key: object.key, Range: `bytes=0-${bytes - 1}` }),
    );
    const data = await result.Body?.transformToByteArray();
    return Buffer.from(data ?? []).subarray(0, bytes);
  }

  async delete(object: ArtifactRef): Promise<void> {
    await this.send(new DeleteObjectCommand({ Bucket: object.bucket, Key: object.key }));
  }
}

/** What the import service and its workflow steps use of the uploads (tests substitute it). */
export type ImportObjects = Pick<ImportUploads, 'objectFor' | 'uploadUrl' | 'size' | 'head' | 'delete'>;
