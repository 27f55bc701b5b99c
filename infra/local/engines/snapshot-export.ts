import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import { Sha256Counter } from '#shared/jobs/streams.ts';
import { MAX_PART_SIZE, planUpload } from '#shared/jobs/upload-plan.ts';
import type { SnapshotExport } from '#shared/ports/engine-provider.ts';

/** Where a snapshot's downloadable copy goes (the workflow's `exportTo`). */
export interface ExportTarget {
  bucket: string;
  key: string;
}

/**
 * Copies one file of a snapshot to object storage and says what it wrote. The supervisor is given
 * one by the composition root (the local platform's S3 emulator), so it knows no bucket itself.
 */
export interface SnapshotExporter {
  /** Rejects when `signal` aborts; an upload left unfinished is aborted, not completed. */
  upload(file: string, to: ExportTarget, signal: AbortSignal): Promise<SnapshotExport>;
}

/**
 * Streams the file to S3 (the local s3rver: the same SDK calls as on AWS) through a SHA-256
 * counter, so the file is read once. Its size is known, so a file up to S3's single-request limit
 * (5 GiB) goes in one streamed PutObject: measured against s3rver, 4 times faster and a third of
 * the CPU of multipart, whose parts lib-storage buffers, the SDK hashes to sign and s3rver
 * concatenates again. A larger file goes multipart, parts sized from its size. An aborted or
 * failed upload is abandoned (S3 publishes a PutObject only once it is whole; lib-storage sends
 * AbortMultipartUpload); a retry writes the key again from the start, and the backup names the
 * key before the upload begins, so a failed backup deletes whatever an emulator kept of it.
 */
export class S3SnapshotExporter implements SnapshotExporter {
  constructor(private readonly client: S3Client) {}

  async upload(file: string, to: ExportTarget, signal: AbortSignal): Promise<SnapshotExport> {
    signal.throwIfAborted();
    const { size } = await fs.stat(file);
    const counter = new Sha256Counter();
    const source = createReadStream(file, { highWaterMark: 1024 * 1024 });
    source.on('error', (error) => counter.destroy(error));
    const body = source.pipe(counter);
    const params = { Bucket: to.bucket, Key: to.key, Body: body, ContentType: 'application/octet-stream' };
    let upload: Upload | undefined;
    const abort = new AbortController();
    const onAbort = () => {
      source.destroy();
      abort.abort();
      void upload?.abort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (size <= MAX_PART_SIZE) {
        await this.client.send(new PutObjectCommand({ ...params, ContentLength: size }), {
          abortSignal: abort.signal,
        });
      } else {
        const plan = planUpload(size);
        upload = new Upload({
          client: this.client,
          params,
          partSize: plan.partSize,
          queueSize: plan.queueSize,
          leavePartsOnError: false,
        });
        await upload.done();
      }
    } catch (error) {
      signal.throwIfAborted();
      throw new ProviderError(
        `Uploading the snapshot to s3://${to.bucket}/${to.key} failed: ${errorMessage(error)}`,
        'SnapshotExportFailed',
        { cause: error },
      );
    } finally {
      signal.removeEventListener('abort', onAbort);
      source.destroy();
    }
    signal.throwIfAborted();
    const { sha256, bytes } = counter;
    if (!sha256 || bytes !== size) {
      throw new ProviderError(
        `The snapshot file changed while it was uploaded (${bytes} of ${size} bytes read)`,
        'SnapshotExportFailed',
      );
    }
    return { ...to, sha256, sizeBytes: bytes };
  }
}
