import { createHash, createHmac } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Where a small command sends its requests, and as whom (the local emulator's key by default). */
export interface S3RequestTarget {
  endpoint: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

export interface S3Response {
  status: number;
  headers: IncomingHttpHeaders;
  /** The response body as text (an error's XML); empty for HEAD. */
  body: string;
}

const hmac = (key: Buffer | string, text: string) => createHmac('sha256', key).update(text).digest();
const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');
/** RFC 3986 escaping, as SigV4 wants for each segment of the path. */
const escapeSegment = (segment: string) =>
  encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * SigV4 headers for a path-style S3 request whose body is not hashed (UNSIGNED-PAYLOAD): host,
 * the x-amz-* headers and any others given are signed.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 */
export const signS3Request = (
  target: S3RequestTarget,
  method: string,
  path: string,
  headers: Record<string, string>,
  now: Date = new Date(),
): Record<string, string> => {
  const { host } = new URL(target.endpoint);
  const region = target.region ?? 'local';
  const amzDate = now.toISOString().replace(/[-:]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/s3/aws4_request`;
  const signed: Record<string, string> = {
    ...Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value.trim()])),
    host,
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    'x-amz-date': amzDate,
  };
  const names = Object.keys(signed).sort();
  const signedHeaders = names.join(';');
  const canonical = [
    method,
    path,
    '',
    ...names.map((name) => `${name}:${signed[name]}`),
    '',
    signedHeaders,
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  let key: Buffer = hmac(`AWS4${target.secretAccessKey ?? 'S3RVER'}`, day);
  for (const part of [region, 's3', 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  return {
    ...signed,
    authorization: `AWS4-HMAC-SHA256 Credential=${target.accessKeyId ?? 'S3RVER'}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
};

/**
 * One signed S3 request (HEAD, PUT...) of `bucket`/`key`, path-style, with `body` sent as is.
 * For a short-lived local command (the WAL archive command, one per segment): the SDK's S3
 * client is most of such a command's start-up (0.24 s of CPU per run with it, bundled), and the
 * command needs two requests of it. Resolves with any status: the caller decides what it means.
 */
export const s3Request = (
  target: S3RequestTarget,
  method: string,
  bucket: string,
  key: string,
  { headers = {}, body }: { headers?: Record<string, string>; body?: Buffer } = {},
): Promise<S3Response> => {
  const path = `/${[bucket, ...key.split('/')].map(escapeSegment).join('/')}`;
  const url = new URL(path, target.endpoint);
  const all = signS3Request(target, method, path, {
    ...headers,
    ...(body ? { 'content-length': String(body.length) } : {}),
  });
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method, headers: all }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
};
