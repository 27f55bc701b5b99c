import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildJobBundle } from '#infra/local/job-bundle.ts';

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
});
