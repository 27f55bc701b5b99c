import { createHash } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { s3EndpointConfig } from '#shared/jobs/s3-client.ts';
import { localPlatformForFile } from '../support/local-platform.ts';
import { backUpAndWait, operationEnded } from '../support/operations.ts';
import { pgQuery } from '../support/pg-fingerprint.ts';

/**
 * Exports as a user does them over HTTP: a dump backup copied to "their" bucket (a bucket of the
 * local S3 emulator), downloaded from there with the S3 SDK, and its SHA-256 compared with the
 * backup's; a missing bucket fails the operation with a reason; a bad bucket name is a 400.
 */
const TOKEN = 'e2e-exports-token-0123456789';
const PROJECT = 'exports';
const addonPath = (addonId: string) => `/v1/projects/${PROJECT}/addons/${addonId}`;

const api = localPlatformForFile('exports', TOKEN);

describe('backup exports to a bucket of the user', () => {
  let s3: S3Client | undefined;
  let addonId: string;
  let backupId: string;
  let backupSha256: string;

  afterAll(() => s3?.destroy());

  it('takes a dump backup of an addon', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'export-source', engine: 'postgresql' },
    });
    expect(created.status).toBe(202);
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    addonId = created.body.addon.id;
    const uri = (await api('GET', `${addonPath(addonId)}/credentials`)).body.uri as string;
    await pgQuery(
      uri,
      'CREATE TABLE items AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 5000) g',
    );
    const backup = await backUpAndWait(api, PROJECT, addonPath(addonId), {
      type: 'dump',
      compression: 'zstd',
    });
    expect(backup.operation.error).toBeNull();
    backupId = backup.backupId;
    const link = await api('POST', `${addonPath(addonId)}/backups/${backupId}/download`);
    backupSha256 = link.body.sha256;
    // The emulator that serves the download links is the one the user's bucket lives in.
    s3 = new S3Client(s3EndpointConfig(new URL(link.body.url).origin));
    await s3.send(new CreateBucketCommand({ Bucket: 'my-exports' }));
  }, 180_000);

  it('copies the dump to the bucket under the project id; the copy’s SHA-256 is the backup’s', async () => {
    const started = await api('POST', `${addonPath(addonId)}/backups/${backupId}/export`, {
      body: { bucket: 'my-exports', prefix: 'nightly/2026' },
    });
    expect(started.status).toBe(202);
    expect(started.body.operation).toMatchObject({ type: 'export', backupId });
    // The addon is not locked by an export.
    expect((await api('GET', addonPath(addonId))).body).toMatchObject({
      status: 'running',
      currentOperationId: null,
    });
    const operation = await operationEnded(api, PROJECT, started.body.operation.id);
    expect(operation).toMatchObject({
      status: 'completed',
      error: null,
      export: { bucket: 'my-exports', sha256: backupSha256, verifiedBy: 'read-back' },
    });
    const key = operation.export.key as string;
    expect(key.startsWith(`${PROJECT}/nightly/2026/`)).toBe(true);
    const object = await (s3 as S3Client).send(new GetObjectCommand({ Bucket: 'my-exports', Key: key }));
    const bytes = Buffer.from(await (object.Body?.transformToByteArray() ?? new Uint8Array()));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(backupSha256);
    expect(bytes.length).toBe(operation.export.sizeBytes);
  }, 120_000);

  it('fails the operation with a reason when the bucket does not exist', async () => {
    const started = await api('POST', `${addonPath(addonId)}/backups/${backupId}/export`, {
      body: { bucket: 'no-such-bucket-here' },
    });
    expect(started.status).toBe(202);
    const operation = await operationEnded(api, PROJECT, started.body.operation.id);
    expect(operation.status).toBe('failed');
    expect(operation.error).toMatchObject({ code: 'ProviderError' });
    expect(operation.error.message).toMatch(/no-such-bucket-here.*does not exist/);
  }, 120_000);

  it('refuses an invalid bucket name, naming body.bucket', async () => {
    for (const bucket of ['Bad_Bucket', 'ab', '192.168.0.1', 'a..b']) {
      const refused = await api('POST', `${addonPath(addonId)}/backups/${backupId}/export`, {
        body: { bucket },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.errors.map((issue: { path: string }) => issue.path)).toContain('body.bucket');
    }
    const prefix = await api('POST', `${addonPath(addonId)}/backups/${backupId}/export`, {
      body: { bucket: 'my-exports', prefix: '../elsewhere' },
    });
    expect(prefix.status).toBe(400);
    expect(prefix.body.errors.map((issue: { path: string }) => issue.path)).toContain('body.prefix');
  }, 60_000);
});
