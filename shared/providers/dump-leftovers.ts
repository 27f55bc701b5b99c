import { DeleteObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Leftover, LeftoverSource } from '../ports/reconciler.ts';

/** `BackupArtifacts.artifactFor` keys, and the result file the job writes beside each. */
const DUMP_KEY = /^dumps\/([^/]+)\/([^/]+)\/([^/.]+)\.dump\.[a-z]+(\.result\.json)?$/;

/**
 * Dump artifacts in the backup bucket (S3 on AWS, s3rver locally: the same calls). Each key
 * names its project, addon and backup, so its owner is known without a lookup. Keys that do
 * not follow the layout are not ours to judge and are never listed.
 */
export class DumpObjectLeftovers implements LeftoverSource {
  readonly name = 'dump objects';

  constructor(private readonly props: { client: S3Client; bucket: string }) {}

  async list(): Promise<Leftover[]> {
    const found: Leftover[] = [];
    let token: string | undefined;
    do {
      const page = await this.props.client.send(
        new ListObjectsV2Command({ Bucket: this.props.bucket, Prefix: 'dumps/', ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        const match = DUMP_KEY.exec(object.Key ?? '');
        if (!match?.[1] || !match[2] || !match[3]) continue;
        found.push({
          kind: 'dump-object',
          id: object.Key as string,
          createdAt: object.LastModified,
          owner: { kind: 'backup', projectId: match[1], addonId: match[2], backupId: match[3] },
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  }

  async remove(leftover: Leftover): Promise<void> {
    await this.props.client.send(new DeleteObjectCommand({ Bucket: this.props.bucket, Key: leftover.id }));
  }
}
