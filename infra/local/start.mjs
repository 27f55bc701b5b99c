#!/usr/bin/env node
// `npm start`: runs the local platform (infra/local/main.ts) from an esbuild bundle of its
// TypeScript sources, built here when they changed; the npm packages stay in node_modules.
//
// Why not tsx, as the CLI and the scripts run: through tsx every module is resolved and loaded by
// its hooks, on the main thread and on each emulator thread again. Measured on the 2-core machine
// (load about 3): the platform's modules loaded in 2.4 s and 3.0 s of CPU through tsx, 1.5 s and
// 1.5 s from the bundle, and the emulator threads no longer register tsx at all. Every `npm start`
// and every end-to-end test file's platform pays that.
//
// Plain JavaScript, so that Node.js runs it with nothing registered. Bundling keeps what the
// sources mean: each module's `import.meta.url` is its source file's URL (the paths the platform
// computes from it stay right), except in emulator-thread.ts, which starts a worker on its own
// file (the bundle's, then). Source maps are on, so a stack trace names the TypeScript line.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILDS = join(ROOT, '.build');
/** Which build is current, and the project files it was built from (path, size, mtime). */
const POINTER = join(BUILDS, 'platform.json');
const ENTRIES = { main: 'infra/local/main.ts', 'emulator-thread': 'infra/local/emulator-thread.ts' };
/** Modules that need the URL of the file they run from, not of their source. */
const OWN_URL = new Set(['infra/local/emulator-thread.ts']);
/** Builds other than the current one are removed once this old (a running platform may still load from one). */
const STALE_BUILD_MS = 24 * 60 * 60 * 1000;

const stamp = (file) => {
  const stat = statSync(join(ROOT, file), { throwIfNoEntry: false });
  return stat ? `${stat.size}:${stat.mtimeMs}` : 'missing';
};

/** The current build's directory when every source it was made of is unchanged. */
const currentBuild = () => {
  try {
    const { dir, inputs } = JSON.parse(readFileSync(POINTER, 'utf8'));
    const fresh =
      existsSync(join(BUILDS, dir, 'main.mjs')) &&
      Object.entries(inputs).every(([file, seen]) => stamp(file) === seen);
    return fresh ? join(BUILDS, dir) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Each module's `import.meta.url` becomes its source file's URL: the module is compiled alone with
 * that expression defined (in code only, not in strings), with an inline source map, which the
 * bundle's source map then follows back to the TypeScript.
 */
const sourceUrls = (transform) => ({
  name: 'source-urls',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      const file = relative(ROOT, args.path);
      if (file.startsWith('..') || file.includes('node_modules') || OWN_URL.has(file)) return undefined;
      const contents = readFileSync(args.path, 'utf8');
      if (!contents.includes('import.meta.url')) return undefined;
      const compiled = await transform(contents, {
        loader: 'ts',
        format: 'esm',
        sourcefile: args.path,
        sourcemap: 'inline',
        define: { 'import.meta.url': JSON.stringify(pathToFileURL(args.path).href) },
      });
      return { contents: compiled.code, loader: 'js' };
    });
  },
});

/**
 * Build into a fresh directory named after the output's digest, then point at it. Two platforms
 * starting at once (the test files) may both build: the same sources give the same directory,
 * and the pointer is replaced whole (written aside, then renamed).
 */
const build = async () => {
  const { build: esbuild, transform } = await import('esbuild');
  mkdirSync(BUILDS, { recursive: true });
  const scratch = join(BUILDS, `.tmp-${process.pid}-${Date.now()}`);
  try {
    const result = await esbuild({
      absWorkingDir: ROOT,
      entryPoints: Object.fromEntries(
        Object.entries(ENTRIES).map(([name, file]) => [name, join(ROOT, file)]),
      ),
      outdir: scratch,
      outExtension: { '.js': '.mjs' },
      chunkNames: 'chunks/[name]-[hash]',
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      sourcemap: 'linked',
      metafile: true,
      logLevel: 'warning',
      plugins: [sourceUrls(transform)],
    });
    const digest = createHash('sha256');
    for (const [file, output] of Object.entries(result.metafile.outputs).sort()) {
      digest.update(`${relative(scratch, join(ROOT, file))}:${output.bytes}\n`);
      digest.update(readFileSync(join(ROOT, file)));
    }
    const dir = `platform-${digest.digest('hex').slice(0, 16)}`;
    try {
      renameSync(scratch, join(BUILDS, dir));
    } catch (error) {
      // Built by another start meanwhile: the same sources, the same files.
      if (!existsSync(join(BUILDS, dir, 'main.mjs'))) throw error;
    }
    const inputs = Object.fromEntries(Object.keys(result.metafile.inputs).map((file) => [file, stamp(file)]));
    const pointer = `${POINTER}.${process.pid}`;
    writeFileSync(pointer, JSON.stringify({ dir, inputs }));
    renameSync(pointer, POINTER);
    removeOldBuilds(dir);
    return join(BUILDS, dir);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
};

const removeOldBuilds = (current) => {
  for (const entry of readdirSync(BUILDS)) {
    if (entry === current || !/^(platform-|\.tmp-)/.test(entry)) continue;
    const path = join(BUILDS, entry);
    if (Date.now() - statSync(path).mtimeMs > STALE_BUILD_MS) rmSync(path, { recursive: true, force: true });
  }
};

const dir = currentBuild() ?? (await build());
process.setSourceMapsEnabled(true);
await import(pathToFileURL(join(dir, 'main.mjs')).href);
