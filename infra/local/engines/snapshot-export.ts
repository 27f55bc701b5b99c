import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { errorMessage, ProviderError } from '#shared/errors.ts';
import { Sha256Counter } from '#shared/jobs/streams.ts';
import { planUpload } from '#shared/jobs/upload-plan.ts';
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
 * counter, so the file is read once. Multipart with parts sized from the file's size (lib-storage
 * puts a small file in one request); an aborted or failed upload sends AbortMultipartUpload, so a
 * retry starts clean and the key never holds half a file.
 */
export class S3SnapshotExporter implements SnapshotExporter {
  constructor(private readonly client: S3Client) {}

  async upload(file: string, to: ExportTarget, signal: AbortSignal): Promise<SnapshotExport> {
    signal.throwIfAborted();
    const { size } = await fs.stat(file);
    const plan = planUpload(size);
    const counter = new Sha256Counter();
    const source = createReadStream(file, { highWaterMark: 1024 * 1024 });
    source.on('error', (error) => counter.destroy(error));
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: to.bucket,
        Key: to.key,
        Body: source.pipe(counter),
        ContentType: 'application/octet-stream',
      },
      partSize: plan.partSize,
      queueSize: plan.queueSize,
      leavePartsOnError: false,
    });
    const onAbort = () => {
      source.destroy();
      void upload.abort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
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
