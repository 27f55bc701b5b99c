import * as z from 'zod/mini';
import { CompressionSchema } from './backup.ts';
import { ErrorCodeSchema, IdTextSchema, int32, int64, MessageSchema, Sha256Schema, text } from './bounds.ts';
import { EngineSchema } from './catalog.ts';
import { AddonIdSchema, ImportIdSchema, ProjectIdSchema, pageOf, TimestampSchema } from './common.ts';
import { meta } from './meta.ts';
import { OperationSchema } from './operation.ts';

/** The largest file one presigned PUT takes: a single S3 PutObject, which S3 caps at 5 GiB. */
export const SINGLE_PUT_MAX_BYTES = 5 * 1024 ** 3;
/**
 * How many parts a multipart upload is cut into at most: every part URL is in the create response
 * (S3 allows 10,000; 1,000 keeps the response near 1 MB).
 */
export const MAX_UPLOAD_PARTS = 1000;
/** S3's bounds on a part: at least 5 MiB (but the last), at most 5 GiB. */
export const MIN_PART_BYTES = 5 * 1024 ** 2;
export const MAX_PART_BYTES = 5 * 1024 ** 3;
/** The largest file an import takes at all: MAX_UPLOAD_PARTS parts of the largest size. */
export const MAX_UPLOAD_BYTES = MAX_UPLOAD_PARTS * MAX_PART_BYTES;
/** The default upload quota (ADDONS_MAX_UPLOAD_BYTES changes it, up to MAX_UPLOAD_BYTES). */
export const DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 ** 3;

/**
 * What an uploaded dump holds, detected from its contents when the import starts (never from a
 * file name): `pg-custom` (PostgreSQL custom-format archive), `pg-plain` (a PostgreSQL SQL
 * script), `mysql-sql` (a MySQL SQL script), `redis-rdb` (an RDB file).
 */
export const DumpContentsSchema = z.enum(['pg-custom', 'pg-plain', 'mysql-sql', 'redis-rdb']);
export type DumpContents = z.infer<typeof DumpContentsSchema>;

/**
 * What the uploaded file must be, per engine: what a dump backup's download gives for SQL
 * engines (`pg-dump`: PostgreSQL's custom dump format, `mysql-dump`: an SQL script, both
 * compressed), an RDB file for Redis (`redis-rdb`, uncompressed, as the server's SAVE writes it).
 */
export const ImportFormatSchema = z.enum(['pg-dump', 'mysql-dump', 'redis-rdb']);
export type ImportFormat = z.infer<typeof ImportFormatSchema>;

/**
 * `awaiting-upload`: created, the upload URL handed out, not started yet. `awaiting-start`: a live
 * import, created (its connection string in the secret store), not started yet. `importing`: started,
 * its operation in flight. `failed`: the last start failed; the uploaded file is kept, so
 * starting again retries it until the import expires. `completed`: the addon has the file's data.
 */
export const ImportStatusSchema = z.enum([
  'awaiting-upload',
  'awaiting-start',
  'importing',
  'completed',
  'failed',
]);
export type ImportStatus = z.infer<typeof ImportStatusSchema>;

/**
 * A live import: the source database's connection string, kept only in the secret store for the
 * life of the import (never in the import, its operation, logs or workflow state). Its syntax and
 * scheme are checked at creation; reachability, credentials and version when the import runs.
 */
export const LiveImportRequestSchema = z.strictObject({
  kind: meta(z.literal('live'), {
    description:
      'Stream a dump of a running database straight into the addon (no file), then start the import',
  }),
  connectionString: meta(z.string().check(z.minLength(1), z.maxLength(2048)), {
    description:
      'postgresql://user:password@host:port/database (PostgreSQL addons) or mysql://user:password@host:port/database (MySQL addons); `?sslmode=require` asks for TLS',
  }),
});

export const CreateImportRequestSchema = meta(
  z.discriminatedUnion('kind', [
    z.strictObject({
      kind: meta(z.literal('upload'), {
        description: 'Upload a file to a presigned URL, then start the import',
      }),
      sizeBytes: meta(int64(1, MAX_UPLOAD_BYTES), {
        description:
          'Exact size of the file to upload. The upload URL is signed for this Content-Length: S3 refuses any other size',
      }),
      compression: meta(z.optional(CompressionSchema), {
        description:
          'Compression of a dump (PostgreSQL, MySQL): detected from the first bytes when absent (gzip, zstd, or none). RDB files are uploaded uncompressed',
      }),
      multipart: meta(z.optional(z.boolean()), {
        description:
          'Upload in parts (S3 multipart) even below the size from which parts are used anyway (ADDONS_MULTIPART_THRESHOLD_BYTES, 5 GiB by default)',
      }),
    }),
    LiveImportRequestSchema,
  ]),
  { id: 'CreateImportRequest' },
);
export type CreateImportRequest = z.infer<typeof CreateImportRequestSchema>;

