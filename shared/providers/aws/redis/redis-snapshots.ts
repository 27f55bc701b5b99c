import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AddTagsToResourceCommand,
  CopySnapshotCommand,
  CreateSnapshotCommand,
  DeleteSnapshotCommand,
  DescribeSnapshotsCommand,
  type ElastiCacheClient,
  ListTagsForResourceCommand,
  type Snapshot,
  type Tag,
} from '@aws-sdk/client-elasticache';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { ProviderError } from '../../../errors.ts';
import type { SnapshotDeleter, SnapshotExport, SnapshotState } from '../../../ports/engine-provider.ts';
import { isAwsError, toPlatformError, transientErrors } from '../aws-errors.ts';
import { TAG_KEYS } from '../tags.ts';
import type { ElastiCacheSend } from './elasticache-groups.ts';
import { REDIS_TAG_KEYS } from './names.ts';

/** Snapshot statuses that end in `available` by waiting (`exporting`: a copy to S3 is running). */
const PENDING = new Set(['creating', 'copying', 'exporting', 'restoring']);

/** Delete an ElastiCache snapshot; an absent one is already deleted. */
export const deleteRedisSnapshot = async (
  elasticache: ElastiCacheSend,
  snapshotId: string,
): Promise<void> => {
  try {
    await elasticache(new DeleteSnapshotCommand({ SnapshotName: snapshotId }));
  } catch (error) {
    if (isAwsError(error, 'SnapshotNotFound')) return;
    throw toPlatformError(error, 'deleting the snapshot');
  }
};

/** The deleter of the functions that only delete snapshots (the backups API, the retention sweep). */
export class RedisSnapshotDeleter implements SnapshotDeleter {
  private readonly elasticache: ElastiCacheSend;

  constructor(client: ElastiCacheClient) {
    this.elasticache = transientErrors(client, 'ElastiCache');
  }

  deleteSnapshot(snapshotId: string): Promise<void> {
    return deleteRedisSnapshot(this.elasticache, snapshotId);
  }
}

/**
 * The name ElastiCache gives the exported copy: `TargetSnapshotName` is the last segment of the
 * key the workflow asked for (without an extension), and ElastiCache writes one object per shard,
 * `<name>-0001.rdb` for the single shard of a group without cluster mode. The object is found by
 * listing that prefix rather than by guessing the suffix.
 */
export const exportNameOf = (key: string): string =>
  (key.split('/').pop() ?? key).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9-]/g, '-') || 'snapshot';

/**
 * Manual snapshots of an addon's replication group, and their exports. An export asked for at
 * creation is recorded on the snapshot as a tag (`<bucket>/<name>`), so `describe` carries it on
 * without any record: once the snapshot is available it starts CopySnapshot to the bucket, waits
 * while the snapshot shows `exporting`, then hashes the RDB (streamed from S3) and tags the
 * snapshot with the digest so that is done once.
 */
export class RedisSnapshots {
  private readonly s3: S3Client['send'];

  constructor(
    private readonly elasticache: ElastiCacheSend,
    s3: S3Client,
    private readonly deployment: string,
  ) {
    this.s3 = transientErrors(s3, 'S3');
  }

  async create(
    groupId: string,
    resourceId: string,
    snapshotId: string,
    exportTo?: { bucket: string; key: string },
  ): Promise<void> {
    const tags: Tag[] = [
      { Key: TAG_KEYS.deployment, Value: this.deployment },
      { Key: TAG_KEYS.source, Value: resourceId },
      ...(exportTo
        ? [{ Key: REDIS_TAG_KEYS.exportTo, Value: `${exportTo.bucket}/${exportNameOf(exportTo.key)}` }]
        : []),
    ];
    try {
      await this.elasticache(
        new CreateSnapshotCommand({ SnapshotName: snapshotId, ReplicationGroupId: groupId, Tags: tags }),
      );
    } catch (error) {
      if (isAwsError(error, 'SnapshotAlreadyExists')) return;
      throw toPlatformError(error, 'taking the snapshot');
    }
  }

  async find(snapshotId: string): Promise<Snapshot | undefined> {
    try {
      const result = await this.elasticache(new DescribeSnapshotsCommand({ SnapshotName: snapshotId }));
      return result.Snapshots?.[0];
    } catch (error) {
      if (isAwsError(error, 'SnapshotNotFound')) return undefined;
      throw toPlatformError(error, 'looking up the snapshot');
    }
  }

