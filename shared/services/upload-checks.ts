import { ConflictError, UnsupportedError } from '../errors.ts';
import type { Compression } from '../schemas/backup.ts';
import type { DumpContents, StartImportRequest } from '../schemas/import.ts';
import type { ImportRecord } from '../store/import-store.ts';
import { detectUpload, SNIFF_BYTES } from './import-contents.ts';
import type { ImportServiceDeps } from './import-service.ts';

/** What checking and completing an upload needs of the import service's dependencies. */
export type UploadCheckDeps = Pick<ImportServiceDeps, 'uploads' | 'multipart' | 'imports'>;

/**
 * The parts a multipart import is started with: each of 1..count exactly once (S3 checks their
 * ETags; the local emulator does not, nor does it refuse a missing part readably).
 */
const checkParts = (parts: Array<{ partNumber: number }>, count: number) => {
  const numbers = new Set(parts.map((part) => part.partNumber));
  const complete = parts.length === count && numbers.size === count && [...numbers].every((n) => n <= count);
  if (!complete) {
    throw new UnsupportedError(`The upload has ${count} parts: send each of parts 1 to ${count} once`, [
      { path: 'body.parts', message: `must list parts 1 to ${count}, each once, with its ETag` },
    ]);
  }
};

/** Whether the bytes start like an RDB file: `REDIS` then a four-digit format version. */
export const looksLikeRdb = (head: Buffer): boolean => /^REDIS\d{4}$/.test(head.toString('latin1', 0, 9));

/**
 * What the uploaded file is, checked before the addon is locked: its size, then its compression
 * and the format inside (dumps) or its RDB header, all from its first bytes.
 */
export const inspectUpload = async (
  deps: UploadCheckDeps,
  record: ImportRecord,
): Promise<{ compression: Compression | null; contents: DumpContents }> => {
  const size = await deps.uploads.size(record.object);
  if (size === undefined) {
    throw new ConflictError(
      `Nothing was uploaded for import ${record.id} yet: PUT the file to its upload URL${record.uploadId ? 's and start the import with its parts' : ''} first`,
      { field: 'upload' },
    );
  }
  if (size !== record.sizeBytes) {
    throw new UnsupportedError(
      `The uploaded file is ${size} bytes, the import declared ${record.sizeBytes}`,
      [{ path: 'sizeBytes', message: `declared ${record.sizeBytes}, uploaded ${size}` }],
    );
  }
  const head = await deps.uploads.head(record.object, SNIFF_BYTES);
  if (record.format === 'redis-rdb') {
    if (!looksLikeRdb(head)) {
      throw new UnsupportedError(
        'The uploaded file is not an RDB file (it does not start with REDIS and a version)',
        [{ path: 'upload', message: 'is not an RDB file' }],
      );
    }
    return { compression: null, contents: 'redis-rdb' };
  }
  const detected = await detectUpload(record.engine, head);
  if (record.compression && record.compression !== detected.compression) {
    const found = detected.compression ?? 'uncompressed';
    throw new UnsupportedError(`The import declared ${record.compression}, the uploaded file is ${found}`, [
      { path: 'compression', message: `declared ${record.compression}, the file is ${found}` },
    ]);
  }
  return detected;
};

/** A multipart upload is completed with the client's parts the first time the import starts. */
export const completeUpload = async (
  deps: UploadCheckDeps,
  record: ImportRecord,
  request: StartImportRequest,
): Promise<ImportRecord> => {
  if (!record.uploadId || !deps.multipart) return record;
  if ((await deps.uploads.size(record.object)) === undefined) {
    if (!request.parts) {
      throw new ConflictError(
        `Import ${record.id} is a multipart upload: start it with body.parts, each part's number and ETag`,
        { field: 'parts' },
      );
    }
    checkParts(request.parts, record.uploadParts ?? 0);
    await deps.multipart.complete(record.object, record.uploadId, request.parts);
  }
  return deps.imports.updateImport(record, { uploadId: null });
};
