import type { AwsCall, CallEnvironment, Permission } from './iam.ts';
import { FAKE_ENV } from './intrinsics.ts';

type PermissionOf = (
  action: string,
  resource: string,
  context?: Record<string, string | string[]>,
) => Permission;

const via = (service: string) => ({ 'kms:ViaService': `${service}.${FAKE_ENV.region}.amazonaws.com` });
const objectArn = (bucket: unknown, key: unknown) =>
  `arn:${FAKE_ENV.partition}:s3:::${String(bucket)}/${String(key)}`;

/**
 * What an S3 call is authorized on. The backup bucket is SSE-KMS (`bucketKeyArn`): S3 calls KMS
 * with the caller's permissions for the data it reads or writes.
 */
export const s3Permissions = (
  call: AwsCall,
  env: CallEnvironment,
  basePermission: PermissionOf,
): Permission[] => {
  const { input } = call;
  // Every S3 request carries the account of the bucket it acts on (s3:ResourceAccount).
  const permission: PermissionOf = (action, resource, context = {}) => {
    const bucket = resource.startsWith(`arn:${FAKE_ENV.partition}:s3:::`)
      ? resource.slice(`arn:${FAKE_ENV.partition}:s3:::`.length).split('/')[0]
      : undefined;
    if (bucket === undefined) return basePermission(action, resource, context);
    const account = env.foreignBuckets?.[bucket] ?? FAKE_ENV.account;
    return basePermission(action, resource, { 's3:ResourceAccount': account, ...context });
  };
  const action = `s3:${call.command}`;
  const object = objectArn(input.Bucket, input.Key);
  const key = env.bucketKeyArn;
  const decrypt = key ? [permission('kms:Decrypt', key, via('s3'))] : [];
  switch (call.command) {
    // Listing is ListBucket on the bucket, conditioned on the prefix asked for.
    case 'ListObjectsV2':
      return [
        permission('s3:ListBucket', `arn:${FAKE_ENV.partition}:s3:::${String(input.Bucket)}`, {
          's3:prefix': String(input.Prefix ?? ''),
        }),
      ];
    case 'GetObject':
      return [permission(action, object), ...decrypt];
    // HEAD is authorized as GetObject, and reads no data: no KMS call.
    case 'HeadObject':
      return [permission('s3:GetObject', object)];
    case 'PutObject':
      return [
        permission(action, object),
        ...(key ? [permission('kms:GenerateDataKey', key, via('s3'))] : []),
        ...decrypt,
      ];
    // CopyObject and UploadPartCopy read the source (GetObject, and its key's Decrypt) and write
    // the target (PutObject; the targets copied to here are SSE-S3: no key of the caller's).
    case 'CopyObject':
    case 'UploadPartCopy': {
      const [bucket, ...path] = decodeURIComponent(String(input.CopySource)).split('/');
      return [
        permission('s3:GetObject', objectArn(bucket, path.join('/'))),
        ...decrypt,
        permission('s3:PutObject', object),
      ];
    }
    // The other steps of a multipart upload are authorized as PutObject.
    case 'CreateMultipartUpload':
    case 'CompleteMultipartUpload':
      return [permission('s3:PutObject', object)];
    default:
      return [permission(action, object)];
  }
};
