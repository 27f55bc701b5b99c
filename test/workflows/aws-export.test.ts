import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { ExportService } from '#shared/services/export-service.ts';
import { deniedPermissions, roleStatements } from '../infra/support/iam.ts';
import { awsWorkflowSuite } from './support/aws-suite.ts';
import { logicalIdOf } from './support/aws-workflows.ts';

/**
 * The export-backup workflow as deployed: the ASL with the stack's substitutions, the workflow
 * function built by its AWS composition root, S3 faked with aws-sdk-client-mock. A backup up to
 * 5 GiB is copied by one CopyObject whose full-object SHA-256 S3 returns; a larger one by
 * UploadPartCopy in 512 MiB parts, then read back and hashed; a bucket that refuses the platform
 * fails the operation naming the bucket and the policy. Every call is allowed by the synthesized
 * role, for a bucket in another account only.
 */
const PROJECT = 'aws-exports';
const USER_BUCKET = 'customer-exports';
const USER_ACCOUNT = '210987654321';

const suite = awsWorkflowSuite(PROJECT, { namePrefix: 'exp' });
const { world, recorded, flushCalls } = suite;

const exports = () => new ExportService({ ...world(), backups: world().backupStore, target: 'aws' });

/** A completed dump backup of a running addon, its calls flushed. */
const dumpBackup = async () => {
  const addon = await suite.running();
  world().jobs.behaviour = suite.dumpJob();
  const { backup, operation } = await suite.backUp(addon, 'dump');
  expect(operation.status).toBe('completed');
  flushCalls();
  return { addon, backup };
};

const record = (command: string, input: Record<string, unknown>) =>
  world().fake.calls.push({ service: 's3', command, input });

const runExport = async (addonId: string, backupId: string) => {
  const { operation } = await exports().start(PROJECT, addonId, backupId, {
    bucket: USER_BUCKET,
    prefix: 'nightly',
  });
  await world().workflows.idle();
  return world().store.getOperation(PROJECT, operation.id);
};

