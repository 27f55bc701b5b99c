import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const JOB_SOURCE = join(PROJECT_ROOT, 'functions/jobs/main.ts');
/**
 * Inside the project, so the bundle's imports of npm packages resolve from the project's own
 * node_modules, exactly as the TypeScript sources' do.
 */
const CACHE_DIR = join(PROJECT_ROOT, 'node_modules/.cache/addons-jobs');
/** Bundles kept besides the current one: another platform of the same checkout may still use them. */
const KEEP = 8;

/** How the local job runner starts a job: `node <args>`. */
export interface JobCommand {
  args: string[];
  /** Why the job runs from its TypeScript sources, where it does. */
  fallback?: string;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * The dump/restore job as one JavaScript file, built with esbuild as the Fargate image's
 * `jobs/main.mjs` is, npm packages left as imports. A job started from it loads in about a third
 * of the CPU time of one started from the TypeScript sources through tsx (about 1 s instead of
 * 2.5 s on 2 cores), which every backup, restore and import waits for.
 *
 * Without esbuild, or if the build fails, jobs run from the sources through tsx, as before:
 * slower, never broken.
 */
export const buildJobBundle = async (): Promise<JobCommand> => {
  const built = await buildScriptBundle(JOB_SOURCE, 'main');
  return 'file' in built
    ? { args: [built.file] }
    : { args: ['--import', 'tsx', JOB_SOURCE], fallback: built.fallback };
};

/**
 * `source` (a TypeScript entry point of this project) as one JavaScript file in the project's
 * cache, `<name>-<digest>.mjs`, npm packages left as imports (they resolve from the project's
 * node_modules). Named by its content's digest and written by rename, so platforms of the same
 * checkout building at once never run a half-written file; the newest few of each name are kept.
 * `fallback` says why there is none (no esbuild, a failed build).
 */
export const buildScriptBundle = async (
  source: string,
  name: string,
  options: {
    /**
     * Written to `dir` instead, with its npm packages inside, readable by every user (the file
     * and the directory; nothing secret is in code): for commands other users run.
     */
    standalone?: { dir: string };
  } = {},
): Promise<{ file: string } | { fallback: string }> => {
  const { standalone } = options;
  const dir = standalone?.dir ?? CACHE_DIR;
  try {
    const { build } = await import('esbuild');
    const result = await build({
      entryPoints: [source],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      write: false,
      logLevel: 'silent',
      ...(standalone
        ? {
            minify: true,
            // CommonJS packages inside an ES module still call require().
            banner: {
              js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
            },
          }
        : { packages: 'external' as const }),
    });
    const contents = result.outputFiles[0]?.contents;
    if (!contents) return { fallback: 'esbuild produced no output' };
    const digest = createHash('sha256').update(contents).digest('hex').slice(0, 16);
    const file = join(dir, `${name}-${digest}.mjs`);
    if (!(await exists(file))) {
      await mkdir(dir, { recursive: true });
      // Its own name per build: two builds of one process at once would share a pid-named file.
      const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
      await writeFile(partial, contents);
      if (standalone) await chmod(partial, 0o644);
      await rename(partial, file);
      await pruneOldBundles(dir, file, `${name}-`);
    }
    // The platform's umask (077) made the directory 0700.
    if (standalone) await chmod(dir, 0o711);
    return { file };
  } catch (error) {
    return { fallback: error instanceof Error ? error.message : String(error) };
  }
};

/** Drop all but the newest bundles named `prefix…` (and any partial file a killed platform left). */
const pruneOldBundles = async (dir: string, current: string, prefix: string) => {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => name.startsWith(prefix));
  const dated = await Promise.all(
    names.map(async (name) => {
      const path = join(dir, name);
      return {
        path,
        partial: name.endsWith('.partial'),
        mtime: (await stat(path).catch(() => null))?.mtimeMs,
      };
    }),
  );
  const others = dated.filter((entry) => entry.path !== current && entry.mtime !== undefined);
  const stale = [
    ...others.filter((entry) => entry.partial && Date.now() - (entry.mtime ?? 0) > 600_000),
    ...others
      .filter((entry) => !entry.partial)
      .sort((a, b) => (b.mtime ?? 0) - (a.mtime ?? 0))
      .slice(KEEP),
  ];
  await Promise.all(stale.map((entry) => rm(entry.path, { force: true })));
};
