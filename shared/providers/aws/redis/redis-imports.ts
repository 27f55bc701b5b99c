import {
  type CreateReplicationGroupMessage,
  DescribeCacheClustersCommand,
  type ReplicationGroup,
} from '@aws-sdk/client-elasticache';
import { CopyObjectCommand, DeleteObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ProviderError } from '../../../errors.ts';
import { isAwsError, toPlatformError, transientErrors } from '../aws-errors.ts';
import type { ElastiCacheSend } from './elasticache-groups.ts';
import { REDIS_IMPORTS_PREFIX } from './names.ts';

/** Where the copy of an uploaded RDB lives in the export bucket: one object per snapshot id. */
export const importKeyOf = (snapshotId: string): string =>
  `${REDIS_IMPORTS_PREFIX}${snapshotId.replace(/[^A-Za-z0-9._-]/g, '-')}.rdb`;

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
 * The copy is one CopyObject (S3 copies up to 5 GB in one request; uploads are capped at 5 GiB).
 */
export class RedisImports {
  private readonly s3: S3Client['send'];

  constructor(
    private readonly elasticache: ElastiCacheSend,
    s3: S3Client,
    private readonly bucket: string | undefined,
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
    const encodedKey = source.key.split('/').map(encodeURIComponent).join('/');
    try {
      await this.s3(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: importKeyOf(snapshotId),
          CopySource: `${source.bucket}/${encodedKey}`,
          ContentType: 'application/octet-stream',
          MetadataDirective: 'REPLACE',
        }),
      );
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
    const version = await this.versionOf(current);
    return { SnapshotArns: [arn], ...(version ? { EngineVersion: version } : {}) };
  }

  private async versionOf(group: ReplicationGroup): Promise<string | undefined> {
    const member = group.MemberClusters?.[0];
    if (!member) return undefined;
    try {
      const result = await this.elasticache(new DescribeCacheClustersCommand({ CacheClusterId: member }));
      return result.CacheClusters?.[0]?.EngineVersion;
    } catch (error) {
      throw toPlatformError(error, `looking up the engine version of ${member}`);
    }
  }
}