describe('the export-backup workflow on AWS', () => {
  it('copies a dump with one CopyObject and takes S3’s full-object SHA-256 of the copy', async () => {
    const { addon, backup } = await dumpBackup();
    world()
      .fake.s3.on(CopyObjectCommand)
      .callsFake((input) => {
        record('CopyObject', input);
        return {
          CopyObjectResult: {
            ChecksumSHA256: Buffer.from(backup.sha256 as string, 'hex').toString('base64'),
          },
        };
      });
    const operation = await runExport(addon.id, backup.id);
    expect(operation).toMatchObject({
      type: 'export',
      status: 'completed',
      error: null,
      export: {
        bucket: USER_BUCKET,
        key: `${PROJECT}/nightly/${addon.name}/${backup.id}.dump.zst`,
        sha256: backup.sha256,
        sizeBytes: backup.sizeBytes,
        verifiedBy: 's3-checksum',
      },
    });
    const [copy] = world().fake.inputsOf('s3', 'CopyObject');
    expect(copy).toMatchObject({
      Bucket: USER_BUCKET,
      CopySource: `${backup.artifact?.bucket}/${backup.artifact?.key}`,
      ChecksumAlgorithm: 'SHA256',
    });
    // The addon was never locked.
    expect(await world().store.getAddon(PROJECT, addon.id)).toMatchObject({ currentOperationId: null });
  });

  it('copies a backup over 5 GiB in parts (UploadPartCopy), then reads the copy back to hash it', async () => {
    const { addon, backup } = await dumpBackup();
    const body = Buffer.from('the copied dump, as the user bucket returns it');
    const sizeBytes = 6 * 1024 ** 3;
    await world().backupStore.updateBackup(
      { projectId: PROJECT, id: backup.id },
      { sizeBytes, sha256: createHash('sha256').update(body).digest('hex') },
    );
    world()
      .fake.s3.on(CreateMultipartUploadCommand)
      .callsFake((input) => {
        record('CreateMultipartUpload', input);
        return { UploadId: 'upload-1' };
      });
    world()
      .fake.s3.on(UploadPartCopyCommand)
      .callsFake((input) => {
        record('UploadPartCopy', input);
        return { CopyPartResult: { ETag: `"etag-${input.PartNumber}"` } };
      });
    world()
      .fake.s3.on(CompleteMultipartUploadCommand)
      .callsFake((input) => {
        record('CompleteMultipartUpload', input);
        return {};
      });
    world()
      .fake.s3.on(GetObjectCommand, { Bucket: USER_BUCKET })
      .callsFake((input) => {
        record('GetObject', input);
        return { Body: Readable.from([body]) };
      });
    const operation = await runExport(addon.id, backup.id);
    expect(operation).toMatchObject({
      status: 'completed',
      export: { sha256: createHash('sha256').update(body).digest('hex'), verifiedBy: 'read-back' },
    });
    const parts = world().fake.inputsOf('s3', 'UploadPartCopy');
    expect(parts).toHaveLength(12);
    expect(parts[0]).toMatchObject({ PartNumber: 1, CopySourceRange: `bytes=0-${512 * 1024 ** 2 - 1}` });
    expect(parts[11]).toMatchObject({
      PartNumber: 12,
      CopySourceRange: `bytes=${11 * 512 * 1024 ** 2}-${sizeBytes - 1}`,
    });
    expect(world().fake.inputsOf('s3', 'CompleteMultipartUpload')[0]).toMatchObject({
      UploadId: 'upload-1',
      MultipartUpload: { Parts: expect.arrayContaining([{ PartNumber: 12, ETag: '"etag-12"' }]) },
    });
  });

  it('fails with a reason naming the bucket and the policy when the bucket refuses the platform', async () => {
    const { addon, backup } = await dumpBackup();
    world()
      .fake.s3.on(CopyObjectCommand)
      .callsFake((input) => {
        record('CopyObject', input);
        throw Object.assign(new Error('Access Denied'), {
          name: 'AccessDenied',
          $metadata: { httpStatusCode: 403 },
        });
      });
    const operation = await runExport(addon.id, backup.id);
    expect(operation.status).toBe('failed');
    expect(operation.error?.message).toMatch(
      new RegExp(`may not write to bucket '${USER_BUCKET}'.*s3:PutObject.*${USER_BUCKET}/${PROJECT}/\\*`),
    );
    world()
      .fake.s3.on(CopyObjectCommand)
      .callsFake((input) => {
        record('CopyObject', input);
        throw Object.assign(new Error('The specified bucket does not exist'), {
          name: 'NoSuchBucket',
          $metadata: { httpStatusCode: 404 },
        });
      });
    const missing = await runExport(addon.id, backup.id);
    expect(missing.error?.message).toMatch(`The bucket '${USER_BUCKET}' does not exist`);
  });

  it('allows every S3 call of the exports on a bucket of another account, and none on the stack’s own', () => {
    flushCalls();
    const { json } = world().synthesized;
    const roleId = logicalIdOf(world().synthesized, world().synthesized.stack.workflows.taskFunction.role);
    const statements = roleStatements(json, roleId);
    const env = { ...suite.callEnvironment(), foreignBuckets: { [USER_BUCKET]: USER_ACCOUNT } };
    const exportCalls = recorded.filter((call) => call.service === 's3' && call.input.Bucket === USER_BUCKET);
    expect(exportCalls.map((call) => call.command)).toContain('UploadPartCopy');
    expect(deniedPermissions(statements, exportCalls, env)).toEqual([]);
    // The same writes into a bucket of the platform's own account are not allowed by the export grant.
    const ownAccount = exportCalls.map((call) => ({
      ...call,
      input: { ...call.input, Bucket: 'platform-private' },
    }));
    expect(deniedPermissions(statements, ownAccount, env).length).toBeGreaterThan(0);
  });
});
