/**
 * Issue 12 benchmark: what the web console's first load transfers. The console is built as
 * `npm start` and the CDK stack build it, served compressed as CloudFront serves it (gzip;
 * brotli shown for reference), and loaded in Debian's Chromium until the sign-in page is up;
 * every JS and CSS response the browser received counts, at the size it crossed the wire.
 * Goal: under 300 KB of compressed JS + CSS. BENCH_STRICT=1 makes a missed goal fail the run.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { buildConsole } from '../../console/build.ts';

const GOAL = 300 * 1024;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
};

const started = performance.now();
const build = buildConsole();
console.info(`console built in ${Math.round(performance.now() - started)} ms`);

// A static server like CloudFront in front of the bucket: gzip for clients that accept it.
const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/console/config.json') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ apiUrl: '', signIn: { kind: 'token' } }));
    return;
  }
  const file = normalize(join(build.dir, path === '/' ? 'index.html' : path));
  if (!file.startsWith(build.dir)) {
    res.writeHead(404).end();
    return;
  }
  let body: Buffer;
  try {
    body = readFileSync(file);
  } catch {
    res.writeHead(404).end();
    return;
  }
  const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding']));
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    ...(gzip ? { 'content-encoding': 'gzip' } : {}),
  });
  res.end(gzip ? gzipSync(body) : body);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const page = await browser.newPage();
const responses: Array<{ url: string; type: string; bytes: number; raw: number }> = [];
page.on('requestfinished', async (request) => {
  const type = request.resourceType();
  const sizes = await request.sizes();
  const path = new URL(request.url()).pathname;
  const raw = path === '/' || path.endsWith('config.json') ? 0 : readFileSync(join(build.dir, path)).length;
  responses.push({ url: path, type, bytes: sizes.responseBodySize, raw });
});
const loadStarted = performance.now();
await page.goto(url);
await page.getByRole('heading', { name: 'Sign in' }).waitFor();
const loadMs = performance.now() - loadStarted;
await browser.close();
server.close();

const assets = responses.filter((response) => response.type === 'script' || response.type === 'stylesheet');
const total = assets.reduce((sum, response) => sum + response.bytes, 0);
console.info(`\nfirst load of the console (sign-in page up in ${loadMs.toFixed(0)} ms, local server)\n`);
console.info(
  `${'file'.padEnd(36)} ${'type'.padEnd(11)} ${'raw'.padStart(10)} ${'gzip'.padStart(10)} ${'brotli'.padStart(10)}`,
);
for (const response of responses) {
  const brotli = response.raw ? brotliCompressSync(readFileSync(join(build.dir, response.url))).length : 0;
  console.info(
    `${response.url.padEnd(36)} ${response.type.padEnd(11)} ${kb(response.raw).padStart(10)} ${kb(response.bytes).padStart(10)} ${kb(brotli).padStart(10)}`,
  );
}
const ok = total < GOAL;
console.info(`\nJS + CSS transferred: ${kb(total)} (goal: under ${kb(GOAL)}) ${ok ? 'ok' : 'MISSED'}`);
if (!ok && process.env.BENCH_STRICT === '1') process.exit(1);