export const StartImportRequestSchema = meta(
  z.strictObject({
    sha256: meta(z.optional(Sha256Schema), {
      description:
        "SHA-256 of the uploaded file (lower-case hex). When given, a file whose hash differs is refused and the addon's data is left as it was",
    }),
    parts: meta(
      z.optional(
        z
          .array(
            z.strictObject({
              partNumber: int32(1, MAX_UPLOAD_PARTS),
              etag: meta(text(128), { description: 'The ETag header S3 answered the part PUT with' }),
            }),
          )
          .check(z.minLength(1), z.maxLength(MAX_UPLOAD_PARTS)),
      ),
      {
        description:
          'A multipart upload: every part with the ETag its PUT returned. The first start completes the upload with them; a retry after a failure needs them no more',
      },
    ),
  }),
  { id: 'StartImportRequest' },
);
export type StartImportRequest = z.infer<typeof StartImportRequestSchema>;

/** What an import shows of its live source: where it is, never how to log in. */
export const LiveSourceSchema = meta(
  z.object({
    host: text(253),
    port: int64(1, 65535),
    database: text(63),
    username: text(63),
    tls: z.boolean(),
  }),
  { id: 'LiveImportSource' },
);
export type LiveSource = z.infer<typeof LiveSourceSchema>;

export const ImportSchema = meta(
  z.object({
    id: IdTextSchema,
    projectId: text(63),
    addonId: IdTextSchema,
    kind: z.enum(['upload', 'live']),
    status: ImportStatusSchema,
    engine: EngineSchema,
    format: ImportFormatSchema,
    compression: meta(z.nullable(CompressionSchema), {
      description:
        'Of a dump: as declared, else detected when the import starts; null for an uncompressed dump and for RDB files',
    }),
    contents: meta(z._default(z.nullable(DumpContentsSchema), null), {
      description: 'What the file holds, detected from its contents when the import starts',
    }),
    sizeBytes: meta(z.nullable(int64(1)), {
      description: 'The size declared at creation; the uploaded file must match it. Null for a live import',
    }),
    source: meta(z._default(z.nullable(LiveSourceSchema), null), {
      description: 'Of a live import: where the data comes from (never the password); null for uploads',
    }),
    sha256: meta(z.nullable(Sha256Schema), {
      description: 'As given when the import was started, if it was',
    }),
    operationId: meta(z.nullable(IdTextSchema), { description: 'The restore operation of the last start' }),
    expiresAt: meta(TimestampSchema, {
      description:
        'Until when it can be started (again, after a failure); then the file and the import are deleted',
    }),
    error: z.nullable(z.object({ code: ErrorCodeSchema, message: MessageSchema })),
    createdAt: TimestampSchema,
    startedAt: z.nullable(TimestampSchema),
    completedAt: z.nullable(TimestampSchema),
  }),
  { id: 'Import' },
);
export type Import = z.infer<typeof ImportSchema>;

export const ImportPageSchema = pageOf(ImportSchema, 'ImportPage');

export const ImportUploadSchema = meta(
  z.object({
    import: ImportSchema,
    uploadUrl: meta(z.optional(z.url().check(z.maxLength(8192))), {
      description:
        'Presigned S3 PUT URL: send the file as the body, with exactly `sizeBytes` as Content-Length. Absent for a multipart upload',
    }),
    multipart: meta(
      z.optional(
        z.object({
          partSizeBytes: meta(int64(1), { description: 'Every part but the last has exactly this size' }),
          parts: z
            .array(
              z.object({
                partNumber: int32(1, MAX_UPLOAD_PARTS),
                sizeBytes: int64(1),
                url: meta(z.url().check(z.maxLength(8192)), {
                  description:
                    'Presigned S3 UploadPart URL: PUT bytes [(partNumber-1)*partSizeBytes, +sizeBytes) of the file, keep the ETag response header',
                }),
              }),
            )
            .check(z.maxLength(MAX_UPLOAD_PARTS)),
        }),
      ),
      {
        description:
          'A multipart upload: PUT each part to its URL (in any order, in parallel), then start the import with the parts and their ETags',
      },
    ),
    uploadHeaders: meta(z.record(text(64), text(256)), {
      description: 'Headers the PUT must carry (they are part of the signature)',
    }),
    expiresAt: meta(TimestampSchema, { description: 'When the upload URL stops working' }),
  }),
  { id: 'ImportUpload' },
);
export type ImportUpload = z.infer<typeof ImportUploadSchema>;

/** What creating a live import answers: the import, to be started (no upload URL). */
export const LiveImportCreatedSchema = meta(z.object({ import: ImportSchema }), { id: 'LiveImportCreated' });

export const ImportWithOperationSchema = meta(
  z.object({ import: ImportSchema, operation: OperationSchema }),
  { id: 'ImportWithOperation' },
);

export const ImportPathSchema = z.object({
  projectId: ProjectIdSchema,
  addonId: AddonIdSchema,
  importId: ImportIdSchema,
});
