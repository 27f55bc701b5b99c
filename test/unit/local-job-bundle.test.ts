import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildJobBundle, buildScriptBundle } from '#infra/local/job-bundle.ts';

describe('the local job bundle', () => {
  it('is one JavaScript file that runs the job entry point, the same file for builds at once', async () => {
    const [first, second] = await Promise.all([buildJobBundle(), buildJobBundle()]);

    expect(first?.fallback).toBeUndefined();
    expect(first?.args).toHaveLength(1);
    expect(second?.args).toEqual(first?.args);
    const file = first?.args[0] as string;
    expect(file).toMatch(/node_modules\/\.cache\/addons-jobs\/main-[0-9a-f]{16}\.mjs$/);
    expect(existsSync(file)).toBe(true);
    // The job refuses a spec it cannot read, as it does from its sources: the entry point ran.
    const run = spawnSync(process.execPath, [file], {
      env: { ...process.env, JOB_SPEC: '{}' },
      encoding: 'utf8',
    });
    expect(run.status).not.toBe(0);
    expect(`${run.stdout}${run.stderr}`).toMatch(/Invalid job spec/);
  }, 60_000);

  it('bundles a command other users run with its packages inside, readable by all, runnable from anywhere', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'wal-bundle-')), 'bin');
    try {
      const source = fileURLToPath(
        new URL('../../infra/local/engines/postgresql/wal-archive-command.ts', import.meta.url),
      );
      const built = await buildScriptBundle(source, 'wal-archive', { standalone: { dir } });
      expect(built).toEqual({ file: expect.stringMatching(/\/bin\/wal-archive-[0-9a-f]{16}\.mjs$/) });
      const file = (built as { file: string }).file;
      expect(statSync(file).mode & 0o777).toBe(0o644);
      expect(statSync(dir).mode & 0o777).toBe(0o711);
      // Run where no node_modules is (as PostgreSQL runs it, in its data directory): it loads its
      // S3 client from inside the bundle and refuses a segment it cannot read, as from its sources.
      const run = spawnSync(
        process.execPath,
        [
          file,
          'http://127.0.0.1:9',
          'bucket',
          'p/',
          '-',
          '/nonexistent/000000010000000000000001',
          '000000010000000000000001',
        ],
        {
          cwd: tmpdir(),
          encoding: 'utf8',
        },
      );
      expect(run.status).not.toBe(0);
      expect(run.stderr).toMatch(/ENOENT|no such file/i);
      expect(run.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find package/);
    } finally {
      await rm(join(dir, '..'), { recursive: true, force: true });
    }
  }, 60_000);
});
