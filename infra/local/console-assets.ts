import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

/**
 * The web console's static files on the local target: `/` is its index.html, `/console/*` its
 * hashed bundles and `/console/config.json` (answered here: same-origin API, token sign-in).
 * Neither path can collide with an API route (`/v1/*`, `/docs`, `/health`, `/openapi.json`),
 * and the console's own pages are hash routes (`/#/projects/...`), so the server never sees them.
 */
export interface ConsoleAssets {
  /** The built console (`console/dist`, see console/build.ts). */
  dir: string;
  /**
   * The S3 emulator's origin: the console PUTs an import's file to a presigned URL there, so the
   * content security policy lets the page connect to it (and to nothing else but itself).
   */
  storageOrigin?: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
};

/**
 * The console loads nothing from elsewhere and connects only to itself and the S3 emulator
 * (uploads); Radix's scroll lock adds a <style> element.
 */
const securityHeaders = (storageOrigin?: string) => ({
  'content-security-policy': `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'${storageOrigin ? ` ${storageOrigin}` : ''}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
});

export const isConsolePath = (method: string, path: string) =>
  (method === 'get' || method === 'head') &&
  (path === '/' || path === '/index.html' || path.startsWith('/console/'));

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Console not built</title>
<body><h1>The console is not built</h1><p><code>npm start</code> builds it; or run <code>npm run console:build</code> and reload.</p></body></html>`;

/** Serves one console path; answers 404 for a file that is not there. */
export const serveConsole = async (
  assets: ConsoleAssets,
  method: string,
  path: string,
  res: ServerResponse,
  extra: Record<string, string>,
): Promise<void> => {
  const send = (status: number, type: string, body: Buffer | string, cache: string) => {
    res.writeHead(status, {
      'content-type': type,
      'cache-control': cache,
      'content-length': String(Buffer.byteLength(body)),
      ...securityHeaders(assets.storageOrigin),
      ...extra,
    });
    res.end(method === 'head' ? undefined : body);
  };
  if (path === '/console/config.json') {
    return send(
      200,
      TYPES['.json'] as string,
      JSON.stringify({ apiUrl: '', signIn: { kind: 'token' } }),
      'no-store',
    );
  }
  if (path === '/' || path === '/index.html') {
    const index = join(assets.dir, 'index.html');
    if (!existsSync(index)) return send(503, TYPES['.html'] as string, NOT_BUILT, 'no-store');
    return send(200, TYPES['.html'] as string, await readFile(index), 'no-cache');
  }
  let file: string;
  try {
    file = normalize(join(assets.dir, decodeURIComponent(path)));
  } catch {
    return send(404, 'text/plain; charset=utf-8', 'Not found', 'no-store');
  }
  const type = TYPES[extname(file)];
  if (!file.startsWith(join(assets.dir, 'console') + sep) || !type || !existsSync(file)) {
    return send(404, 'text/plain; charset=utf-8', 'Not found', 'no-store');
  }
  // Bundle names carry their content hash: a new build is a new name.
  return send(200, type, await readFile(file), 'public, max-age=31536000, immutable');
};
