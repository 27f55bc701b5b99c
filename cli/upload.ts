import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CliError, EXIT } from './exit-codes.ts';

/** The SHA-256 of a file, read as a stream. */
export const sha256File = async (path: string): Promise<string> => {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
};

/**
 * PUTs bytes [start, start + length) of a file to a presigned URL with an exact Content-Length
 * (the signature covers it), streaming from disk. Returns the ETag S3 answered with.
 * node:http rather than fetch: fetch sends a streamed body chunked, without the length S3 needs.
 */
export const putFileRange = (
  url: string,
  path: string,
  start: number,
  length: number,
  headers: Record<string, string> = {},
): Promise<string> =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const put = send(
      target,
      { method: 'PUT', headers: { ...headers, 'content-length': String(length) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          if ((response.statusCode ?? 0) >= 300) {
            reject(
              new CliError(
                `Upload failed: HTTP ${response.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`,
                EXIT.api,
              ),
            );
          } else {
            resolve(String(response.headers.etag ?? ''));
          }
        });
      },
    );
    put.on('error', (error) => reject(new CliError(`Upload failed: ${error.message}`, EXIT.api)));
    if (length === 0) {
      put.end();
      return;
    }
    createReadStream(path, { start, end: start + length - 1 })
      .on('error', (error) => {
        put.destroy();
        reject(new CliError(`Cannot read ${path}: ${error.message}`, EXIT.local));
      })
      .pipe(put);
  });
