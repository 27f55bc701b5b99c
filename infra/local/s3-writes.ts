import { createHash, randomBytes } from 'node:crypto';
import {
  copyFile,
  type FileHandle,
  mkdir,
  open,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

interface StoredObject {
  bucket: string;
  key: string;
  /** A request's body as it arrives, or bytes already in memory. */
  content: NodeJS.ReadableStream | Buffer;
  metadata: Record<string, unknown>;
}

/** The part of s3rver 3.7's file store whose writes are replaced here. */
export interface S3rverStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, unknown>, md5?: string): Promise<void>;
  putObject(object: StoredObject): Promise<{ size: number; md5: string }>;
  putPart(
    bucket: string,
    uploadId: string,
    partNumber: number | string,
    content: NodeJS.ReadableStream,
  ): Promise<{ size: number; md5: string }>;
  putObjectMultipart(
    bucket: string,
    uploadId: string,
    parts: Array<{ number: number; etag: string }>,
  ): Promise<{ size: number; md5: string }>;
}

const require = createRequire(import.meta.url);
/** s3rver's object model: the metadata an object keeps (content type defaulted, x-amz-meta-*). */
const S3Object = require('s3rver/lib/models/object') as new (
  bucket: string,
  key: string,
  content: null,
  metadata: Record<string, unknown>,
) => { metadata: Record<string, unknown> };
/** s3rver's error: an S3 error code, answered with its status and XML body. */
const S3Error = require('s3rver/lib/models/error') as new (code: string, message: string) => Error;

/**
 * Bytes per write of a request body (the last one aside), and per read and write while parts are
 * appended into their object. Larger buffers cost the kernel more, not less: writing a 276 MB
 * upload in 4 MiB writes (and copying its parts in 8 MiB) took 1.2-1.4 s of system CPU in the
 * thread pool, in 1 MiB 0.2-0.3 s (it no longer fits the CPU's caches between the read and the write).
 */
const WRITE_BYTES = 1024 * 1024;
const COPY_BYTES = 1024 * 1024;

const missing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

const writeAll = async (file: FileHandle, bytes: Buffer): Promise<void> => {
  for (let written = 0; written < bytes.length; ) {
    written += (await file.write(bytes, written, bytes.length - written)).bytesWritten;
  }
};

const partialName = (path: string) => `${path}.${randomBytes(6).toString('hex')}.partial`;

/**
 * A request body into `path`, with its size and MD5 (the ETag); on a failure the file is removed.
 * s3rver 3.7 wrote each chunk as the socket gave it, 64 KiB, each one a write handed to the thread
 * pool: for a 276 MB dump 4,400 hand-offs, which cost the emulator's thread more than the MD5.
 * Here chunks are gathered into writes of 1 MiB, one in flight while the next is read.
 */
const writeBody = async (content: AsyncIterable<Buffer>, path: string) => {
  const file = await open(path, 'w');
  const md5 = createHash('md5');
  let size = 0;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let writing: Promise<void> = Promise.resolve();
  const flush = async () => {
    await writing;
    writing = writeAll(file, batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch, batchBytes));
    batch = [];
    batchBytes = 0;
  };
  try {
    try {
      for await (const chunk of content) {
        md5.update(chunk);
        size += chunk.length;
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= WRITE_BYTES) await flush();
      }
      if (batchBytes > 0) await flush();
      await writing;
    } finally {
      // A write still in flight after a failure settles before the file is closed.
      await writing.catch(() => undefined);
      await file.close();
    }
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  return { size, md5: md5.digest('hex') };
};

/**
 * CompleteMultipartUpload without reading the artifact through JavaScript again. s3rver 3.7
 * streamed every part back through its thread in 64 KiB chunks, computed the MD5 of the whole
 * object (each part's was already computed as it arrived) and wrote it anew: for a 276 MB dump,
 * 4,400 turns of the emulator's event loop and 0.4 s of MD5, while the job waited for the answer.
 *
 * Here the parts are copied into the object in the thread pool (the first with copyFile, the
 * rest appended in 1 MiB reads and writes, no hashing), and the ETag is what S3 answers for a multipart object:
 * the MD5 of the parts' binary MD5s, a dash and the number of parts (not an MD5 of the content).
 * The object is assembled in the upload's directory and renamed into place once its metadata is
 * written, so a reader sees no object or the whole one; a part missing answers InvalidPart, as S3
 * does, with the upload left as it was.
 */
