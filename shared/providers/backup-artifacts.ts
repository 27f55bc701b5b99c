import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Compression } from '../schemas/backup.ts';
import { assertSafeIds } from '../util/safe-ids.ts';
import { transientErrors } from './aws/aws-errors.ts';

export interface ArtifactRef {
  bucket: string;
  key: string;
}

/** What a dump job leaves beside its artifact, so the workflow can record it. */
export interface DumpResult {
  sizeBytes: number;
  sha256: string;
  compression: Compression;
  toolVersion?: string;
}

const EXTENSIONS: Record<Compression, string> = { gzip: 'gz', zstd: 'zst' };

/**
 * Dump artifacts and downloadable snapshot copies in S3 (s3rver locally: the same SDK calls). Keys are laid out per project and
 * addon so that lifecycle rules and IAM can be scoped by prefix.
 */
export class BackupArtifacts {
  private readonly send: S3Client['send'];

  constructor(private readonly props: { client: S3Client; bucket: string; signedUrlSeconds?: number }) {
    this.send = transientErrors(props.client, 'S3');
  }

  artifactFor(
    ref: { projectId: string; addonId: string; backupId: string },
    compression: Compression,
  ): ArtifactRef {
    // Locally the key is a path under the S3 emulator's directory.
    assertSafeIds({ projectId: ref.projectId, addonId: ref.addonId, backupId: ref.backupId });
    return {
      bucket: this.props.bucket,
      key: `dumps/${ref.projectId}/${ref.addonId}/${ref.backupId}.dump.${EXTENSIONS[compression]}`,
    };
  }

  /**
   * Where a downloadable snapshot copy goes (a Redis RDB): beside the dumps, under its own prefix,
   * so lifecycle rules and the leftovers sweep tell the two apart. A provider may choose the final
   * name under it (ElastiCache does); the backup records the object as the provider reports it.
   */
  snapshotExportFor(
    ref: { projectId: string; addonId: string; backupId: string },
    extension: string,
  ): ArtifactRef {
    assertSafeIds({ projectId: ref.projectId, addonId: ref.addonId, backupId: ref.backupId });
    if (!/^[a-z0-9]+$/.test(extension)) throw new Error(`Invalid snapshot file extension '${extension}'`);
    return {
      bucket: this.props.bucket,
      key: `snapshots/${ref.projectId}/${ref.addonId}/${ref.backupId}.${extension}`,
    };
  }

  resultKeyOf(artifact: ArtifactRef): string {
    return `${artifact.key}.result.json`;
  }

  async readResult(artifact: ArtifactRef): Promise<DumpResult | undefined> {
    try {
      const object = await this.send(
        new GetObjectCommand({ Bucket: artifact.bucket, Key: this.resultKeyOf(artifact) }),
      );
      return JSON.parse(await (object.Body?.transformToString() ?? Promise.resolve('null'))) as DumpResult;
    } catch (error) {
      if (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NotFound'))
        return undefined;
      throw error;
    }
  }

  async size(artifact: ArtifactRef): Promise<number | undefined> {
    try {
      const head = await this.send(new HeadObjectCommand({ Bucket: artifact.bucket, Key: artifact.key }));
      return head.ContentLength;
    } catch (error) {
      if (error instanceof Error && (error.name === 'NotFound' || error.name === 'NoSuchKey'))
        return undefined;
      throw error;
    }
  }

  async delete(artifact: ArtifactRef): Promise<void> {
    await this.send(new DeleteObjectCommand({ Bucket: artifact.bucket, Key: artifact.key }));
    await this.send(new DeleteObjectCommand({ Bucket: artifact.bucket, Key: this.resultKeyOf(artifact) }));
  }

  async downloadUrl(artifact: ArtifactRef, fileName: string): Promise<{ url: string; expiresAt: string }> {
    const expiresIn = this.props.signedUrlSeconds ?? 15 * 60;
    const url = await getSignedUrl(
      this.props.client,
      new GetObjectCommand({
        Bucket: artifact.bucket,
        Key: artifact.key,
        ResponseContentDisposition: `attachment; filename="${fileName}"`,
      }),
      { expiresIn },
    );
    return { url, expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString() };
  }
}
