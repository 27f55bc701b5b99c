import * as z from 'zod/mini';
import { int64, Sha256Schema, text } from './bounds.ts';
import { AddonIdSchema, BackupIdSchema, ProjectIdSchema } from './common.ts';
import { meta } from './meta.ts';

/**
 * An S3 bucket name as S3 allows it for new buckets: 3 to 63 lower-case letters, digits, dots and
 * hyphens, starting and ending with a letter or digit, no `..`, not an IP address, none of the
 * reserved prefixes and suffixes.
 */
export const S3BucketNameSchema = z.string().check(
  z.minLength(3),
  z.maxLength(63),
  z.regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, 'must be a valid S3 bucket name (a-z, 0-9, dots, hyphens)'),
  z.refine((name) => !name.includes('..') && !name.includes('.-') && !name.includes('-.'), {
    message: 'must not hold `..`, `.-` or `-.`',
  }),
  z.refine((name) => !/^\d+\.\d+\.\d+\.\d+$/.test(name), { message: 'must not be an IP address' }),
  z.refine(
    (name) => !/^(xn--|sthree-|amzn-s3-demo-)/.test(name) && !/(-s3alias|--ol-s3|--x-s3)$/.test(name),
    {
      message: 'uses a prefix or suffix S3 reserves',
    },
  ),
);

/** A key prefix: path segments of safe characters, no empty, `.` or `..` segment, no leading `/`. */
const PrefixSchema = z.string().check(
  z.maxLength(512),
  z.regex(
    /^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*\/?$/,
    "must be path segments of A-Z a-z 0-9 ! _ . * ' ( ) -",
  ),
  z.refine((prefix) => !prefix.split('/').some((segment) => segment === '.' || segment === '..'), {
    message: 'must not hold `.` or `..` segments',
  }),
);

export const ExportBackupRequestSchema = meta(
  z.strictObject({
    bucket: meta(S3BucketNameSchema, {
      description:
        "Your S3 bucket. Its bucket policy must let the platform's role write (and read back) `<projectId>/*`; see the README",
    }),
    prefix: meta(z.optional(PrefixSchema), {
      description: 'Key prefix under `<projectId>/` in the bucket, e.g. `nightly/2026`',
    }),
  }),
  { id: 'ExportBackupRequest' },
);
export type ExportBackupRequest = z.infer<typeof ExportBackupRequestSchema>;

/** Where an export goes, and (once it completed) what was verified there. */
export const BackupExportSchema = meta(
  z.object({
    bucket: text(63),
    key: meta(text(1024), { description: 'Always starts with the project id' }),
    sha256: meta(z.nullable(Sha256Schema), {
      description: "The copy's SHA-256, checked equal to the backup's after the copy; null until then",
    }),
    sizeBytes: z.nullable(int64(0)),
    verifiedBy: meta(z.nullable(z.enum(['s3-checksum', 'read-back'])), {
      description:
        "How the copy's SHA-256 was established: S3's own full-object checksum of the copy, or the copy read back and hashed",
    }),
  }),
  { id: 'BackupExport' },
);
export type BackupExport = z.infer<typeof BackupExportSchema>;

export const ExportPathSchema = z.object({
  projectId: ProjectIdSchema,
  addonId: AddonIdSchema,
  backupId: BackupIdSchema,
});
