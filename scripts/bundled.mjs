// Runs a TypeScript entry point of this project from an esbuild bundle of its sources, built into
// `.build/<name>-<digest>/` when an input changed; the npm packages stay in node_modules.
// `npm start` (infra/local/start.mjs) runs the platform this way, and `addons` (cli/bin.js) the CLI.
//
// Why not tsx: through tsx every module is resolved and loaded by its hooks, on each start again.
// Measured on the 2-core machine (load about 3): the platform's modules loaded in 2.4 s and 3.0 s
// of CPU through tsx, 1.5 s and 1.5 s from the bundle; a CLI call took 0.15 s instead of 0.55 s (load 1).
//
// Plain JavaScript, so that Node.js runs it with nothing registered. Bundling keeps what the
// sources mean: each module's `import.meta.url` is its source file's URL (the paths the platform
// computes from it stay right), except in the modules named `ownUrl`, which need the URL of the
// file they run from (emulator-thread.ts starts a worker on its own file: the bundle's, then).
// Source maps are on, so a stack trace names the TypeScript line.
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

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BUILDS = join(ROOT, '.build');
/** Builds other than the current one are removed once this old (a running process may still load from one). */
const STALE_BUILD_MS = 24 * 60 * 60 * 1000;

const stamp = (file) => {
  const stat = statSync(join(ROOT, file), { throwIfNoEntry: false });
  return stat ? `${stat.size}:${stat.mtimeMs}` : 'missing';
};

/** Which build of `name` is current, and the project files it was built from (path, size, mtime). */
const pointerOf = (name) => join(BUILDS, `${name}.json`);

/** The current build's directory when every source it was made of is unchanged. */
const currentBuild = (name, entries) => {
  try {
    const { dir, inputs } = JSON.parse(readFileSync(pointerOf(name), 'utf8'));
    const fresh =
      Object.keys(entries).every((entry) => existsSync(join(BUILDS, dir, `${entry}.mjs`))) &&
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
const sourceUrls = (transform, ownUrl) => ({
  name: 'source-urls',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      const file = relative(ROOT, args.path);
      if (file.startsWith('..') || file.includes('node_modules') || ownUrl.includes(file)) return undefined;
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
 * Build into a fresh directory named after the output's digest, then point at it. Two processes
 * starting at once (the test files) may both build: the same sources give the same directory,
 * and the pointer is replaced whole (written aside, then renamed).
 */
const build = async (name, entries, ownUrl) => {
  const { build: esbuild, transform } = await import('esbuild');
  mkdirSync(BUILDS, { recursive: true });
  const scratch = join(BUILDS, `.tmp-${process.pid}-${Date.now()}`);
  try {
    const result = await esbuild({
      absWorkingDir: ROOT,
      entryPoints: Object.fromEntries(
        Object.entries(entries).map(([entry, file]) => [entry, join(ROOT, file)]),
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
      plugins: [sourceUrls(transform, ownUrl)],
    });
    const digest = createHash('sha256');
    for (const [file, output] of Object.entries(result.metafile.outputs).sort()) {
      digest.update(`${relative(scratch, join(ROOT, file))}:${output.bytes}\n`);
      digest.update(readFileSync(join(ROOT, file)));
    }
    const dir = `${name}-${digest.digest('hex').slice(0, 16)}`;
    try {
      renameSync(scratch, join(BUILDS, dir));
    } catch (error) {
      // Built by another start meanwhile: the same sources, the same files.
      if (!existsSync(join(BUILDS, dir))) throw error;
    }
    const inputs = Object.fromEntries(Object.keys(result.metafile.inputs).map((file) => [file, stamp(file)]));
    const pointer = `${pointerOf(name)}.${process.pid}`;
    writeFileSync(pointer, JSON.stringify({ dir, inputs }));
    renameSync(pointer, pointerOf(name));
    removeOldBuilds(name, dir);
    return join(BUILDS, dir);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
};

const removeOldBuilds = (name, current) => {
  for (const entry of readdirSync(BUILDS)) {
    if (entry === current || !(entry.startsWith(`${name}-`) || entry.startsWith('.tmp-'))) continue;
    const path = join(BUILDS, entry);
    if (Date.now() - statSync(path).mtimeMs > STALE_BUILD_MS) rmSync(path, { recursive: true, force: true });
  }
};

/**
 * The URL of entry point `main` of the current build named `name`, built first when a source
 * changed. `entries` maps each output's name to its source (relative to the project's root).
 * Throws when it cannot build (no esbuild, a read-only checkout, a compile error).
 */
export const bundledEntry = async ({ name, entries, ownUrl = [], main = 'main' }) => {
  const dir = currentBuild(name, entries) ?? (await build(name, entries, ownUrl));
  process.setSourceMapsEnabled(true);
  return pathToFileURL(join(dir, `${main}.mjs`)).href;
};
