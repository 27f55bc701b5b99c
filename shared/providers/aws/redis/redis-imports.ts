import type { CreateReplicationGroupMessage, ReplicationGroup } from '@aws-sdk/client-elasticache';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { ProviderError } from '../../../errors.ts';
import { isAwsError, toPlatformError, transientErrors } from '../aws-errors.ts';
import { type ElastiCacheSend, nodeVersionOf } from './elasticache-groups.ts';
import { REDIS_IMPORTS_PREFIX } from './names.ts';

/** Where the copy of an uploaded RDB lives in the export bucket: one object per snapshot id. */
export const importKeyOf = (snapshotId: string): string =>
  `${REDIS_IMPORTS_PREFIX}${snapshotId.replace(/[^A-Za-z0-9._-]/g, '-')}.rdb`;

/** Parts a multipart copy copies at once. */
const COPY_CONCURRENCY = 8;

/** What `CreateReplicationGroup` is seeded with: an ElastiCache snapshot or RDB files in S3. */
export type GroupSeed = Pick<
  CreateReplicationGroupMessage,
  'SnapshotName' | 'SnapshotArns' | 'EngineVersion'
>;

/*
 * Imports of uploaded RDB files. ElastiCache cannot turn a file into a snapshot, but
 * CreateReplicationGroup seeds a new group from `.rdb` objects in S3 (`SnapshotArns`), which
 * ElastiCache reads as its regional service principal (`<region>.elasticache-snapshot.amazonaws.com`:
 * s3:GetObject on the object, s3:ListBucket and s3:GetBucketAcl on the bucket, same Region;
 * "Seeding a new self-designed cluster with an externally created backup"). The upload sits in the
 * backup bucket, encrypted with the deployment's customer key that principal cannot use, so
 * `copy` puts a copy into the export bucket (SSE-S3, whose policy admits ElastiCache) under
 * `importKeyOf(snapshotId)`. That object is the record: a snapshot id with no ElastiCache
 * snapshot but such an object is restored by seeding (`RedisRestore`), and `deleteSnapshot`
 * deletes it.
 *
 * A small file is one CopyObject. A larger one is a multipart copy with parts copied in parallel
 * (UploadPartCopy), so a 5 GiB upload (the quota) copies in seconds, well within the workflow
 * function's timeout, where one CopyObject of it could take minutes. A copy interrupted midway
 * leaves an incomplete upload the bucket's lifecycle rule aborts; a retried call starts over.
 */
export class RedisImports {
  private readonly s3: S3Client['send'];

  constructor(
    private readonly elasticache: ElastiCacheSend,
    s3: S3Client,
    private readonly bucket: string | undefined,
    /** Parts of a multipart copy (S3: 5 MiB to 5 GiB); a file of at most one part is one CopyObject. */
    private readonly partBytes = 256 * 1024 * 1024,
  ) {
    this.s3 = transientErrors(s3, 'S3');
  }

  private exportBucket(): string {
    if (!this.bucket) {
      throw new ProviderError(
        'This deployment has no Redis export bucket to import RDB files through; redeploy the stack',
        'Misconfigured',
      );
    }
    return this.bucket;
  }

  /** Copy the upload next to where ElastiCache may read it; a retried call finds the copy made. */
  async copy(snapshotId: string, source: { bucket: string; key: string }): Promise<void> {
    const bucket = this.exportBucket();
    if (await this.find(snapshotId)) return;
    const copySource = `${source.bucket}/${source.key.split('/').map(encodeURIComponent).join('/')}`;
    const target = { Bucket: bucket, Key: importKeyOf(snapshotId) };
    try {
      const head = await this.s3(new HeadObjectCommand({ Bucket: source.bucket, Key: source.key }));
      const size = head.ContentLength ?? 0;
      if (size <= this.partBytes) {
        await this.s3(new CopyObjectCommand({ ...target, CopySource: copySource }));
      } else {
        await this.copyInParts(target, copySource, size);
      }
    } catch (error) {
      if (isAwsError(error, 'NoSuchKey', 'NotFound')) {
        throw new ProviderError(
          'The uploaded RDB file is gone (expired or deleted); upload it again',
          'NotFound',
          { cause: error },
        );
      }
      throw toPlatformError(error, 'copying the uploaded RDB file for ElastiCache');
    }
  }

  private async copyInParts(target: { Bucket: string; Key: string }, copySource: string, size: number) {
    const { UploadId } = await this.s3(new CreateMultipartUploadCommand(target));
    const count = Math.ceil(size / this.partBytes);
    const parts: Array<{ PartNumber: number; ETag: string }> = [];
    let next = 0;
    const worker = async () => {
      for (let index = next++; index < count; index = next++) {
        const start = index * this.partBytes;
        const end = Math.min(size, start + this.partBytes) - 1;
        const result = await this.s3(
          new UploadPartCopyCommand({
            ...target,
            UploadId,
            PartNumber: index + 1,
            CopySource: copySource,
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        );
        parts.push({ PartNumber: index + 1, ETag: String(result.CopyPartResult?.ETag) });
      }
    };
    await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, count) }, worker));
    parts.sort((a, b) => a.PartNumber - b.PartNumber);
    await this.s3(
      new CompleteMultipartUploadCommand({ ...target, UploadId, MultipartUpload: { Parts: parts } }),
    );
  }

  /** The S3 ARN of the copy, when there is one. */
  async find(snapshotId: string, partition = 'aws'): Promise<string | undefined> {
    if (!this.bucket) return undefined;
    const key = importKeyOf(snapshotId);
    try {
      await this.s3(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return `arn:${partition}:s3:::${this.bucket}/${key}`;
    } catch (error) {
      if (isAwsError(error, 'NotFound', 'NoSuchKey')) return undefined;
      throw toPlatformError(error, 'looking for the imported RDB file');
    }
  }

  /** Delete the copy; an absent one is already deleted (S3 answers the same). */
  async delete(snapshotId: string): Promise<void> {
    if (!this.bucket) return;
    try {
      await this.s3(new DeleteObjectCommand({ Bucket: this.bucket, Key: importKeyOf(snapshotId) }));
    } catch (error) {
      throw toPlatformError(error, 'deleting the imported RDB file');
    }
  }

  /**
   * Seed a new group with the copy, on the engine version the addon runs now (its primary's;
   * a replication group does not report one): the import replaces data, not the version. An RDB
   * of a format newer than that version fails in ElastiCache (`restore-failed`), and the restore
   * fails without touching the addon.
   */
  async seedOf(snapshotId: string, current: ReplicationGroup): Promise<GroupSeed | undefined> {
    const partition = current.ARN?.split(':')[1] ?? 'aws';
    const arn = await this.find(snapshotId, partition);
    if (!arn) return undefined;
    const version = await nodeVersionOf(this.elasticache, current);
    return { SnapshotArns: [arn], ...(version ? { EngineVersion: version } : {}) };
  }
}
