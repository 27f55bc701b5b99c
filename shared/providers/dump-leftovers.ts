import { DeleteObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Leftover, LeftoverSource } from '../ports/reconciler.ts';

/**
 * `BackupArtifacts.artifactFor` keys and the result file the job writes beside each, and
 * `BackupArtifacts.snapshotExportFor` keys (a snapshot's downloadable copy), by prefix.
 */
const LAYOUTS: ReadonlyArray<{ prefix: string; key: RegExp }> = [
  { prefix: 'dumps/', key: /^dumps\/([^/]+)\/([^/]+)\/([^/.]+)\.dump\.[a-z]+(\.result\.json)?$/ },
  { prefix: 'snapshots/', key: /^snapshots\/([^/]+)\/([^/]+)\/([^/.]+)\.[a-z0-9]+$/ },
];

/**
 * Dump artifacts and snapshot copies in the backup bucket (S3 on AWS, s3rver locally: the same calls). Each key
 * names its project, addon and backup, so its owner is known without a lookup. Keys that do
 * not follow the layout are not ours to judge and are never listed.
 */
export class DumpObjectLeftovers implements LeftoverSource {
  readonly name = 'dump objects';

  /**
   * `snapshotCopies`: list `snapshots/` too. A deployment turns it on once its reconciler may list
   * that prefix (on AWS its IAM grants `dumps/` only until downloadable ElastiCache snapshots).
   */
  constructor(private readonly props: { client: S3Client; bucket: string; snapshotCopies?: boolean }) {}

  async list(): Promise<Leftover[]> {
    const found: Leftover[] = [];
    for (const layout of LAYOUTS) {
      if (layout.prefix === 'dumps/' || this.props.snapshotCopies)
        found.push(...(await this.listLayout(layout)));
    }
    return found;
  }

  private async listLayout({ prefix, key }: (typeof LAYOUTS)[number]): Promise<Leftover[]> {
    const found: Leftover[] = [];
    let token: string | undefined;
    do {
      const page = await this.props.client.send(
        new ListObjectsV2Command({ Bucket: this.props.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        const match = key.exec(object.Key ?? '');
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