  async describe(snapshotId: string): Promise<SnapshotState> {
    const snapshot = await this.find(snapshotId);
    const status = snapshot?.SnapshotStatus;
    if (!snapshot || status === 'deleting') return { status: 'absent' };
    if (status === undefined || PENDING.has(status)) return { status: 'creating' };
    if (status !== 'available') {
      return { status: 'failed', reason: `ElastiCache reports snapshot ${snapshotId} as ${status}` };
    }
    const tags = await this.tagsOf(snapshot);
    const exportTo = tags.find((tag) => tag.Key === REDIS_TAG_KEYS.exportTo)?.Value;
    if (!exportTo) return { status: 'available', sizeBytes: null };
    const exported = await this.export(snapshot, exportTo, tags);
    return exported
      ? { status: 'available', sizeBytes: exported.sizeBytes, exported }
      : { status: 'creating' };
  }

  /** The export's result once its object is there; undefined while it is being written. */
  private async export(
    snapshot: Snapshot,
    exportTo: string,
    tags: Tag[],
  ): Promise<SnapshotExport | undefined> {
    const slash = exportTo.indexOf('/');
    const bucket = exportTo.slice(0, slash);
    const name = exportTo.slice(slash + 1);
    const object = await this.exportedObject(bucket, name);
    if (!object) {
      await this.startExport(snapshot, bucket, name);
      return undefined;
    }
    const recorded = tags.find((tag) => tag.Key === REDIS_TAG_KEYS.exportSha256)?.Value;
    if (recorded) return { bucket, key: object.key, sha256: recorded, sizeBytes: object.size };
    const { sha256, sizeBytes } = await this.hash(bucket, object.key);
    if (snapshot.ARN) {
      try {
        await this.elasticache(
          new AddTagsToResourceCommand({
            ResourceName: snapshot.ARN,
            Tags: [{ Key: REDIS_TAG_KEYS.exportSha256, Value: sha256 }],
          }),
        );
      } catch (error) {
        throw toPlatformError(error, "recording the exported snapshot's SHA-256");
      }
    }
    return { bucket, key: object.key, sha256, sizeBytes };
  }

  private async exportedObject(
    bucket: string,
    name: string,
  ): Promise<{ key: string; size: number } | undefined> {
    try {
      const listed = await this.s3(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${name}-` }));
      const object = listed.Contents?.find((item) => item.Key?.endsWith('.rdb'));
      return object?.Key ? { key: object.Key, size: object.Size ?? 0 } : undefined;
    } catch (error) {
      throw toPlatformError(error, 'looking for the exported snapshot');
    }
  }

  private async startExport(snapshot: Snapshot, bucket: string, name: string): Promise<void> {
    try {
      await this.elasticache(
        new CopySnapshotCommand({
          SourceSnapshotName: snapshot.SnapshotName,
          TargetSnapshotName: name,
          TargetBucket: bucket,
        }),
      );
    } catch (error) {
      // A retried call: the copy already started (ElastiCache refuses a second one, or a name
      // already used in the bucket), and `exporting` or the object will show it.
      if (isAwsError(error, 'SnapshotAlreadyExists', 'InvalidSnapshotState')) return;
      throw new ProviderError(
        `ElastiCache could not export the snapshot to bucket ${bucket}: ${toPlatformError(error, 'exporting the snapshot').message}`,
        'SnapshotExportFailed',
        { cause: error },
      );
    }
  }

  /** SHA-256 and size of the exported RDB, streamed (an RDB is as large as the addon's data). */
  private async hash(bucket: string, key: string): Promise<{ sha256: string; sizeBytes: number }> {
    let body: Readable;
    try {
      const object = await this.s3(new GetObjectCommand({ Bucket: bucket, Key: key }));
      body = object.Body as Readable;
    } catch (error) {
      throw toPlatformError(error, 'reading the exported snapshot');
    }
    const digest = createHash('sha256');
    let sizeBytes = 0;
    for await (const chunk of body) {
      const bytes = chunk as Buffer;
      digest.update(bytes);
      sizeBytes += bytes.length;
    }
    return { sha256: digest.digest('hex'), sizeBytes };
  }

  private async tagsOf(snapshot: Snapshot): Promise<Tag[]> {
    if (!snapshot.ARN) return [];
    try {
      const result = await this.elasticache(new ListTagsForResourceCommand({ ResourceName: snapshot.ARN }));
      return result.TagList ?? [];
    } catch (error) {
      throw toPlatformError(error, "reading the snapshot's tags");
    }
  }
}
