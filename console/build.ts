/**
 * Builds the web console into `console/dist` with esbuild: one hashed JS bundle and one hashed
 * CSS file under `dist/console/`, and `dist/index.html` pointing at them. The layout is the one
 * served both locally (infra/local/gateway.ts: `/` and `/console/*`) and from S3 + CloudFront
 * on AWS, so the same files work in both places; `console/config.json` (API URL and sign-in
 * kind) is written per target, never built in.
 *
 * Synchronous on purpose: the CDK stack builds it while synthesizing (an asset must exist),
 * and `npm start` builds it when missing or stale.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

import { CONSOLE_DIST, CONSOLE_ROOT } from './paths.ts';

export { CONSOLE_DIST, CONSOLE_ROOT };

const PROJECT_ROOT = join(CONSOLE_ROOT, '..');
/** What the bundle is made of: a change to any of these makes the build stale. */
const SOURCES = [
  join(CONSOLE_ROOT, 'src'),
  join(PROJECT_ROOT, 'client'),
  join(PROJECT_ROOT, 'package-lock.json'),
];
const STAMP = join(CONSOLE_DIST, '.sources');

const listFiles = (path: string): string[] => {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true }).flatMap((entry) =>
    entry.name === 'node_modules' ? [] : listFiles(join(path, entry.name)),
  );
};

/** A digest of the sources' paths, sizes and modification times: cheap, and enough to spot edits. */
const sourcesDigest = () => {
  const hash = createHash('sha256');
  for (const file of SOURCES.flatMap(listFiles).sort()) {
    const stat = statSync(file);
    hash.update(`${relative(PROJECT_ROOT, file)}:${stat.size}:${stat.mtimeMs}\n`);
  }
  return hash.digest('hex');
};

export const consoleIsStale = () =>
  !existsSync(join(CONSOLE_DIST, 'index.html')) ||
  !existsSync(STAMP) ||
  readFileSync(STAMP, 'utf8') !== sourcesDigest();

const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

export interface ConsoleBuild {
  dir: string;
  /** Paths under `dir` of what index.html loads: the first load. */
  initial: string[];
}

export const buildConsole = (): ConsoleBuild => {
  rmSync(CONSOLE_DIST, { recursive: true, force: true });
  const assets = join(CONSOLE_DIST, 'console');
  mkdirSync(assets, { recursive: true });
  const result = buildSync({
    entryPoints: [join(CONSOLE_ROOT, 'src', 'main.tsx')],
    bundle: true,
    minify: true,
    sourcemap: 'linked',
    format: 'esm',
    target: ['es2022', 'chrome111', 'firefox115', 'safari16.4'],
    jsx: 'automatic',
    outdir: assets,
    entryNames: 'app-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    define: { 'process.env.NODE_ENV': '"production"' },
    tsconfig: join(CONSOLE_ROOT, 'tsconfig.json'),
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((path) =>
    relative(CONSOLE_DIST, join(PROJECT_ROOT, path)),
  );
  const script = outputs.find((path) => path.endsWith('.js'));
  const style = outputs.find((path) => path.endsWith('.css'));
  if (!script || !style) throw new Error(`console build: no JS or CSS output in ${outputs.join(', ')}`);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Addons console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${escapeHtml(style)}">
<script type="module" src="${escapeHtml(script)}"></script>
</head>
<body>
<div id="root"></div>
<noscript>The addons console needs JavaScript.</noscript>
</body>
</html>
`;
  writeFileSync(join(CONSOLE_DIST, 'index.html'), html);
  writeFileSync(STAMP, sourcesDigest());
  return { dir: CONSOLE_DIST, initial: ['index.html', script, style] };
};

/** Builds only when the sources changed since the last build. */
export const ensureConsoleBuilt = (): { built: boolean } => {
  if (!consoleIsStale()) return { built: false };
  buildConsole();
  return { built: true };
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = performance.now();
  const built = process.argv.includes('--if-stale') ? ensureConsoleBuilt().built : Boolean(buildConsole());
  console.info(
    built
      ? `console built into ${relative(process.cwd(), CONSOLE_DIST)} in ${Math.round(performance.now() - started)} ms`
      : 'console is up to date',
  );
}
