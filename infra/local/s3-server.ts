import { createReadStream, ReadStream } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { largerWrites, type S3rverStore } from './s3-writes.ts';

/** Where s3rver 3.7 keeps the parts of a bucket's unfinished multipart uploads. */
const uploadsDir = (root: string, bucket: string) => join(root, bucket, '._S3rver_uploads');

const UPLOAD_ID = /^[0-9a-f]{32}$/;

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
}
type Next = () => Promise<unknown>;
type Middleware = (ctx: KoaContext, next: Next) => Promise<unknown>;

/** The part of s3rver 3.7 (a Koa application, no type declarations) used here. */
interface S3rverServer {
  /** Koa's middleware stack, composed when the server starts listening. */
  middleware: Middleware[];
  /** Its file store: getObject opens the object's file (a range of it) as a ReadStream. */
  store: S3rverStore & {
    getObject(...args: unknown[]): Promise<{ content?: NodeJS.ReadableStream | null } | null>;
  };
  httpServer?: { closeAllConnections(): void };
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
}) => S3rverServer;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

const s3Error = (ctx: KoaContext, status: number, code: string, message: string) => {
  ctx.status = status;
  ctx.body = { Error: { Code: code, Message: message } };
};

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * s3rver 3.7 implements neither AbortMultipartUpload nor ListMultipartUploads: an aborted upload
 * would leave its parts on disk forever and nothing could show that it did. This middleware
 * answers both from s3rver's own upload directories, so jobs can abort for real and tests can
 * assert that no upload is left behind.
 */
const multipartHousekeeping =
  (root: string): Middleware =>
  async (ctx, next) => {
    const [, bucket, ...rest] = ctx.path.split('/');
    if (!bucket) return next();
    const key = rest.join('/');
    if (ctx.method === 'DELETE' && key && typeof ctx.query.uploadId === 'string') {
      const uploadId = ctx.query.uploadId;
      const dir = join(uploadsDir(root, bucket), uploadId);
      const ownKey = UPLOAD_ID.test(uploadId)
        ? await readFile(join(dir, 'key'), 'utf8').catch(() => undefined)
        : undefined;
      if (ownKey !== decodeURIComponent(key)) {
        return s3Error(ctx, 404, 'NoSuchUpload', 'The specified multipart upload does not exist.');
      }
      await rm(dir, { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'GET' && !key && 'uploads' in ctx.query) {
      if (!(await exists(join(root, bucket)))) {
        return s3Error(ctx, 404, 'NoSuchBucket', 'The specified bucket does not exist');
      }
      const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
      const ids = await readdir(uploadsDir(root, bucket)).catch(() => [] as string[]);
      const uploads: Array<{ Key: string; UploadId: string; Initiated: string; StorageClass: string }> = [];
      for (const id of ids.sort()) {
        const dir = join(uploadsDir(root, bucket), id);
        const uploadKey = await readFile(join(dir, 'key'), 'utf8').catch(() => undefined);
        if (uploadKey === undefined || !uploadKey.startsWith(prefix)) continue;
        const { birthtime } = await stat(dir);
        uploads.push({
          Key: uploadKey,
          UploadId: id,
          Initiated: birthtime.toISOString(),
          StorageClass: 'STANDARD',
        });
      }
      ctx.status = 200;
      ctx.body = {
        ListMultipartUploadsResult: {
          '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
          Bucket: bucket,
          KeyMarker: '',
          UploadIdMarker: '',
          Prefix: prefix,
          MaxUploads: 1000,
          IsTruncated: false,
          ...(uploads.length ? { Upload: uploads } : {}),
        },
      };
      return;
    }
    return next();
  };

/** The size of each read of an object served (fs.createReadStream's default: 64 KiB). */
const READ_BYTES = 1024 * 1024;

/**
 * s3rver serves an object through a file stream of 64 KiB reads, each one a turn of its thread's
 * event loop, its streams and a socket write: ~4,400 for a 276 MB restore artifact. Reads of 1
 * MiB (the same file and range, opened again) make that 16 times fewer, for 1 MiB of memory per
 * download in flight.
 */
const largerReads = (store: S3rverServer['store']) => {
  const getObject = store.getObject.bind(store);
  store.getObject = async (...args) => {
    const object = await getObject(...args);
    const content = object?.content;
    if (object && content instanceof ReadStream) {
      // The range s3rver opened: Node.js keeps it on the stream (end: Infinity for the whole file).
      const { start, end } = content as ReadStream & { start?: number; end?: number };
      content.destroy();
      object.content = createReadStream(content.path, {
        start,
        ...(end !== undefined && Number.isFinite(end) ? { end } : {}),
        highWaterMark: READ_BYTES,
      });
    }
    return object;
  };
};

/**
 * s3rver on 127.0.0.1 (a free port), persisting under `directory`: what the S3 emulator's thread
 * runs (emulator-thread.ts).
 */
export const serveS3 = async (directory: string): Promise<{ port: number; close(): Promise<void> }> => {
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  // Koa composes its middleware when the server starts listening: insert ours just before the
  // router (the last one), after s3rver's logging, XML encoding and host rewriting.
  server.middleware.splice(server.middleware.length - 1, 0, multipartHousekeeping(directory));
  largerReads(server.store);
  largerWrites(server.store);
  const { port } = await server.run();
  return {
    port,
    close: async () => {
      // Keep-alive sockets of the clients would hold close() open until they time out.
      const closed = server.close();
      server.httpServer?.closeAllConnections();
      await closed;
    },
  };
};