export const assembleParts =
  (store: S3rverStore): S3rverStore['putObjectMultipart'] =>
  async (bucket, uploadId, parts) => {
    const uploadDir = join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
    const [key, metadata] = await Promise.all([
      readFile(join(uploadDir, 'key'), 'utf8'),
      readFile(join(uploadDir, 'metadata'), 'utf8').then(
        (text) => JSON.parse(text) as Record<string, unknown>,
      ),
    ]).catch((error: unknown) => {
      if (missing(error)) throw new S3Error('NoSuchUpload', 'The specified multipart upload does not exist.');
      throw error;
    });
    const object = new S3Object(bucket, key, null, metadata);
    const numbers = [...parts].sort((a, b) => a.number - b.number).map((part) => part.number);
    const md5s = await Promise.all(
      numbers.map((number) =>
        readFile(join(uploadDir, `${number}.md5`), 'utf8').catch((error: unknown) => {
          if (!missing(error)) throw error;
          throw new S3Error('InvalidPart', `Part ${number} of the upload was not uploaded.`);
        }),
      ),
    );
    const etag = `${createHash('md5')
      .update(Buffer.concat(md5s.map((md5) => Buffer.from(md5.trim(), 'hex'))))
      .digest('hex')}-${numbers.length}`;

    const assembled = join(uploadDir, 'object');
    const [first, ...rest] = numbers;
    if (first === undefined) throw new S3Error('MalformedXML', 'The upload lists no parts.');
    // The parts stay as they are until the object is in place: a completion that fails can be retried.
    await copyFile(join(uploadDir, String(first)), assembled);
    const output = await open(assembled, 'a');
    try {
      const buffer = Buffer.allocUnsafe(COPY_BYTES);
      for (const number of rest) {
        const input = await open(join(uploadDir, String(number)), 'r');
        try {
          for (;;) {
            const { bytesRead } = await input.read(buffer, 0, COPY_BYTES, null);
            if (bytesRead === 0) break;
            await writeAll(output, buffer.subarray(0, bytesRead));
          }
        } finally {
          await input.close();
        }
      }
    } finally {
      await output.close();
    }
    const { size } = await stat(assembled);
    const objectPath = store.getResourcePath(bucket, key, 'object');
    await mkdir(dirname(objectPath), { recursive: true });
    await store.putMetadata(bucket, key, object.metadata, etag);
    await rename(assembled, objectPath);
    await rm(uploadDir, { recursive: true, force: true });
    return { size, md5: etag };
  };

/**
 * PutObject, UploadPart and CompleteMultipartUpload of s3rver's file store, replaced. A body is
 * written under a temporary name and renamed into place once whole (s3rver wrote it in place: a
 * request that broke off left a truncated object or part behind); an object's metadata, its MD5
 * among it, is written before the object is renamed into place, so no reader sees the one
 * without the other. Bytes in memory (a form upload) still go through s3rver's own putObject.
 */
export const largerWrites = (store: S3rverStore): void => {
  const putObject = store.putObject.bind(store);
  store.putObject = async (object) => {
    if (Buffer.isBuffer(object.content)) return putObject(object);
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(objectPath), { recursive: true });
    const partial = partialName(objectPath);
    const written = await writeBody(object.content as AsyncIterable<Buffer>, partial);
    try {
      await store.putMetadata(object.bucket, object.key, object.metadata, written.md5);
      await rename(partial, objectPath);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    return written;
  };
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const partPath = join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber));
    await mkdir(dirname(partPath), { recursive: true });
    const partial = partialName(partPath);
    const written = await writeBody(content as AsyncIterable<Buffer>, partial);
    await rename(partial, partPath);
    await writeFile(`${partPath}.md5`, written.md5);
    return written;
  };
  store.putObjectMultipart = assembleParts(store);
};
